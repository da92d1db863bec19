package fs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The host kernel has no vfat driver, so the truth for FAT is the source
// tree copied in with mtools plus the Linux vfat driver's documented
// rules for default mounts (see fat.go): mode 0755 (0555 if read-only),
// uid/gid 0, mtime with 2 s resolution read as UTC, ctime = mtime, atime
// = midnight of the access date, root times 0, nlink = 2 + subdirectories,
// blksize = cluster size, blocks = size rounded up to clusters.

type fatVariant struct {
	name string
	size int64
	mkfs []string
}

var fatVariants = []fatVariant{
	{"fat12", 4 << 20, []string{"-F", "12"}},
	{"fat16", 48 << 20, []string{"-F", "16"}},
	{"fat16-512c", 24 << 20, []string{"-F", "16", "-s", "1"}},
	{"fat32", 80 << 20, []string{"-F", "32"}},
	{"fat32-4k-sectors", 400 << 20, []string{"-F", "32", "-S", "4096", "-s", "1"}},
	{"fat32-4k", 300 << 20, []string{"-F", "32", "-s", "8"}},
}

func makeFATTree(t *testing.T, dir string) {
	w := func(name string, data []byte, mtime time.Time) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	w("readme.txt", []byte("lower case 8.3\n"), base)
	w("UPPER.TXT", []byte("upper\n"), base.Add(time.Second))
	w("MixedCase.Txt", []byte("mixed\n"), base.Add(2*time.Hour))
	w("Long File Name.TXT", []byte("long\n"), time.Date(1999, 12, 31, 23, 59, 58, 0, time.UTC))
	w("ünïcödé ñame €.txt", []byte("unicode\n"), time.Date(2107, 12, 31, 23, 59, 59, 0, time.UTC))
	w("a.b.c.d", []byte("dots\n"), base)
	w(strings.Repeat("long", 50)+".txt", []byte("200\n"), base)
	w("ro.txt", []byte("read only\n"), base)
	w("hidden.sys", []byte("hidden\n"), base)
	w("etc/hostname", []byte("fathost\n"), base)
	for _, n := range []int{0, 1, 511, 512, 513, 2047, 2048, 2049, 32767, 32768, 32769, 1 << 20} {
		w(fmt.Sprintf("sizes/s%d", n), patterned(int64(n), n), base)
	}
	for i := 0; i < 250; i++ {
		w(fmt.Sprintf("big/entry number %04d with a long name", i), []byte(strconv.Itoa(i)), base)
	}
	deep := "deep"
	for i := 0; i < 10; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("level%d", i))
	}
	w(filepath.Join(deep, "bottom.txt"), []byte("bottom\n"), base)
	os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755)
}

func buildFAT(t *testing.T, v fatVariant) (img, src string) {
	dir := t.TempDir()
	src = filepath.Join(dir, "src")
	makeFATTree(t, src)
	img = filepath.Join(dir, v.name+".img")
	writeFile(t, img, nil)
	os.Truncate(img, v.size)
	run(t, "mkfs.vfat", append(v.mkfs, "-n", "GFS TEST", img)...)
	mt := func(args ...string) {
		t.Helper()
		cmd := exec.Command(args[0], append([]string{"-i", img}, args[1:]...)...)
		cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_NO_VFAT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	needTools(t, "mcopy", "mdel", "mattrib")
	// Fragment the free space first, so the 1 MiB file gets a chain with
	// gaps: copy filler files and delete every other one.
	frag := filepath.Join(dir, "frag")
	for i := 0; i < 40; i++ {
		w := filepath.Join(frag, fmt.Sprintf("f%02d", i))
		os.MkdirAll(frag, 0o755)
		os.WriteFile(w, make([]byte, 3000), 0o644)
	}
	mt("mmd", "::/frag")
	var files []string
	for i := 0; i < 40; i++ {
		files = append(files, filepath.Join(frag, fmt.Sprintf("f%02d", i)))
	}
	mt(append(append([]string{"mcopy", "-m"}, files...), "::/frag/")...)
	for i := 0; i < 40; i += 2 {
		mt("mdel", fmt.Sprintf("::/frag/f%02d", i))
	}
	ents, _ := os.ReadDir(src)
	for _, e := range ents {
		mt("mcopy", "-s", "-m", filepath.Join(src, e.Name()), "::/")
	}
	mt("mattrib", "+r", "::/ro.txt")
	mt("mattrib", "+h", "+s", "::/hidden.sys")
	for i := 0; i < 40; i += 2 {
		os.Remove(filepath.Join(frag, fmt.Sprintf("f%02d", i)))
	}
	os.Rename(frag, filepath.Join(src, "frag"))
	return img, src
}

func TestFAT(t *testing.T) {
	needTools(t, "mkfs.vfat", "fsck.fat", "blkid")
	for _, v := range fatVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			img, src := buildFAT(t, v)
			im := openT(t, img, "raw", false)
			info, err := Probe(im, im.Size())
			if err != nil || info.Type != "vfat" || info.Label != "GFS TEST" {
				t.Fatalf("Probe = %+v, %v", info, err)
			}
			fsys, err := Mount(im, im.Size())
			if err != nil {
				t.Fatal(err)
			}
			f := fsys.(*fatFS)
			checkFATTree(t, f, src)
			checkFATLookup(t, f)

			// statfs against fsck.fat's cluster count and mtools' free space.
			st, err := f.StatFS()
			if err != nil {
				t.Fatal(err)
			}
			fsck := run(t, "fsck.fat", "-n", "-v", img)
			m := regexp.MustCompile(`(\d+) data clusters`).FindStringSubmatch(fsck)
			cmd := exec.Command("mdir", "-i", img, "::/")
			out, _ := cmd.CombinedOutput()
			free := regexp.MustCompile(`([\d ]+) bytes free`).FindStringSubmatch(string(out))
			freeBytes, _ := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(free[1]), " ", ""), 10, 64)
			if m == nil || fmt.Sprint(st.Blocks) != m[1] || int64(st.Bfree)*st.Bsize != freeBytes ||
				st.Bavail != st.Bfree || st.Bsize != f.clusterSize || st.Namemax != 1530 || st.Files != 0 {
				t.Errorf("StatFS %+v; fsck.fat says %v data clusters, mdir %d bytes free", st, m, freeBytes)
			}
		})
	}
}

func checkFATTree(t *testing.T, f *fatFS, src string) {
	cs := f.clusterSize
	rootSt, _ := f.Stat(f.Root())
	rootSubdirs := 0
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() && rel != "." && !strings.Contains(rel, "/") {
			rootSubdirs++
		}
		ino, err := resolveFS(f, filepath.ToSlash(rel))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		st, err := f.Stat(ino)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if st.Uid != 0 || st.Gid != 0 || st.Rdev != 0 || st.Blksize != cs || st.Blocks != (st.Size+cs-1)/cs*cs/512 {
			t.Errorf("%s: %+v", rel, st)
		}
		if rel == "." {
			return nil
		}
		mt := fi.ModTime().Unix() &^ 1
		day := fi.ModTime().UTC().Truncate(24 * time.Hour).Unix()
		if rel != "frag" && st.Mtime != (Timespec{mt, 0}) || st.Ctime != st.Mtime || st.Atime != (Timespec{day, 0}) {
			t.Errorf("%s: times m %v c %v a %v; want m %d a %d", rel, st.Mtime, st.Ctime, st.Atime, mt, day) // frag/ was made by mmd, not from src
		}
		if fi.IsDir() {
			ents, _ := os.ReadDir(p)
			var want, got []string
			subdirs := 0
			for _, e := range ents {
				want = append(want, e.Name())
				if e.IsDir() {
					subdirs++
				}
			}
			des, err := f.ReadDir(ino)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				return nil
			}
			for _, d := range des {
				got = append(got, d.Name)
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%s: %d names, want %d; first difference %q", rel, len(got), len(want), firstStringDiff(got, want))
			}
			if st.Mode != S_IFDIR|0o755 || st.Nlink != uint64(2+subdirs) || st.Size == 0 || st.Size%cs != 0 {
				t.Errorf("%s: dir mode %o nlink %d size %d (subdirs %d)", rel, st.Mode, st.Nlink, st.Size, subdirs)
			}
			return nil
		}
		mode := uint32(S_IFREG | 0o755)
		if rel == "ro.txt" {
			mode = S_IFREG | 0o555
		}
		if st.Mode != mode || st.Nlink != 1 || st.Size != fi.Size() {
			t.Errorf("%s: mode %o nlink %d size %d", rel, st.Mode, st.Nlink, st.Size)
		}
		file, err := f.Open(ino)
		if err != nil {
			t.Errorf("%s: open: %v", rel, err)
			return nil
		}
		want, _ := hashFile(p)
		if got, err := hashReader(file, 1000); err != nil || got != want {
			t.Errorf("%s: content differs (%v)", rel, err)
		}
		return nil
	})
	if rootSt.Mode != S_IFDIR|0o755 || rootSt.Nlink != uint64(2+rootSubdirs) || rootSt.Mtime != (Timespec{}) || rootSt.Atime != (Timespec{}) {
		t.Errorf("root: %+v (subdirs %d)", rootSt, rootSubdirs)
	}
}

func checkFATLookup(t *testing.T, f *fatFS) {
	root := f.Root()
	for name, want := range map[string]string{
		"README.TXT":         "readme.txt",
		"readme.txt.":        "readme.txt",
		"long file name.txt": "Long File Name.TXT",
		"LONGFI~1.TXT":       "Long File Name.TXT",
		"upper.txt":          "UPPER.TXT",
		"ETC":                "etc",
	} {
		ino, err := f.Lookup(root, name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		d, _ := f.dirent(ino)
		if d.name != want {
			t.Errorf("Lookup(%q) found %q, want %q", name, d.name, want)
		}
	}
	if _, err := f.Lookup(root, "nonexistent"); err != syscall.ENOENT {
		t.Errorf("Lookup(nonexistent) = %v", err)
	}
	if _, err := f.Open(root); err != syscall.EISDIR {
		t.Errorf("Open(root) = %v", err)
	}
}

// TestFATLongNameChecksum: a long name whose checksum does not match its
// short entry is ignored, as the kernel ignores it, and the short name
// shows instead.
func TestFATLongNameChecksum(t *testing.T) {
	img, _ := buildFAT(t, fatVariants[1])
	raw, _ := os.ReadFile(img)
	i := bytes.Index(raw, []byte("LONGFI~1TXT"))
	if i < 0 {
		t.Fatal("short entry not found")
	}
	raw[i+10] = 'Z'
	writeFile(t, img, raw)
	im := openT(t, img, "raw", false)
	f, err := openFAT(im, im.Size())
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := f.ReadDir(f.Root())
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	s := strings.Join(names, "|")
	if !strings.Contains(s, "LONGFI~1.TXZ") || strings.Contains(s, "Long File Name") {
		t.Errorf("names %s", s)
	}
}

func firstStringDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "(length)"
}
