package fs

import (
	"errors"
	iofs "io/fs"
	"syscall"
	"testing"
)

func TestGuard(t *testing.T) {
	boom := func() (err error) {
		defer guard(&err, "boom")
		var m map[string]int
		m["x"] = 1 // a nil map write: a typical parser bug
		return nil
	}
	saved := onRecover
	onRecover = nil
	err := boom()
	onRecover = saved
	if !errors.Is(err, ErrCorrupt) || !NeedsFallback(err) {
		t.Errorf("guard: %v", err)
	}
	// In the test binary the fuzz hook is installed: contained panics
	// must still surface there.
	defer func() {
		if recover() == nil {
			t.Error("a contained panic was not reported while testing")
		}
	}()
	boom()
}

func TestNeedsFallback(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&iofs.PathError{Op: "stat", Path: "/x", Err: syscall.ENOENT}, false},
		{&iofs.PathError{Op: "stat", Path: "x", Err: ErrNotAbsolute}, false},
		{&iofs.PathError{Op: "stat", Path: "/x", Err: syscall.EIO}, true},
		{&iofs.PathError{Op: "stat", Path: "/x", Err: corruptf("bad")}, true},
		{unsupportedf("thin LV"), true},
		{syscall.ENOENT, true}, // not about a path: not an answer
	} {
		if got := NeedsFallback(c.err); got != c.want {
			t.Errorf("NeedsFallback(%v) = %v", c.err, got)
		}
	}
}
