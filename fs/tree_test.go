package fs

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// makeTree populates dir with the cases a filesystem reader must get
// right: sizes around block boundaries, sparse files, every file type,
// special permission bits, 32-bit owners, timestamps with nanoseconds
// before 1970 and after 2038, symlinks of every length and shape,
// hard links, large and deep directories, odd names.
func makeTree(t testing.TB, dir string, bigDir int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	w := func(name string, data []byte, mode os.FileMode) {
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, mode))
		must(os.Chmod(p, mode))
	}
	w("etc/hostname", []byte("testhost\n"), 0o644)
	w("etc/fstab", []byte("/dev/sda1 / ext4 defaults 0 1\n"), 0o644)
	w("empty", nil, 0o600)
	for _, n := range []int{1, 59, 60, 61, 1023, 1024, 1025, 4095, 4096, 4097, 65536, 1 << 20, 5<<20 + 3} {
		w(fmt.Sprintf("sizes/f%d", n), patterned(int64(n), n), 0o644)
	}
	// Sparse: holes at the start, middle and end.
	sp := filepath.Join(dir, "sparse")
	f, err := os.Create(sp)
	must(err)
	f.WriteAt([]byte("middle"), 3<<20)
	f.WriteAt(patterned(3, 70000), 9<<20)
	must(f.Truncate(16 << 20))
	f.Close()

	must(os.MkdirAll(filepath.Join(dir, "modes"), 0o755))
	for i, m := range []os.FileMode{0o4755, 0o2755, 0o1777, 0o6711, 0o000, 0o777} {
		p := filepath.Join(dir, "modes", fmt.Sprintf("m%d", i))
		must(os.WriteFile(p, []byte("x"), 0o644))
		must(syscall.Chmod(p, uint32(m.Perm())|map[bool]uint32{true: syscall.S_ISUID}[m&os.ModeSetuid != 0]|
			map[bool]uint32{true: syscall.S_ISGID}[m&os.ModeSetgid != 0]|map[bool]uint32{true: syscall.S_ISVTX}[m&os.ModeSticky != 0]))
	}
	must(syscall.Chmod(filepath.Join(dir, "modes", "m0"), 0o4755))
	must(syscall.Chmod(filepath.Join(dir, "modes", "m1"), 0o2755))
	must(syscall.Chmod(filepath.Join(dir, "modes", "m2"), 0o1777))
	must(syscall.Chmod(filepath.Join(dir, "modes", "m3"), 0o6711))
	must(os.Mkdir(filepath.Join(dir, "modes", "stickydir"), 0o755))
	must(syscall.Chmod(filepath.Join(dir, "modes", "stickydir"), 0o1777))

	must(os.MkdirAll(filepath.Join(dir, "owners"), 0o755))
	for i, id := range [][2]int{{0, 0}, {1000, 1000}, {65534, 65534}, {70000, 80000}, {4000000000, 123456}} {
		p := filepath.Join(dir, "owners", fmt.Sprintf("o%d", i))
		must(os.WriteFile(p, nil, 0o644))
		must(os.Lchown(p, id[0], id[1]))
	}

	must(os.MkdirAll(filepath.Join(dir, "times"), 0o755))
	for i, ts := range []time.Time{
		time.Unix(0, 0), time.Unix(1700000000, 123456789), time.Unix(-1000000000, 5),
		time.Unix(1<<31+100, 999999999), time.Unix(4102444800, 1), // 2100
	} {
		p := filepath.Join(dir, "times", fmt.Sprintf("t%d", i))
		must(os.WriteFile(p, nil, 0o644))
		must(os.Chtimes(p, ts.Add(time.Hour), ts))
	}

	must(os.MkdirAll(filepath.Join(dir, "dev"), 0o755))
	must(unix.Mknod(filepath.Join(dir, "dev", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(dir, "dev", "sda"), unix.S_IFBLK|0o660, int(unix.Mkdev(8, 0))))
	must(unix.Mknod(filepath.Join(dir, "dev", "big"), unix.S_IFCHR|0o600, int(unix.Mkdev(300, 70000))))
	must(unix.Mkfifo(filepath.Join(dir, "dev", "fifo"), 0o644))

	must(os.MkdirAll(filepath.Join(dir, "links"), 0o755))
	for name, target := range map[string]string{
		"fast":     "../etc/hostname",
		"abs":      "/etc/hostname",
		"dangling": "/nonexistent/file",
		"dir":      "../etc",
		"slow":     "../" + strings.Repeat("long-component/", 8) + "target",
		"max":      strings.Repeat("x", 1000),
		"loop1":    "loop2",
		"loop2":    "loop1",
		"self":     "self",
		"up":       "../../../../..",
		"dotdot":   "..",
		"l59":      strings.Repeat("a", 59),
		"l60":      strings.Repeat("b", 60),
	} {
		must(os.Symlink(target, filepath.Join(dir, "links", name)))
	}
	must(os.Link(filepath.Join(dir, "etc", "hostname"), filepath.Join(dir, "links", "hard")))

	deep := dir
	for i := 0; i < 30; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("d%d", i))
	}
	must(os.MkdirAll(deep, 0o755))
	w(filepath.Join(strings.TrimPrefix(deep, dir), "bottom"), []byte("deep"), 0o644)

	names := []string{"with space", "ünïcödé", "tab\there", "new\nline", "x" + strings.Repeat("y", 254), "-dash", "#hash", "back\\slash"}
	for _, n := range names {
		w(filepath.Join("names", n), []byte(n), 0o644)
	}
	must(os.MkdirAll(filepath.Join(dir, "emptydir"), 0o700))
	for i := 0; i < bigDir; i++ {
		w(filepath.Join("big", fmt.Sprintf("file-%05d", i)), []byte(fmt.Sprint(i)), 0o644)
	}
}

// resolveFS walks a relative slash path inside one FS without following
// symlinks (the test's independent resolver; Mounts has its own tests).
func resolveFS(f FS, rel string) (Ino, error) {
	ino := f.Root()
	if rel == "." || rel == "" {
		return ino, nil
	}
	for _, c := range strings.Split(rel, "/") {
		var err error
		if ino, err = f.Lookup(ino, c); err != nil {
			return 0, err
		}
	}
	return ino, nil
}

type statOpts struct {
	skipIno   bool // FAT: the kernel numbers inodes arbitrarily
	skipAtime bool
}

// compareWithHost compares every path under the host's view of the same
// filesystem (a loop mount, or the source tree) with what f reports.
func compareWithHost(t *testing.T, f FS, hostRoot string, opt statOpts) int {
	t.Helper()
	count := 0
	var failures atomic.Int32
	err := filepath.Walk(hostRoot, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(hostRoot, p)
		count++
		if t.Failed() && failures.Add(1) > 20 {
			return filepath.SkipAll
		}
		ino, err := resolveFS(f, filepath.ToSlash(rel))
		if err != nil {
			t.Errorf("%s: lookup: %v", rel, err)
			return nil
		}
		st, err := f.Stat(ino)
		if err != nil {
			t.Errorf("%s: stat: %v", rel, err)
			return nil
		}
		h := fi.Sys().(*syscall.Stat_t)
		type field struct {
			name      string
			got, want any
		}
		fields := []field{
			{"mode", fmt.Sprintf("%o", st.Mode), fmt.Sprintf("%o", h.Mode)},
			{"nlink", st.Nlink, uint64(h.Nlink)},
			{"uid", st.Uid, h.Uid}, {"gid", st.Gid, h.Gid},
			{"rdev", st.Rdev, h.Rdev}, {"size", st.Size, h.Size},
			{"blksize", st.Blksize, h.Blksize}, {"blocks", st.Blocks, h.Blocks},
			{"mtime", st.Mtime, Timespec{h.Mtim.Sec, h.Mtim.Nsec}},
			{"ctime", st.Ctime, Timespec{h.Ctim.Sec, h.Ctim.Nsec}},
		}
		if !opt.skipIno {
			fields = append(fields, field{"ino", st.Ino, h.Ino})
		}
		if !opt.skipAtime {
			fields = append(fields, field{"atime", st.Atime, Timespec{h.Atim.Sec, h.Atim.Nsec}})
		}
		for _, fl := range fields {
			if fmt.Sprint(fl.got) != fmt.Sprint(fl.want) {
				t.Errorf("%s: %s = %v, host says %v", rel, fl.name, fl.got, fl.want)
			}
		}
		switch {
		case fi.Mode().IsRegular():
			want, err := hashFile(p)
			if err != nil {
				t.Fatal(err)
			}
			file, err := f.Open(ino)
			if err != nil {
				t.Errorf("%s: open: %v", rel, err)
				return nil
			}
			if file.Size() != fi.Size() {
				t.Errorf("%s: File.Size %d, want %d", rel, file.Size(), fi.Size())
			}
			got, err := hashReader(file, 32<<10+7)
			if err != nil || got != want {
				t.Errorf("%s: content hash differs (err %v)", rel, err)
			}
		case fi.Mode()&os.ModeSymlink != 0:
			want, _ := os.Readlink(p)
			got, err := f.Readlink(ino)
			if err != nil || got != want {
				t.Errorf("%s: readlink = %q, %v; want %q", rel, got, err, want)
			}
		case fi.IsDir():
			hostEnts, _ := os.ReadDir(p)
			var want, got []string
			for _, e := range hostEnts {
				want = append(want, e.Name())
			}
			ents, err := f.ReadDir(ino)
			if err != nil {
				t.Errorf("%s: readdir: %v", rel, err)
				return nil
			}
			for _, e := range ents {
				got = append(got, e.Name)
				if e.Type != 0 {
					est, _ := f.Stat(e.Ino)
					if est.Mode&S_IFMT != e.Type {
						t.Errorf("%s/%s: dirent type %o, inode says %o", rel, e.Name, e.Type, est.Mode&S_IFMT)
					}
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("%s: readdir has %d names, host %d", rel, len(got), len(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return count
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	return fmt.Sprintf("%x", h.Sum(nil)), err
}

// hashReader reads a File through ReadAt in odd-sized chunks.
func hashReader(f File, chunk int) (string, error) {
	h := sha256.New()
	buf := make([]byte, chunk)
	for off := int64(0); off < f.Size(); {
		n, err := f.ReadAt(buf, off)
		h.Write(buf[:n])
		off += int64(n)
		if err == io.EOF && off == f.Size() {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
