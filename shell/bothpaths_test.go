package shell

// The VM-less reader and the appliance must answer every read-only
// command identically. These tests build guest images (with the
// appliance, and with mke2fs -d on the host for bulk trees), run the
// same script of read commands on a default session (which must never
// boot the appliance for them) and on a --force-appliance session, and
// compare stdout and stderr byte for byte, command by command, and the
// trees copy-out writes. Images the reader cannot read (xfs, btrfs,
// ext4 inline data, a vdi image) must fall back and still answer the
// same.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gfs/appliance"
	"gfs/appliance/api"
)

// bothNow is the clock both sessions use (ll's six-month rule).
var bothNow = time.Unix(1790000000, 0)

// fixtures are built once for the tests of this file.
type fixtures struct {
	dir string
	// host trees copied into the guests (relative paths listed)
	rich, richBig, plain, osTree string
	// images
	tree, mbr, gpt, lvm, ext23, xfs, btrfs, inline, vdi string
	err                                                 error
}

var (
	fxOnce sync.Once
	fx     fixtures
)

func getFixtures(t *testing.T) *fixtures {
	t.Helper()
	fxOnce.Do(func() {
		start := time.Now()
		fx.err = buildFixtures(&fx)
		t.Logf("fixtures built in %v", time.Since(start).Round(time.Millisecond))
	})
	if fx.err != nil {
		t.Fatal(fx.err)
	}
	return &fx
}

func cleanupFixtures() {
	if fx.dir != "" {
		os.RemoveAll(fx.dir)
	}
	fx, fxOnce = fixtures{}, sync.Once{}
}

func run(name string, args ...string) error {
	out, err := execCommand(name, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Times the trees use: old, before 1970, past 2038 (needs 256-byte
// inodes on ext4; 128-byte ones wrap it), with nanoseconds.
var (
	tOld    = time.Date(2001, 2, 3, 4, 5, 6, 123456789, time.UTC)
	tNeg    = time.Unix(-100, 0)
	tFuture = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	tRecent = time.Unix(1789000000, 500)
)

// makeRichTree writes a tree with every kind of file and name the
// readers must get right. bigN is the size of bigdir (0: none).
func makeRichTree(dir string, bigN int, socket bool) error {
	w := func(p, content string, mode os.FileMode) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(content), mode)
		os.Chmod(filepath.Join(dir, p), mode)
	}
	var lines strings.Builder
	for i := 1; i <= 25; i++ {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	w("etc/hostname", "rich\n", 0o644)
	w("etc/lines", lines.String(), 0o644)
	w("etc/crlf", "one\r\ntwo\r\n\r\nthree", 0o644)
	w("etc/nonl", "no newline", 0o644)
	w("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o600)
	w("data/empty", "", 0o644)
	w("data/two", "line1\nline2\n", 0o644)
	w("data/zero", "", 0)
	for _, n := range []string{"a b", "x,y", `q"uote`, "tab\there", "new\nline", "ünïcödé €", ".hidden", "-dash", "*star?[x]", strings.Repeat("L", 255)} {
		w("names/"+n, n+"\n", 0o644)
	}
	// A 3 MiB file of random bytes, a sparse one, a setuid one.
	rnd := make([]byte, 3<<20)
	r := rand.NewChaCha8([32]byte{7})
	r.Read(rnd)
	w("data/big.bin", string(rnd), 0o644)
	f, err := os.Create(filepath.Join(dir, "data/sparse"))
	if err != nil {
		return err
	}
	f.WriteAt([]byte("start"), 0)
	f.WriteAt([]byte("middle"), 2<<20)
	f.WriteAt([]byte("end"), 4<<20)
	f.Close()
	w("data/suid", "#!/bin/sh\n", 0o4755)
	os.Chmod(filepath.Join(dir, "data/suid"), 0o4755|os.ModeSetuid)
	if err := os.Link(filepath.Join(dir, "data/two"), filepath.Join(dir, "data/hardlink")); err != nil {
		return err
	}
	// Directories: sticky, setgid, deep, private, owned by others.
	os.MkdirAll(filepath.Join(dir, "data/sub/deeper"), 0o755)
	w("data/sub/deeper/f", "deep\n", 0o644)
	os.Mkdir(filepath.Join(dir, "data/sticky"), 0o755)
	os.Mkdir(filepath.Join(dir, "data/sgid"), 0o755)
	deep := filepath.Join(dir, "deep")
	for i := 0; i < 20; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("d%d", i))
	}
	os.MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(deep, "bottom"), []byte("bottom\n"), 0o644)
	w("home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAA test\n", 0o600)
	w("nobody/file", "nobody's\n", 0o640)
	// Symbolic links: relative, absolute, to a directory, dangling,
	// loops, a slow one (target stored in a block), pointing outside.
	links := map[string]string{
		"links/rel": "../etc/hostname", "links/abs": "/etc/hostname", "links/dirlink": "/data/sub",
		"links/dangling": "nowhere", "links/loop1": "loop2", "links/loop2": "loop1", "links/self": "self",
		"links/slow": "/data/sub/deeper/" + strings.Repeat("../deeper/", 12) + "f", "links/evil": "/root",
		"links/dotdot": "../../../../etc/hostname",
	}
	os.MkdirAll(filepath.Join(dir, "links"), 0o755)
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
			return err
		}
	}
	// Special files.
	os.MkdirAll(filepath.Join(dir, "dev"), 0o755)
	if err := unix.Mkfifo(filepath.Join(dir, "dev/fifo"), 0o644); err != nil {
		return err
	}
	if err := unix.Mknod(filepath.Join(dir, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		return err
	}
	if err := unix.Mknod(filepath.Join(dir, "dev/sdz9"), unix.S_IFBLK|0o660, int(unix.Mkdev(259, 300))); err != nil {
		return err
	}
	if socket {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "dev/sock"), Net: "unix"})
		if err != nil {
			return err
		}
		l.SetUnlinkOnClose(false)
		l.Close()
	}
	if bigN > 0 {
		os.MkdirAll(filepath.Join(dir, "bigdir"), 0o755)
		for i := 0; i < bigN; i++ {
			os.WriteFile(filepath.Join(dir, "bigdir", fmt.Sprintf("file-%05d-%s", i, strings.Repeat("x", i%40))), []byte(fmt.Sprint(i)), 0o644)
		}
	}
	// Owners, modes and times, children before their directories.
	os.Lchown(filepath.Join(dir, "home/alice"), 1000, 1000)
	os.Lchown(filepath.Join(dir, "home/alice/.ssh"), 1000, 1000)
	os.Lchown(filepath.Join(dir, "home/alice/.ssh/authorized_keys"), 1000, 1000)
	os.Chmod(filepath.Join(dir, "home/alice/.ssh"), 0o700)
	os.Lchown(filepath.Join(dir, "nobody/file"), 65534, 65534)
	os.Lchown(filepath.Join(dir, "links/abs"), 1000, 100)
	os.Chmod(filepath.Join(dir, "data/sticky"), 0o1777|os.ModeSticky)
	os.Chmod(filepath.Join(dir, "data/sgid"), 0o2755|os.ModeSetgid)
	setTime := func(p string, at, mt time.Time) {
		ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, p), ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	setTime("data/two", tOld, tOld)
	setTime("data/empty", tFuture, tFuture)
	setTime("data/zero", tNeg, tNeg)
	setTime("etc/lines", tRecent, tRecent)
	setTime("links/rel", tOld, tFuture)
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		rel, _ := filepath.Rel(dir, dirs[i])
		setTime(rel, tOld, tRecent)
	}
	return nil
}

// makePlainTree is what a FAT filesystem can hold.
func makePlainTree(dir string) error {
	w := func(p, content string, mt time.Time) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644)
		os.Chtimes(filepath.Join(dir, p), mt, mt)
	}
	w("README.TXT", "read me\r\n", tOld)
	w("MixedCase.Txt", "mixed\n", tRecent)
	w("long file name with spaces.text", strings.Repeat("long\n", 30), tRecent)
	w("ünïcödé.txt", "unicode\n", tRecent)
	w("Docs/Sub/deep.txt", "deep\n", tOld)
	w("Docs/empty", "", tOld)
	big := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{9}).Read(big)
	w("Docs/big.bin", string(big), tRecent)
	for i := 0; i < 12; i++ {
		w(fmt.Sprintf("many/entry number %02d.dat", i), fmt.Sprint(i), tOld)
	}
	return nil
}

// makeOSTree is just enough Linux for inspection.
func makeOSTree(dir string) error {
	w := func(p, content string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644)
	}
	w("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n")
	w("etc/debian_version", "12.5\n")
	w("etc/hostname", "bothpaths\n")
	w("etc/hosts", "127.0.0.1 localhost\n")
	w("etc/fstab", "/dev/vg0/root / ext4 defaults 0 1\nLABEL=boot /boot ext2 defaults 0 2\n/dev/mapper/vg0-home /home ext4 defaults 0 2\n/dev/sdz1 none swap sw 0 0\nproc /proc proc defaults 0 0\n")
	w("var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n\n")
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	ls, err := os.ReadFile("/bin/ls")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bin/ls"), ls, 0o755)
}

func buildFixtures(f *fixtures) error {
	var err error
	if f.dir, err = os.MkdirTemp("", "gfs-bothpaths-"); err != nil {
		return err
	}
	d := func(n string) string { return filepath.Join(f.dir, n) }
	f.rich, f.richBig, f.plain, f.osTree = d("rich"), d("richbig"), d("plain"), d("os")
	if err := makeRichTree(f.rich, 0, false); err != nil {
		return err
	}
	if err := makeRichTree(f.richBig, 2000, true); err != nil {
		return err
	}
	if err := makePlainTree(f.plain); err != nil {
		return err
	}
	if err := makeOSTree(f.osTree); err != nil {
		return err
	}

	// Host-built images: mke2fs -d writes the trees straight into
	// partitions (offsets in a partitioned raw disk).
	f.tree = d("tree.qcow2")
	raw := d("tree.raw")
	steps := [][]string{
		{"truncate", "-s", "128M", raw},
		{"sh", "-c", "printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q " + raw},
		{"mke2fs", "-q", "-F", "-t", "ext4", "-I", "256", "-L", "tree", "-d", f.richBig, "-E", "offset=1048576", raw, "126M"},
		{"qemu-img", "convert", "-q", "-O", "qcow2", raw, f.tree},
		{"rm", "-f", raw},
	}
	// ext2 (128-byte inodes: times wrap at 2038) and ext3 on one disk.
	f.ext23 = d("ext23.img")
	steps = append(steps,
		[]string{"truncate", "-s", "64M", f.ext23},
		[]string{"sh", "-c", "printf 'label: dos\\nstart=2048, size=61440, type=83\\nstart=65536, type=83\\n' | sfdisk -q " + f.ext23},
		[]string{"mke2fs", "-q", "-F", "-t", "ext2", "-I", "128", "-d", f.rich, "-E", "offset=1048576", f.ext23, "30M"},
		[]string{"mke2fs", "-q", "-F", "-t", "ext3", "-d", f.rich, "-E", "offset=33554432", f.ext23, "31M"},
		[]string{"qemu-img", "convert", "-q", "-f", "raw", "-O", "vdi", f.ext23, d("ext23.vdi")},
	)
	f.vdi = d("ext23.vdi")
	// ext4 with inline data: small files and directories live in the
	// inode, which the reader does not read.
	f.inline = d("inline.img")
	steps = append(steps, []string{"mke2fs", "-q", "-F", "-t", "ext4", "-O", "inline_data", "-I", "256", "-d", f.rich, f.inline, "32M"})
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}

	// Appliance-built images, all in one boot.
	f.mbr, f.gpt, f.lvm, f.xfs, f.btrfs = d("mbr.img"), d("gpt.qcow2"), d("lvm.qcow2"), d("xfs.img"), d("btrfs.img")
	for _, c := range [][]string{
		{"create", "-q", "-f", "raw", f.mbr, "64M"}, {"create", "-q", "-f", "qcow2", f.gpt, "64M"},
		{"create", "-q", "-f", "qcow2", f.lvm, "192M"}, {"create", "-q", "-f", "raw", f.xfs, "320M"},
		{"create", "-q", "-f", "raw", f.btrfs, "256M"},
	} {
		if err := run("qemu-img", c...); err != nil {
			return err
		}
	}
	richTop := topEntries(f.rich)
	script := fmt.Sprintf(`add %s format:raw
add %s format:qcow2
add %s format:qcow2
add %s format:raw
add %s format:raw
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 34815
part-add /dev/sda e 34816 -1
part-add /dev/sda l 36864 83967
part-add /dev/sda l 86016 -1
mkfs ext4 /dev/sda1 label:primary
mkfs ext4 /dev/sda5
mkfs ext2 /dev/sda6 label:logical2
part-init /dev/sdb gpt
part-add /dev/sdb p 2048 65535
part-add /dev/sdb p 65536 -34
mkfs ext4 /dev/sdb1
mkfs vfat /dev/sdb2 label:GFSVFAT
part-init /dev/sdc mbr
part-add /dev/sdc p 2048 67583
part-add /dev/sdc p 67584 -1
pvcreate /dev/sdc2
vgcreate vg0 /dev/sdc2
lvcreate root vg0 96
lvcreate home vg0 24
mkfs ext2 /dev/sdc1 label:boot
mkfs ext4 /dev/vg0/root
mkfs ext4 /dev/vg0/home
mkfs xfs /dev/sdd
mkfs btrfs /dev/sde
mount /dev/sda1 /
copy-in %[6]s /
umount-all
mount /dev/sda5 /
copy-in %[6]s /
umount-all
mount /dev/sda6 /
copy-in %[6]s /
umount-all
mount /dev/sdb1 /
copy-in %[6]s /
umount-all
mount /dev/sdb2 /
copy-in %[7]s /
umount-all
mount /dev/vg0/root /
mkdir /boot
mkdir /home
mount /dev/sdc1 /boot
mount /dev/vg0/home /home
copy-in %[8]s /
copy-in %[9]s /
umount-all
mount /dev/sdd /
copy-in %[6]s /
umount-all
mount /dev/sde /
copy-in %[6]s /
umount-all
`, f.mbr, f.gpt, f.lvm, f.xfs, f.btrfs,
		strings.Join(richTop, " "), strings.Join(topEntries(f.plain), " "),
		strings.Join(topEntries(f.osTree), " "), strings.Join(topEntries(f.richBig), " "))
	s := New(Options{Now: func() time.Time { return bothNow }})
	defer s.Close()
	var out, errb bytes.Buffer
	s.opts.Stdout, s.opts.Stderr = &out, &errb
	if err := s.RunScript(context.Background(), strings.NewReader(script), "build"); err != nil {
		return fmt.Errorf("building the images: %v\n%s", err, errb.String())
	}
	return s.Close()
}

// topEntries lists a tree's top-level entries as absolute paths,
// quoted for the shell.
func topEntries(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, gq(filepath.Join(dir, e.Name())))
	}
	return out
}

// treePaths lists a host tree's paths as guest paths ("/etc/hostname"),
// sorted, keeping only the first few entries of bigdir.
func treePaths(dir string) []string {
	var out []string
	big := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "bigdir/") {
			if big++; big > 3 {
				return nil
			}
		}
		out = append(out, "/"+rel)
		return nil
	})
	sort.Strings(out)
	return out
}

// gq quotes a guest path for the shell.
func gq(p string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(p) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// kind of a host path, for choosing commands.
func hostKind(root, p string) os.FileMode {
	fi, err := os.Lstat(filepath.Join(root, p))
	if err != nil {
		return 0
	}
	return fi.Mode().Type() | (fi.Mode() & fs.ModeDir)
}

// fsScript is the read commands for one mounted filesystem whose
// content came from the host tree src. statFamily adds stat, lstat,
// statns and lstatns (which show st_dev and st_ino).
func fsScript(dev, src string, full, statFamily bool) []string {
	l := []string{"mount-ro " + dev + " /", "mounts", "mountpoints"}
	l = append(l, pathScript(src, full, statFamily)...)
	return append(l, "umount-all")
}

func pathScript(src string, full, statFamily bool) []string {
	var l []string
	add := func(f string, a ...any) { l = append(l, fmt.Sprintf(f, a...)) }
	paths := append([]string{"/"}, treePaths(src)...)
	for _, p := range paths {
		q := gq(p)
		k := hostKind(src, p)
		if statFamily {
			add("lstatns %s", q)
			if full {
				add("statns %s", q)
				add("stat %s", q)
				add("lstat %s", q)
			}
		}
		if full {
			add("exists %s", q)
			add("is-dir %s", q)
			add("is-file %s", q)
			add("is-symlink %s", q)
		}
		add("ll %s", q)
		if full || k&fs.ModeSymlink != 0 {
			add("is-file %s followsymlinks:true", q)
			add("is-dir %s followsymlinks:true", q)
			add("is-symlink %s followsymlinks:true", q)
			add("readlink %s", q)
		}
		if full || k&fs.ModeType&^fs.ModeDir != 0 {
			add("is-blockdev %s", q)
			add("is-chardev %s", q)
			add("is-fifo %s", q)
			add("is-socket %s", q)
		}
		switch {
		case k&fs.ModeDir != 0:
			add("ls %s", q)
			if full {
				add("find %s", q)
			}
		case k.IsRegular():
			add("cat %s", q)
			add("filesize %s", q)
			if full {
				add("head %s", q)
				add("tail %s", q)
				add("head-n -2 %s", q)
				add("tail-n 3 %s", q)
				add("wc-l %s", q)
				add("wc-w %s", q)
				add("checksum crc %s", q)
				add("checksum sha256 %s", q)
				add("read-lines %s", q)
				add("download %s -", q)
			}
		}
	}
	add("find /")
	if !full {
		return l
	}
	// Errors and awkward paths.
	for _, p := range []string{"/nonexistent", "/etc/hostname/child", "etc", "/etc/", "//etc//hostname",
		"/etc/.", "/etc/..", "/../../etc/hostname", "/links/loop1", "/links/loop1/x", "/links/dirlink/",
		"/links/dirlink/deeper/f", "/links/dotdot", "/links/dangling", "/data", "/nobody/"} {
		q := gq(p)
		for _, c := range []string{"lstatns", "statns", "exists", "is-dir", "is-file", "ls", "ll", "cat", "readlink", "find", "filesize"} {
			if !statFamily && strings.HasSuffix(c, "statns") {
				continue
			}
			add("%s %s", c, q)
		}
	}
	return l
}

// cmdResult is what one command printed.
type cmdResult struct {
	line, stdout, stderr string
}

// vmlessNote matches the -v lines about which backend answered.
var vmlessNote = regexp.MustCompile(`(?m)^gfs: ([a-z0-9-]+): (answered without the appliance|using the appliance \((.*)\))\n`)

var verboseLog = regexp.MustCompile(`(?m)^(inspect: .*|gfs: the VM-less reader cannot read these disks .*)\n`)

// runScript runs each line on its own and records its output; -v lines
// about the backend are taken out of stderr and returned apart.
func runScript(t *testing.T, s *Session, lines []string) (res []cmdResult, notes []string) {
	t.Helper()
	var out, errb bytes.Buffer
	s.opts.Stdout, s.opts.Stderr = &out, &errb
	ctx := context.Background()
	for _, l := range lines {
		out.Reset()
		errb.Reset()
		s.RunLine(ctx, l)
		e := errb.String()
		for _, m := range vmlessNote.FindAllStringSubmatch(e, -1) {
			notes = append(notes, m[1]+": "+m[2])
		}
		e = vmlessNote.ReplaceAllString(e, "")
		// Inspection's -v log and the session's (VM-less side only).
		e = verboseLog.ReplaceAllString(e, "")
		res = append(res, cmdResult{l, out.String(), e})
	}
	return res, notes
}

// compareResults reports every command whose output differs.
func compareResults(t *testing.T, what string, fast, slow []cmdResult) {
	t.Helper()
	bad := 0
	for i := range fast {
		if fast[i].stdout == slow[i].stdout && fast[i].stderr == slow[i].stderr {
			continue
		}
		if bad++; bad > 25 {
			continue
		}
		t.Errorf("%s: %s\n  VM-less:   stdout %q\n             stderr %q\n  appliance: stdout %q\n             stderr %q",
			what, fast[i].line, clip(fast[i].stdout), fast[i].stderr, clip(slow[i].stdout), slow[i].stderr)
	}
	if bad > 25 {
		t.Errorf("%s: %d more commands differ", what, bad-25)
	}
	// The comparison means something only if the commands did things.
	outs, errs := 0, 0
	for _, r := range slow {
		if r.stdout != "" {
			outs++
		}
		if r.stderr != "" {
			errs++
		}
	}
	if outs < len(slow)/2 || errs == 0 {
		t.Errorf("%s: only %d of %d commands printed something (%d errors)", what, outs, len(slow), errs)
	}
	t.Logf("%s: %d commands compared", what, len(fast))
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

func roSession(t *testing.T, force bool, dir string, paths ...string) *Session {
	t.Helper()
	s := New(Options{Now: func() time.Time { return bothNow }, ForceAppliance: force})
	// -v's notes about the backend, without the appliance's console
	// (its handle was made quiet).
	s.opts.Verbose = !force
	s.SetDir(dir)
	for _, p := range paths {
		format := "raw"
		switch filepath.Ext(p) {
		case ".qcow2":
			format = "qcow2"
		case ".vdi":
			format = ""
		}
		if err := s.AddDrive(appliance.Drive{Path: p, Format: format, ReadOnly: true, Name: filepath.Base(p)}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// treeEntry is what copy-out must have written for one file.
type treeEntry struct {
	mode       fs.FileMode
	uid, gid   uint32
	size       int64
	mtime      int64
	link, hash string
	rdev       uint64
}

func hostTree(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	m := map[string]treeEntry{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := treeEntry{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime().UnixNano(), rdev: st.Rdev}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.link, _ = os.Readlink(p)
		case fi.Mode().IsRegular():
			e.size = fi.Size()
			f, err := os.Open(p)
			if err == nil {
				h := sha256.New()
				io.Copy(h, f)
				f.Close()
				e.hash = hex.EncodeToString(h.Sum(nil))
			}
		}
		m[rel] = e
		return nil
	})
	return m
}

func compareTrees(t *testing.T, what string, fast, slow map[string]treeEntry) {
	t.Helper()
	var names []string
	for n := range fast {
		names = append(names, n)
	}
	for n := range slow {
		if _, ok := fast[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bad := 0
	for _, n := range names {
		if n == "." {
			continue // the host directory itself
		}
		a, aok := fast[n]
		b, bok := slow[n]
		if aok && bok && a == b {
			continue
		}
		if bad++; bad <= 20 {
			t.Errorf("%s: copy-out %q: VM-less %+v (%v), appliance %+v (%v)", what, n, a, aok, b, bok)
		}
	}
	if len(fast) < 3 {
		t.Errorf("%s: copy-out wrote only %d files", what, len(fast))
	}
}

// mainScript is the script of the main pair of sessions, which the
// VM-less one must answer without the appliance.
func mainScript(f *fixtures) []string {
	p1 := []string{
		"list-devices", "list-partitions", "list-filesystems", "lvs",
	}
	for _, d := range []string{"/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd", "/dev/sde"} {
		p1 = append(p1, "part-get-parttype "+d, "part-list "+d)
	}
	fss := []string{"/dev/sda1", "/dev/sdb1", "/dev/sdb5", "/dev/sdb6", "/dev/sdc1", "/dev/sdc2", "/dev/sdd1", "/dev/sdd2",
		"/dev/vg0/root", "/dev/vg0/home", "/dev/sde1", "/dev/sde2", "/dev/sda", "/dev/sdb2"}
	for _, d := range fss {
		p1 = append(p1, "vfs-type "+d, "vfs-label "+d, "vfs-uuid "+d)
	}
	p1 = append(p1, fsScript("/dev/sda1", f.richBig, true, true)...)
	p1 = append(p1, fsScript("/dev/sdb1", f.rich, false, true)...)
	p1 = append(p1, fsScript("/dev/sdb5", f.rich, false, true)...)
	p1 = append(p1, fsScript("/dev/sdb6", f.rich, false, true)...)
	p1 = append(p1, fsScript("/dev/sdc1", f.rich, false, true)...)
	p1 = append(p1, fsScript("/dev/sde1", f.rich, false, true)...)
	p1 = append(p1, fsScript("/dev/sde2", f.rich, false, true)...)
	p1 = append(p1, fsScript("/dev/sdc2", f.plain, true, false)...)
	// The LVM guest with /boot and /home mounted below its root.
	guest := []string{"mount-ro /dev/vg0/root /", "mount-ro /dev/sdd1 /boot", "mount-ro /dev/vg0/home /home",
		"mounts", "mountpoints", "ls /", "ll /", "ll /boot", "ll /home", "ll /boot/..", "find /boot", "ls /boot/lost+found"}
	p1 = append(p1, guest...)
	p1 = append(p1, pathScript(f.richBig, false, false)...)
	p1 = append(p1, "umount /home", "mounts", "ll /home", "umount-all",
		"inspect-os", "inspect-get-roots", "inspect-get-type /dev/vg0/root", "inspect-get-distro /dev/vg0/root",
		"inspect-get-product-name /dev/vg0/root", "inspect-get-major-version /dev/vg0/root",
		"inspect-get-minor-version /dev/vg0/root", "inspect-get-arch /dev/vg0/root",
		"inspect-get-hostname /dev/vg0/root", "inspect-get-package-format /dev/vg0/root",
		"inspect-get-package-management /dev/vg0/root", "inspect-get-osinfo /dev/vg0/root",
		"inspect-get-mountpoints /dev/vg0/root", "inspect-get-filesystems /dev/vg0/root",
		"inspect-list-applications2 /dev/vg0/root", "mounts")
	return p1
}

// Phase 2 holds what the reader cannot know and must fall back for:
// st_ino on vfat (the kernel numbers inodes in lookup order, so even
// two appliances disagree: those lines are masked) and st_dev of LVs.
var (
	phase2vfat = []string{"mount-ro /dev/sdc2 /", "lstatns /", "statns /README.TXT", "stat /Docs", "lstat /Docs/Sub/deep.txt", "umount-all"}
	phase2lv   = []string{"mount-ro /dev/vg0/root /", "mount-ro /dev/sdd1 /boot", "mount-ro /dev/vg0/home /home",
		"lstatns /", "statns /boot", "stat /home", "lstatns /etc/hostname", "stat /data/two", "umount-all"}
	inoLine = regexp.MustCompile(`(?m)^(st_)?ino: \d+$`)
)

// copyOuts are the copy-out runs: a directory named after the host
// directory each writes into.
var copyOuts = []struct {
	dir    string
	script []string
}{
	{"sda1", []string{"mount-ro /dev/sda1 /", "copy-out / sda1", "umount-all"}},
	{"sda1x", []string{"mount-ro /dev/sda1 /", "copy-out /dev /links /etc/hostname /links/evil /links/dirlink /names sda1x", "umount-all"}},
	{"ext2", []string{"mount-ro /dev/sde1 /", "copy-out /data /links ext2", "umount-all"}},
	{"vfat", []string{"mount-ro /dev/sdc2 /", "copy-out / vfat", "umount-all"}},
	{"guest", []string{"mount-ro /dev/vg0/root /", "mount-ro /dev/sdd1 /boot", "mount-ro /dev/vg0/home /home", "copy-out / guest", "umount-all"}},
}

func runCopyOuts(t *testing.T, s *Session, dir string) []cmdResult {
	var res []cmdResult
	for _, c := range copyOuts {
		os.MkdirAll(filepath.Join(dir, c.dir), 0o755)
		r, _ := runScript(t, s, c.script)
		res = append(res, r...)
	}
	return res
}

// TestBothPaths builds the images once for its subtests.
func TestBothPaths(t *testing.T) {
	defer cleanupFixtures()
	t.Run("identical", testBothPathsIdentical)
	t.Run("fallback", testBothPathsFallback)
}

func testBothPathsIdentical(t *testing.T) {
	f := getFixtures(t)
	drives := []string{f.tree, f.mbr, f.gpt, f.lvm, f.ext23}
	p1 := mainScript(f)
	fastDir, slowDir := t.TempDir(), t.TempDir()
	var slow1, slow2, slowCopy []cmdResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// The appliance session runs alongside (its own goroutine and
		// QEMU); it never shares state with the VM-less ones.
		defer wg.Done()
		s := roSession(t, true, slowDir, drives...)
		defer s.Close()
		start := time.Now()
		slow1, _ = runScript(t, s, p1)
		slowCopy = runCopyOuts(t, s, slowDir)
		slow2, _ = runScript(t, s, append(append([]string(nil), phase2vfat...), phase2lv...))
		t.Logf("appliance session: %d commands in %v", len(slow1)+len(slow2)+len(slowCopy), time.Since(start).Round(time.Millisecond))
	}()
	s := roSession(t, false, fastDir, drives...)
	defer s.Close()
	start := time.Now()
	fast1, notes := runScript(t, s, p1)
	fastCopy := runCopyOuts(t, s, fastDir)
	t.Logf("VM-less session: %d commands in %v", len(fast1)+len(fastCopy), time.Since(start).Round(time.Millisecond))
	if s.Launched() {
		t.Errorf("the VM-less session booted the appliance")
	}
	for _, n := range notes {
		if strings.Contains(n, "using the appliance") {
			t.Errorf("fell back: %s", n)
		}
	}
	// virt-ls -lR --extra-stats shows st_dev and st_ino: the reader
	// must leave vfat and LVs to the appliance, and answer the rest.
	for _, c := range []struct{ dev, why string }{{"/dev/sdc2", "vfat"}, {"/dev/vg0/root", "device number"}, {"/dev/sda1", ""}} {
		runScript(t, s, []string{"mount-ro " + c.dev + " /"})
		v := s.fastFor(api.Lookup("ll"))
		if v == nil {
			t.Fatal("no VM-less backend")
		}
		ents, err := v.dirStat("/", true)
		switch {
		case c.why == "" && (err != nil || len(ents) < 5):
			t.Errorf("dirStat on %s: %d entries, %v", c.dev, len(ents), err)
		case c.why != "" && (!errors.Is(err, errNeedAppliance) || !strings.Contains(err.Error(), c.why)):
			t.Errorf("dirStat on %s: %v, want a fallback for the %s", c.dev, err, c.why)
		}
		runScript(t, s, []string{"umount-all"})
	}
	// Phase 2, each part in a fresh session that must fall back.
	var fast2 []cmdResult
	for _, p := range []struct {
		script []string
		why    string
	}{{phase2vfat, "vfat inode numbers"}, {phase2lv, "device number"}} {
		s2 := roSession(t, false, fastDir, drives...)
		r, notes := runScript(t, s2, p.script)
		fast2 = append(fast2, r...)
		fell := ""
		for _, n := range notes {
			if strings.Contains(n, "using the appliance") {
				fell = n
				break
			}
		}
		if !s2.Launched() || !strings.Contains(fell, p.why) {
			t.Errorf("%s: no fallback for the %s (notes %q)", p.script[0], p.why, notes)
		}
		s2.Close()
	}
	wg.Wait()
	if len(fast2) != len(slow2) || len(fast1) != len(slow1) {
		t.Fatalf("%d+%d results against %d+%d", len(fast1), len(fast2), len(slow1), len(slow2))
	}
	for i := range phase2vfat {
		fast2[i].stdout = inoLine.ReplaceAllString(fast2[i].stdout, "ino: N")
		slow2[i].stdout = inoLine.ReplaceAllString(slow2[i].stdout, "ino: N")
	}
	compareResults(t, "main images", append(append(fast1, fastCopy...), fast2...), append(append(slow1, slowCopy...), slow2...))
	for _, c := range copyOuts {
		compareTrees(t, c.dir, hostTree(t, filepath.Join(fastDir, c.dir)), hostTree(t, filepath.Join(slowDir, c.dir)))
	}
}

// Images the reader cannot read fall back, transparently.
func testBothPathsFallback(t *testing.T) {
	f := getFixtures(t)
	// reason is what the -v note must name; "" for an image the reader
	// reads (ext4 inline data: it must not fall back at all).
	cases := []struct {
		name, image, dev, src, reason string
	}{
		{"xfs", f.xfs, "/dev/sda", f.rich, "xfs"},
		{"btrfs", f.btrfs, "/dev/sda", f.rich, "btrfs"},
		{"inline", f.inline, "/dev/sda", f.rich, ""},
		{"vdi", f.vdi, "/dev/sda1", f.rich, "vdi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			script := append([]string{"list-filesystems", "vfs-type " + c.dev}, fsScript(c.dev, c.src, false, true)...)
			var slow []cmdResult
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := roSession(t, true, t.TempDir(), c.image)
				defer s.Close()
				slow, _ = runScript(t, s, script)
			}()
			s := roSession(t, false, t.TempDir(), c.image)
			defer s.Close()
			fast, notes := runScript(t, s, script)
			wg.Wait()
			fell := ""
			for _, n := range notes {
				if strings.Contains(n, "using the appliance") {
					fell = n
					break
				}
			}
			switch {
			case c.reason == "" && (s.Launched() || fell != ""):
				t.Errorf("%s: the reader fell back: %s", c.name, fell)
			case c.reason != "" && !s.Launched():
				t.Errorf("%s: the appliance was not used", c.name)
			case c.name == "vdi":
				// The whole session is the appliance's: no per-command note.
			case c.reason != "" && !strings.Contains(fell, c.reason):
				t.Errorf("%s: fallback note %q does not name %q (notes %q)", c.name, fell, c.reason, notes)
			}
			compareResults(t, c.name, fast, slow)
		})
	}
}

// execCommand runs a host command and returns its combined output.
func execCommand(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
