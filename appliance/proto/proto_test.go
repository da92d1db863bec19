package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	frames := []Frame{
		{Kind: KindCall, ID: 1, Payload: []byte(`{"name":"ls"}`)},
		{Kind: KindData, ID: 1 << 40, Payload: bytes.Repeat([]byte{0xab}, ChunkSize)},
		{Kind: KindPing},
		{Kind: KindEOF, ID: 7},
	}
	for _, f := range frames {
		if err := Write(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range frames {
		got, err := Read(&buf, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Kind != want.Kind || got.ID != want.ID || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("frame %d = %v/%d/%d bytes, want %v/%d/%d", i, got.Kind, got.ID, len(got.Payload), want.Kind, want.ID, len(want.Payload))
		}
	}
	if _, err := Read(&buf, nil); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestBadFrames(t *testing.T) {
	header := func(magicByte byte, n uint32) []byte {
		h := make([]byte, headerSize)
		h[0] = magicByte
		h[1] = byte(KindData)
		binary.LittleEndian.PutUint32(h[4:], n)
		return h
	}
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"bad magic": {header('x', 0), "out of sync"},
		"too big":   {header(magic, MaxPayload+1), "exceeds"},
		"short":     {append(header(magic, 10), 1, 2, 3), "short frame"},
	} {
		_, err := Read(bytes.NewReader(tc.in), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
	if err := Write(io.Discard, Frame{Payload: make([]byte, MaxPayload+1)}); err == nil {
		t.Errorf("oversized write accepted")
	}
}

func TestErrors(t *testing.T) {
	e := NewError(&Error{Errno: int(syscall.ENOENT), Message: "/x: No such file or directory"})
	if !errors.Is(e, syscall.ENOENT) {
		t.Errorf("errno lost")
	}
	wrapped := NewError(errors.Join(errors.New("context"), syscall.EACCES))
	if wrapped.Errno != int(syscall.EACCES) {
		t.Errorf("errno of a wrapped error = %d", wrapped.Errno)
	}
	if got := Strerror(syscall.EROFS); got != "Read-only file system" {
		t.Errorf("Strerror = %q", got)
	}
}
