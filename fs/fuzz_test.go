package fs

// Fuzz targets for every parser that reads untrusted bytes. Each seeds
// itself from real images made by the real tools (so `go test` runs them
// quickly as regression tests) and must never panic, hang or allocate
// without bound, whatever the bytes.
//
//	go test ./fs -run '^$' -fuzz '^FuzzQcow2$' -fuzztime 60s -fuzzminimizetime 2s
//
// (a short -fuzzminimizetime matters: minimizing big image inputs for the
// default 60 s each stalls the run).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sparseImage is an image whose first bytes are the fuzz input and the
// rest, up to size, zeros: small inputs can describe big devices.
type sparseImage struct {
	data []byte
	size int64
}

func (s *sparseImage) Size() int64  { return s.size }
func (s *sparseImage) Close() error { return nil }
func (s *sparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	if off < int64(len(s.data)) {
		copy(p[:n], s.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

type nopCloser struct{ io.ReaderAt }

func (nopCloser) Close() error { return nil }

// The guards turn panics into errors; while fuzzing, a contained panic
// is still a bug, so make it fail the input.
func init() {
	onRecover = func(r any) { panic(fmt.Sprintf("panic contained by guard: %v\n%s", r, debug.Stack())) }
}

// watchdog crashes the fuzz worker if one input takes more than 10 s, so
// that a hang is recorded as a failing input instead of stalling.
func watchdog() func() {
	tm := time.AfterFunc(10*time.Second, func() { panic("fuzz input took more than 10s: a hang") })
	return func() { tm.Stop() }
}

// trimZeros drops trailing zero bytes (sparseImage restores them).
func trimZeros(b []byte) []byte {
	i := len(b)
	for i > 0 && b[i-1] == 0 {
		i--
	}
	return b[:i]
}

func readFileBytes(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---- qcow2 ----

func FuzzQcow2(f *testing.F) {
	dir := f.TempDir()
	raw := filepath.Join(dir, "r.raw")
	writeFile(f, raw, patterned(4, 96<<10))
	for i, opts := range [][]string{
		{"-o", "compat=0.10,cluster_size=512"},
		{"-o", "compat=1.1,cluster_size=512"},
		{"-c", "-o", "compat=1.1,cluster_size=1k"},
		{"-c", "-o", "compat=1.1,cluster_size=1k,compression_type=zstd"},
		{"-o", "compat=1.1,cluster_size=16k,extended_l2=on"},
	} {
		out := filepath.Join(dir, fmt.Sprintf("%d.qcow2", i))
		run(f, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, opts...), raw, out)...)
		f.Add(readFileBytes(f, out))
	}
	// With subclusters and zero clusters written through qemu-io.
	ov := filepath.Join(dir, "ov.qcow2")
	run(f, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=16k", ov, "256k")
	run(f, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 4k 4k", "-c", "write -z 64k 8k", ov)
	f.Add(readFileBytes(f, ov))

	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog()()
		// Backing files are never allowed here: a fuzzed name must not
		// open host files.
		q, err := openQcow2(nopCloser{bytes.NewReader(data)}, "fuzz.qcow2", int64(len(data)), false, 0, nil)
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		size := q.Size()
		for _, off := range []int64{0, size / 3, size / 2, size - int64(len(buf)), 12345} {
			if off >= 0 && off < size {
				q.ReadAt(buf, off)
			}
		}
	})
}

// ---- partition tables, LVM, probing ----

func FuzzDisks(f *testing.F) {
	dir := f.TempDir()
	mbr := filepath.Join(dir, "mbr.img")
	writeFile(f, mbr, make([]byte, 256<<10))
	runIn(f, "", []byte("label: dos\nstart=64, size=64, type=83\nstart=128, size=300, type=5\nstart=136, size=32, type=82\nstart=176, size=32, type=8e\nstart=216, size=64, type=83\nstart=440, size=32, type=c\n"), "sfdisk", "-q", "--no-reread", mbr)
	f.Add(readFileBytes(f, mbr), int64(256<<10))
	gpt := filepath.Join(dir, "gpt.img")
	writeFile(f, gpt, make([]byte, 256<<10))
	run(f, "sgdisk", "-a", "1", "-n", "1:40:+32", "-t", "1:8300", "-c", "1:root", "-n", "3:100:+64", "-t", "3:8E00", gpt)
	f.Add(readFileBytes(f, gpt), int64(256<<10))
	seed := lvmSeed(f)
	if d, err := OpenDisks([]Image{&sparseImage{seed, 1 << 20}}); err != nil || len(d.LVs()) != 2 || len(d.Unsupported()) != 0 {
		f.Fatalf("LVM seed: %v %+v", err, d)
	}
	f.Add(seed, int64(1<<20))

	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		defer watchdog()()
		data = fixChecksums(data)
		if size < int64(len(data)) || size > 1<<40 {
			size = int64(len(data))
		}
		d, err := OpenDisks([]Image{&sparseImage{data, size}})
		if err != nil {
			return
		}
		d.Filesystems()
		buf := make([]byte, 4096)
		names := []string{"/dev/sda"}
		for _, p := range d.Partitions() {
			names = append(names, p.Name)
		}
		for _, lv := range d.LVs() {
			names = append(names, lv.Name, lv.MapperName())
		}
		for _, n := range names {
			r, sz, err := d.Device(n)
			if err != nil {
				continue
			}
			r.ReadAt(buf, 0)
			r.ReadAt(buf, sz-100)
			r.ReadAt(buf, sz/2)
			Probe(r, sz)
		}
	})
}

// lvmSeed builds a small real PV (1 MiB, 16 KiB extents) holding a VG
// with a linear and a striped LV, using the host's LVM tools.
func lvmSeed(t testing.TB) []byte {
	tt, ok := t.(*testing.F)
	if !ok {
		panic("lvmSeed needs a *testing.F")
	}
	dir := tt.TempDir()
	img := filepath.Join(dir, "pv.img")
	writeFile(tt, img, make([]byte, 1<<20))
	dev := strings.TrimSpace(run(tt, "losetup", "-f", "--show", img))
	defer run(tt, "losetup", "-d", dev)
	conf := fmt.Sprintf("global { activation = 0 }\ndevices { use_devicesfile = 0 pv_min_size = 512 hints = \"none\" filter = [ \"a|^%s$|\", \"r|.*|\" ] }\nbackup { backup = 0 archive = 0 }\n", dev)
	writeFile(tt, filepath.Join(dir, "lvm.conf"), []byte(conf))
	lvm := func(args ...string) {
		cmd := []string{"env", "LVM_SYSTEM_DIR=" + dir, "LVM_SUPPRESS_FD_WARNINGS=1", "lvm"}
		run(tt, cmd[0], append(cmd[1:], args...)...)
	}
	lvm("pvcreate", "-q", "--metadatasize", "32k", "--dataalignment", "64k", dev)
	lvm("vgcreate", "-q", "-s", "16k", "vgf", dev)
	lvm("lvcreate", "-q", "-an", "-Zn", "-l", "4", "-n", "lin", "vgf")
	lvm("lvcreate", "-q", "-an", "-Zn", "-l", "4", "-n", "b-c", "vgf")
	return trimZeros(readFileBytes(tt, img))
}

func FuzzLVMConfig(f *testing.F) {
	f.Add(lvmSampleText)
	seed := lvmSeed(f)
	if l, err := readPVLabel(&sparseImage{seed, 1 << 20}, 1<<20); err == nil && l != nil && len(l.mdas) > 0 {
		if text, err := readMDAText(&sparseImage{seed, 1 << 20}, 1<<20, l.mdas[0]); err == nil {
			f.Add(string(text))
		}
	}
	f.Add("a = [1, \"x\", -3]\nb { c { d = \"\\\"\" } }\n# comment\n")
	f.Fuzz(func(t *testing.T, text string) {
		defer watchdog()()
		root, err := parseLVMConfig(text)
		if err != nil {
			return
		}
		dev := blockDev{name: "/dev/sda2", r: &sparseImage{nil, 64 << 20}, size: 64 << 20}
		byUUID := map[string]*pvDev{"tefkqUpNbLZkHH1TJi2PzX4jDcihJ45D": {dev: dev}}
		s := &lvmState{readers: map[string]*lvReader{}, badLVs: map[string]error{}}
		for _, vg := range root.sections {
			s.buildVG(vg, byUUID, map[string]string{})
		}
		buf := make([]byte, 4096)
		for _, r := range s.readers {
			r.ReadAt(buf, 0)
			r.ReadAt(buf, r.size-1)
		}
	})
}

// fixChecksums recomputes the checksums a mutated input breaks (GPT
// header and entries, LVM label, metadata area header and text), so that
// fuzzing reaches the parsers behind them. Inputs are fixed up only when
// their length is even, so that checksum failures are fuzzed as well.
func fixChecksums(data []byte) []byte {
	if len(data)%2 == 1 {
		return data
	}
	data = bytes.Clone(data)
	le := binary.LittleEndian
	if len(data) >= 1024 && string(data[512:520]) == "EFI PART" {
		hs := int(le.Uint32(data[512+12:]))
		if lba, n := le.Uint64(data[512+72:]), int(le.Uint32(data[512+80:])); lba < 1<<20 && n <= gptMaxEntries &&
			int(lba)*512+n*gptEntrySize <= len(data) {
			le.PutUint32(data[512+88:], crc32.ChecksumIEEE(data[int(lba)*512:int(lba)*512+n*gptEntrySize]))
		}
		if hs >= 92 && hs <= 512 {
			le.PutUint32(data[512+16:], 0)
			le.PutUint32(data[512+16:], crc32.ChecksumIEEE(data[512:512+hs]))
		}
	}
	for s := 0; s < 4 && (s+1)*512 <= len(data); s++ {
		sec := data[s*512 : (s+1)*512]
		if string(sec[:8]) != "LABELONE" {
			continue
		}
		off := int(le.Uint32(sec[20:]))
		for pos, list := off+40, 0; off >= 32 && pos+16 <= 512 && list < 2; pos += 16 {
			o, size := le.Uint64(sec[pos:]), le.Uint64(sec[pos+8:])
			if o == 0 {
				list++
				continue
			}
			// Bounds are checked by subtraction: offsets are fuzzed
			// and o+512 may wrap around.
			n := uint64(len(data))
			if list == 1 && o < n && n-o >= 512 {
				hdr := data[o : o+512]
				if lo, ls := le.Uint64(hdr[40:]), le.Uint64(hdr[48:]); lo != 0 && lo <= size && ls <= size-lo && lo <= n-o && ls <= n-o-lo {
					le.PutUint32(hdr[56:], lvmCRC(data[o+lo:o+lo+ls]))
				}
				le.PutUint32(hdr, lvmCRC(hdr[4:]))
			}
		}
		le.PutUint32(sec[16:], lvmCRC(sec[20:]))
	}
	return data
}

func FuzzPVLabel(f *testing.F) {
	f.Add(lvmSeed(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog()()
		data = fixChecksums(data)
		img := &sparseImage{data, 1 << 20}
		l, err := readPVLabel(img, img.size)
		if err != nil || l == nil {
			return
		}
		for _, mda := range l.mdas {
			readMDAText(img, img.size, mda)
		}
	})
}

// ---- filesystems ----

// fuzzFS exercises every read path of a mounted filesystem within a
// fixed budget: walk, lstat/stat/realpath of each path, readlink, reads.
func fuzzFS(t *testing.T, f FS) {
	m := NewMounts(nil)
	if err := m.MountFS(f, "fuzz", "/"); err != nil {
		return
	}
	f.StatFS()
	n := 0
	buf := make([]byte, 8192)
	m.Walk("/", func(p string, st Stat, err error) error {
		if n++; n > 300 {
			return iofs.SkipAll
		}
		m.Stat(p)
		m.Realpath(p + "/..")
		if st.IsSymlink() {
			m.Readlink(p)
			m.Stat(p + "/x")
		}
		if st.IsRegular() {
			if file, err := m.Open(p); err == nil {
				file.ReadAt(buf, 0)
				file.ReadAt(buf, file.Size()-100)
			}
		}
		return nil
	})
	for _, p := range []string{"/etc/hostname", "/links/loop1", "/links/up/etc/hostname", "/a/b/c/../../../.."} {
		m.Lstat(p)
		m.Stat(p)
	}
}

// smallTree is a little tree with each kind of object.
func smallTree(t testing.TB, dir string) {
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "links"), 0o755)
	os.MkdirAll(filepath.Join(dir, "d", "e"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc", "hostname"), []byte("fuzz\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "d", "e", "data"), patterned(1, 20000), 0o644)
	f, _ := os.Create(filepath.Join(dir, "sparse"))
	f.WriteAt([]byte("x"), 100000)
	f.Close()
	os.Symlink("../etc/hostname", filepath.Join(dir, "links", "fast"))
	os.Symlink(strings.Repeat("long/", 30), filepath.Join(dir, "links", "slow"))
	os.Symlink("loop2", filepath.Join(dir, "links", "loop1"))
	os.Symlink("loop1", filepath.Join(dir, "links", "loop2"))
	os.Symlink("../../..", filepath.Join(dir, "links", "up"))
	for i := 0; i < 40; i++ {
		os.WriteFile(filepath.Join(dir, "d", "f"+strconv.Itoa(i)), []byte(strconv.Itoa(i)), 0o644)
	}
}

// overlayImage presents head over base (then zeros up to size): the
// fuzzers mutate only the metadata-heavy start of a real image, which
// keeps inputs small and the mutations where the parsers are.
type overlayImage struct {
	head, base []byte
	size       int64
}

func (o *overlayImage) Size() int64  { return o.size }
func (o *overlayImage) Close() error { return nil }
func (o *overlayImage) ReadAt(p []byte, off int64) (int, error) {
	n, err := (&sparseImage{o.base, o.size}).ReadAt(p, off)
	if off < int64(len(o.head)) {
		copy(p[:n], o.head[off:])
	}
	return n, err
}

// fuzzBases builds real images; a fuzz input is one byte choosing the
// base image followed by the bytes replacing its start.
type fuzzBase struct {
	data []byte
	size int64
}

func addBaseSeeds(f *testing.F, bases []fuzzBase, head int) {
	for i, b := range bases {
		f.Add(append([]byte{byte(i)}, b.data[:min(head, len(b.data))]...))
	}
}

func pickBase(bases []fuzzBase, data []byte) (*overlayImage, bool) {
	if len(data) == 0 {
		return nil, false
	}
	b := bases[int(data[0])%len(bases)]
	return &overlayImage{head: data[1:], base: b.data, size: b.size}, true
}

func FuzzExt4(f *testing.F) {
	dir := f.TempDir()
	src := filepath.Join(dir, "src")
	smallTree(f, src)
	var bases []fuzzBase
	for i, mk := range [][]string{
		{"mkfs.ext4", "-b", "1024", "-O", "^has_journal,^resize_inode", "-N", "64"},
		{"mkfs.ext4", "-b", "1024", "-O", "^has_journal,^metadata_csum,^resize_inode,inline_data", "-N", "64"},
		{"mkfs.ext2", "-b", "1024", "-O", "^resize_inode", "-N", "64"},
		{"mkfs.ext4", "-b", "1024", "-O", "^has_journal,^64bit,meta_bg,^resize_inode", "-N", "64"},
	} {
		img := filepath.Join(dir, fmt.Sprintf("%d.img", i))
		writeFile(f, img, make([]byte, 1<<20))
		run(f, mk[0], append(mk[1:], "-q", "-F", "-E", "nodiscard", "-d", src, img)...)
		b := fuzzBase{trimZeros(readFileBytes(f, img)), 1 << 20}
		if _, err := openExt4(&sparseImage{b.data, b.size}, b.size); err != nil {
			f.Fatalf("seed %v: %v", mk, err)
		}
		bases = append(bases, b)
	}
	// Superblock, descriptors, bitmaps, inode table and the first
	// directory blocks all live in the first 48 KiB of these images.
	addBaseSeeds(f, bases, 48<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog()()
		img, ok := pickBase(bases, data)
		if !ok {
			return
		}
		fs, err := openExt4(img, img.size)
		if err != nil {
			return
		}
		fuzzFS(t, fs)
	})
}

func FuzzFAT(f *testing.F) {
	dir := f.TempDir()
	var bases []fuzzBase
	for i, opts := range [][]string{{"-F", "12"}, {"-F", "16", "-s", "1"}, {"-F", "32", "-S", "512", "-s", "1"}} {
		img := filepath.Join(dir, fmt.Sprintf("%d.img", i))
		size := int64(1 << 20)
		if i == 1 {
			size = 4 << 20
		}
		if i == 2 {
			size = 34 << 20 // FAT32 needs 65525 clusters
		}
		writeFile(f, img, make([]byte, size))
		run(f, "mkfs.vfat", append(opts, img)...)
		for _, c := range [][]string{{"mmd", "::/dir"}, {"mmd", "::/dir/sub"}} {
			run(f, c[0], "-i", img, c[1])
		}
		p := filepath.Join(dir, "Long Name File.txt")
		writeFile(f, p, patterned(2, 5000))
		run(f, "mcopy", "-i", img, p, "::/dir/")
		b := fuzzBase{trimZeros(readFileBytes(f, img)), size}
		if _, err := openFAT(&sparseImage{b.data, b.size}, b.size); err != nil {
			f.Fatalf("seed %v: %v", opts, err)
		}
		bases = append(bases, b)
	}
	addBaseSeeds(f, bases, 64<<10)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog()()
		img, ok := pickBase(bases, data)
		if !ok {
			return
		}
		fs, err := openFAT(img, img.size)
		if err != nil {
			return
		}
		fuzzFS(t, fs)
	})
}
