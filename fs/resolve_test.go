package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// guestDisk builds one GPT disk with three filesystems: ext4 for /, ext2
// for /boot and ext3 for /home, with symlinks that cross the mounts in
// every direction. It returns the disk image and the partitions' byte
// ranges (for host loop mounts).
func guestDisk(t *testing.T) (string, [3][2]int64) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	makeTree(t, root, 50)
	for _, d := range []string{"boot", "home"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
		os.WriteFile(filepath.Join(root, d, "shadowed.txt"), []byte("hidden by the mount"), 0o644)
	}
	os.Symlink("/boot/vmlinuz", filepath.Join(root, "links", "toboot"))
	os.Symlink("../home/user", filepath.Join(root, "links", "tohome"))
	os.Symlink("/home/user/../../etc/hostname", filepath.Join(root, "links", "viahome"))

	boot := filepath.Join(dir, "boot")
	os.MkdirAll(filepath.Join(boot, "grub"), 0o755)
	os.WriteFile(filepath.Join(boot, "vmlinuz"), patterned(8, 100000), 0o644)
	os.WriteFile(filepath.Join(boot, "grub", "grub.cfg"), []byte("set timeout=5\n"), 0o644)
	os.Symlink("../etc/hostname", filepath.Join(boot, "rootlink"))
	os.Symlink("/etc/hostname", filepath.Join(boot, "abslink"))
	os.Symlink("..", filepath.Join(boot, "grub", "up"))
	os.Symlink("../../../../../..", filepath.Join(boot, "grub", "wayup"))

	home := filepath.Join(dir, "home")
	os.MkdirAll(filepath.Join(home, "user", ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, "user", "notes"), []byte("notes\n"), 0o600)
	os.Symlink("/boot/grub/grub.cfg", filepath.Join(home, "user", "cfg"))
	os.Symlink("../../boot", filepath.Join(home, "user", "bootdir"))

	sizes := [3]int64{96 << 20, 16 << 20, 16 << 20}
	var imgs [3]string
	for i, c := range []struct{ mkfs, src string }{{"mkfs.ext4", root}, {"mkfs.ext2", boot}, {"mkfs.ext3", home}} {
		imgs[i] = filepath.Join(dir, fmt.Sprintf("p%d.img", i))
		writeFile(t, imgs[i], nil)
		os.Truncate(imgs[i], sizes[i])
		run(t, c.mkfs, "-q", "-F", "-d", c.src, imgs[i])
	}
	disk := filepath.Join(dir, "disk.img")
	writeFile(t, disk, nil)
	os.Truncate(disk, 132<<20)
	run(t, "sgdisk", "-n", "1:2048:+96M", "-n", "2:0:+16M", "-n", "3:0:+16M", disk)
	var ranges [3][2]int64
	d := openDisksT(t, disk)
	for i, p := range d.Partitions() {
		ranges[i] = [2]int64{p.Start, p.Size}
		run(t, "dd", "if="+imgs[i], "of="+disk, "bs=1M", "conv=notrunc", "status=none",
			"seek="+strconv.FormatInt(p.Start, 10), "oflag=seek_bytes")
	}
	return disk, ranges
}

// kernelView mounts the three partitions on the host like the guest
// would have them and answers path questions through openat2 with
// RESOLVE_IN_ROOT: the kernel's own chroot-style resolution.
type kernelView struct{ root string }

func newKernelView(t *testing.T, disk string, ranges [3][2]int64) *kernelView {
	mnt := t.TempDir()
	for i, point := range []string{"/", "/boot", "/home"} {
		run(t, "mount", "-o", fmt.Sprintf("loop,ro,offset=%d,sizelimit=%d", ranges[i][0], ranges[i][1]), disk, mnt+point)
		p := mnt + point
		t.Cleanup(func() { exec.Command("umount", p).Run() })
	}
	return &kernelView{root: mnt}
}

func (k *kernelView) open(path string, follow bool) (int, error) {
	dirfd, err := unix.Open(k.root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dirfd)
	flags := uint64(unix.O_PATH | unix.O_CLOEXEC)
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	return unix.Openat2(dirfd, path, &unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

// answer returns the kernel's answer to op on path, as a string.
func (k *kernelView) answer(op, path string) string {
	fd, err := k.open(path, op != "lstat" && op != "readlink")
	if err != nil {
		return "error " + errnoName(err)
	}
	defer unix.Close(fd)
	switch op {
	case "lstat", "stat":
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "error " + errnoName(err)
		}
		return fmt.Sprintf("ino %d mode %o size %d nlink %d", st.Ino, st.Mode, st.Size, st.Nlink)
	case "readlink":
		buf := make([]byte, 8192)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			if errors.Is(err, syscall.ENOENT) {
				err = syscall.EINVAL // readlinkat on a non-symlink O_PATH fd
			}
			return "error " + errnoName(err)
		}
		return "target " + string(buf[:n])
	case "realpath":
		p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			return "error " + errnoName(err)
		}
		rel := strings.TrimPrefix(p, k.root)
		if rel == "" {
			rel = "/"
		}
		return "path " + rel
	}
	panic(op)
}

func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func ourAnswer(m *Mounts, op, path string) string {
	var err error
	switch op {
	case "lstat", "stat":
		var st Stat
		if op == "lstat" {
			st, err = m.Lstat(path)
		} else {
			st, err = m.Stat(path)
		}
		if err == nil {
			return fmt.Sprintf("ino %d mode %o size %d nlink %d", st.Ino, st.Mode, st.Size, st.Nlink)
		}
	case "readlink":
		var s string
		if s, err = m.Readlink(path); err == nil {
			return "target " + s
		}
	case "realpath":
		var s string
		if s, err = m.Realpath(path); err == nil {
			return "path " + s
		}
	}
	var pe *iofs.PathError
	if !errors.As(err, &pe) {
		return "non-path error " + err.Error()
	}
	return "error " + errnoName(pe.Err)
}

var resolvePaths = []string{
	"/", "/etc", "/etc/hostname", "//etc///hostname", "/etc/hostname/", "/etc/hostname/.", "/etc/hostname/..",
	"/etc/./../etc/hostname", "/..", "/../..", "/../../etc/hostname", "/nonexistent", "/etc/nonexistent/x",
	"/etc/hostname/x", "/links/fast", "/links/abs", "/links/dangling", "/links/dir", "/links/dir/", "/links/dir/hostname",
	"/links/dir/..", "/links/loop1", "/links/loop1/x", "/links/self", "/links/up", "/links/up/etc/hostname", "/links/dotdot",
	"/links/dotdot/etc/hostname", "/links/slow", "/links/max", "/links/l59", "/links/l60", "/links/hard",
	"/links/toboot", "/links/tohome", "/links/tohome/notes", "/links/viahome",
	"/boot", "/boot/", "/boot/..", "/boot/../etc/hostname", "/boot/shadowed.txt", "/home/shadowed.txt",
	"/boot/vmlinuz", "/boot/rootlink", "/boot/abslink", "/boot/grub/up", "/boot/grub/up/vmlinuz", "/boot/grub/up/..",
	"/boot/grub/wayup", "/boot/grub/wayup/etc/hostname", "/boot/grub/../../home/user/notes",
	"/home/user", "/home/user/notes", "/home/user/cfg", "/home/user/bootdir", "/home/user/bootdir/grub/grub.cfg",
	"/home/user/.ssh", "/dev/null", "/dev/fifo", "/modes/m0", "/names/with space", "/names/new\nline",
	"/big/file-00042", "/" + strings.Repeat("n", 256), "/d0/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20/d21/d22/d23/d24/d25/d26/d27/d28/d29/bottom",
}

func TestResolveAgainstKernel(t *testing.T) {
	needTools(t, "sgdisk", "mkfs.ext4", "mount")
	if os.Geteuid() != 0 {
		t.Fatal("needs root for loop mounts")
	}
	disk, ranges := guestDisk(t)
	k := newKernelView(t, disk, ranges)
	d := openDisksT(t, disk)
	m := NewMounts(d)
	for _, mp := range [][2]string{{"/dev/sda1", "/"}, {"/dev/sda2", "/boot"}, {"/dev/sda3", "/home"}} {
		if err := m.Mount(mp[0], mp[1]); err != nil {
			t.Fatalf("mount %v: %v", mp, err)
		}
	}
	for _, p := range resolvePaths {
		for _, op := range []string{"lstat", "stat", "readlink", "realpath"} {
			want := k.answer(op, p)
			got := ourAnswer(m, op, p)
			if got != want {
				t.Errorf("%s %q: got %q, kernel %q", op, p, got, want)
			}
		}
	}
	// Contents through a symlink chain that crosses two mounts.
	b, err := m.ReadFile("/home/user/cfg", 1<<20)
	if err != nil || string(b) != "set timeout=5\n" {
		t.Errorf("ReadFile via symlinks: %q %v", b, err)
	}
	if _, err := m.Open("/etc"); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("Open(/etc) = %v", err)
	}
	if _, err := m.ReadDir("/etc/hostname"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("ReadDir(file) = %v", err)
	}
	_, err = m.Stat("etc/hostname")
	if !errors.Is(err, ErrNotAbsolute) || NeedsFallback(err) || !strings.Contains(err.Error(), "path must start with a / character") {
		t.Errorf("relative path: %v", err)
	}
	if _, err := m.Stat("/nonexistent"); NeedsFallback(err) || err.Error() != "stat /nonexistent: no such file or directory" {
		t.Errorf("ENOENT error text: %v", err)
	}

	// ReadDirStat sees mounted roots; ReadDir lists the covered names.
	ents, err := m.ReadDirStat("/")
	if err != nil {
		t.Fatal(err)
	}
	var boot NamedStat
	for _, e := range ents {
		if e.Name == "boot" {
			boot = e
		}
	}
	kb := k.answer("lstat", "/boot")
	if fmt.Sprintf("ino %d mode %o size %d nlink %d", boot.Stat.Ino, boot.Stat.Mode, boot.Stat.Size, boot.Stat.Nlink) != kb {
		t.Errorf("ReadDirStat(/) boot = %+v; kernel %s", boot.Stat, kb)
	}
	rootSt, _ := m.Lstat("/")
	if boot.Stat.Dev == rootSt.Dev {
		t.Errorf("/boot has the same st_dev as /")
	}
	mps := m.Mountpoints()
	if len(mps) != 3 || mps[1].Mountpoint != "/boot" || mps[2].Device != "/dev/sda3" || mps[0].Type != "ext4" {
		t.Errorf("Mountpoints %+v", mps)
	}
	// Mounting on a file or a missing directory fails like the kernel.
	if err := m.Mount("/dev/sda2", "/etc/hostname"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("mount on a file: %v", err)
	}
	if err := m.Mount("/dev/sda2", "/nonexistent"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("mount on a missing dir: %v", err)
	}
}

// TestWalk: Walk visits every path once, parents first, and matches
// the host's view of the same tree.
func TestWalk(t *testing.T) {
	disk, ranges := guestDisk(t)
	k := newKernelView(t, disk, ranges)
	d := openDisksT(t, disk)
	m := NewMounts(d)
	m.Mount("/dev/sda1", "/")
	m.Mount("/dev/sda2", "/boot")
	m.Mount("/dev/sda3", "/home")
	var ours []string
	err := m.Walk("/", func(p string, st Stat, err error) error {
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		ours = append(ours, fmt.Sprintf("%s %o %d", p, st.Mode, st.Size))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var host []string
	filepath.Walk(k.root, func(p string, fi os.FileInfo, err error) error {
		rel := strings.TrimPrefix(p, k.root)
		if rel == "" {
			rel = "/"
		}
		st := fi.Sys().(*syscall.Stat_t)
		host = append(host, fmt.Sprintf("%s %o %d", rel, st.Mode, st.Size))
		return nil
	})
	if strings.Join(ours, "\n") != strings.Join(host, "\n") {
		t.Errorf("Walk differs from the host: %d vs %d paths; first diff %s", len(ours), len(host), firstStringDiff(ours, host))
	}
	// SkipDir and SkipAll.
	n := 0
	m.Walk("/", func(p string, st Stat, err error) error {
		n++
		if strings.HasPrefix(p, "/big/") || strings.HasPrefix(p, "/sizes/") || p > "/sizes" {
			t.Errorf("visited %s", p)
		}
		if p == "/big" {
			return iofs.SkipDir
		}
		if p == "/sizes" {
			return iofs.SkipAll
		}
		return nil
	})
	if n < 10 {
		t.Errorf("SkipDir/SkipAll: %d paths visited", n)
	}
}
