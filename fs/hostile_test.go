package fs

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hostileExt4 makes a small ext4 and applies debugfs edits to it.
func hostileExt4(t *testing.T, edits ...string) *Mounts {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	smallTree(t, src)
	img := filepath.Join(dir, "h.img")
	writeFile(t, img, nil)
	os.Truncate(img, 8<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-O", "^metadata_csum", "-d", src, img)
	for _, e := range edits {
		run(t, "debugfs", "-w", "-R", e, img)
	}
	im := openT(t, img, "raw", false)
	f, err := openExt4(im, im.Size())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	m := NewMounts(nil)
	m.MountFS(f, "/dev/sda", "/")
	return m
}

// walkAll walks everything and reads every file, failing if it takes
// long: a crafted image must end in errors, not spin.
func walkAll(t *testing.T, m *Mounts) (paths int, errs []error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Walk("/", func(p string, st Stat, err error) error {
			paths++
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			if st.IsRegular() {
				if f, err := m.Open(p); err != nil {
					errs = append(errs, err)
				} else if _, err := io.Copy(io.Discard, io.NewSectionReader(f, 0, f.Size())); err != nil {
					errs = append(errs, err)
				}
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("walking a hostile image did not finish")
	}
	return
}

func TestHostileExt4(t *testing.T) {
	needTools(t, "mkfs.ext4", "debugfs")
	t.Run("directory cycle", func(t *testing.T) {
		// A hard link making /d/e/loop point back at /d.
		m := hostileExt4(t, "link /d /d/e/loop")
		n, _ := walkAll(t, m)
		if n == 0 || n > 200 {
			t.Errorf("walk visited %d paths", n)
		}
		// Resolution through the cycle still terminates: each step
		// consumes a component.
		p := "/d" + strings.Repeat("/e/loop", 500) + "/e/data"
		if _, err := m.Stat(p); err != nil {
			t.Errorf("deep path through a cycle: %v", err)
		}
		if _, err := m.Stat("/d" + strings.Repeat("/e/loop", 600)); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("over-long path: %v", err)
		}
	})
	t.Run("symlink loops", func(t *testing.T) {
		m := hostileExt4(t)
		for _, p := range []string{"/links/loop1", "/links/loop1/x", "/links/loop2/"} {
			if _, err := m.Stat(p); !errors.Is(err, syscall.ELOOP) || NeedsFallback(err) {
				t.Errorf("stat %s: %v; want ELOOP", p, err)
			}
		}
		// 40 chained links resolve, 41 do not (the kernel's limit).
		var edits []string
		for i := 0; i < 41; i++ {
			edits = append(edits, fmt.Sprintf("symlink /c%d c%d", i, i+1))
		}
		edits = append(edits, "symlink /c41 etc/hostname")
		m = hostileExt4(t, edits...)
		// /c2 -> c3 -> ... -> c41 -> etc/hostname is 40 links.
		if _, err := m.Stat("/c2"); err != nil {
			t.Errorf("40 hops: %v", err)
		}
		if _, err := m.Stat("/c1"); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("41 hops: %v", err)
		}
	})
	t.Run("huge sparse size", func(t *testing.T) {
		m := hostileExt4(t, "sif /sparse size 0x7fffffffffff")
		_, err := m.Open("/sparse")
		if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorrupt) {
			t.Errorf("open of a 128 TiB file: %v", err)
		}
		st, err := m.Lstat("/sparse")
		if err != nil || st.Size != 0x7fffffffffff {
			t.Errorf("lstat: %+v %v", st, err)
		}
	})
	t.Run("extent depth", func(t *testing.T) {
		// i_block[1] holds eh_max and eh_depth: claim depth 9.
		m := hostileExt4(t, "sif /d/e/data block[1] 0x00090004")
		f, err := m.Open("/d/e/data")
		if err == nil {
			_, err = f.ReadAt(make([]byte, 10), 0)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("read with extent depth 9: %v", err)
		}
	})
	t.Run("extent pointing outside", func(t *testing.T) {
		m := hostileExt4(t, "sif /d/e/data block[5] 0xfffffff0")
		f, err := m.Open("/d/e/data")
		if err == nil {
			_, err = f.ReadAt(make([]byte, 10), 0)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("read of an extent outside the fs: %v", err)
		}
	})
	t.Run("bad directory entry", func(t *testing.T) {
		m := hostileExt4(t, "sif /d block[5] 0")
		n, errs := walkAll(t, m)
		if n == 0 || len(errs) == 0 {
			t.Errorf("walk of a damaged directory: %d paths, errors %v", n, errs)
		}
		for _, err := range errs {
			if !NeedsFallback(err) {
				t.Errorf("corruption reported as an authoritative answer: %v", err)
			}
		}
	})
	t.Run("zero inodes per group", func(t *testing.T) {
		dir := t.TempDir()
		img := filepath.Join(dir, "z.img")
		writeFile(t, img, nil)
		os.Truncate(img, 8<<20)
		run(t, "mkfs.ext4", "-q", "-F", "-O", "^metadata_csum", img)
		run(t, "debugfs", "-w", "-R", "ssv inodes_per_group 0", img)
		im := openT(t, img, "raw", false)
		if _, err := Mount(im, im.Size()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("inodes_per_group 0: %v", err)
		}
	})
}

// TestConcurrentReads: one Mounts used from many goroutines gives the
// same answers as sequential use (run with -race too).
func TestConcurrentReads(t *testing.T) {
	disk, _ := guestDisk(t)
	d := openDisksT(t, disk)
	m := NewMounts(d)
	m.Mount("/dev/sda1", "/")
	m.Mount("/dev/sda2", "/boot")
	m.Mount("/dev/sda3", "/home")
	want := map[string]string{}
	var paths []string
	m.Walk("/", func(p string, st Stat, err error) error {
		if err == nil && st.IsRegular() {
			b, err := m.ReadFile(p, 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			want[p] = fmt.Sprintf("%x", sha256.Sum256(b))
			paths = append(paths, p)
		}
		return nil
	})
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := range paths {
				p := paths[(i*7+g*13)%len(paths)]
				b, err := m.ReadFile(p, 64<<20)
				if err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != want[p] {
					errc <- fmt.Errorf("goroutine %d: %s: %v", g, p, err)
					return
				}
				if _, err := m.Lstat(p); err != nil {
					errc <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
