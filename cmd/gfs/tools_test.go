package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gfs/appliance/appliancetest"
	"gfs/shell"
)

// toolTime is when every file of the tool test guest was modified: old
// enough for ll's "Mon dd  YYYY" form whatever the clock says.
var toolTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// toolGuest is a qcow2 disk with one partition holding a small Linux
// root (enough for inspection) and a tree of odd files, made with
// mke2fs -d on the host.
func toolGuest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	w := func(p, content string, mode os.FileMode) {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(src, p), mode)
	}
	w("etc/hostname", "testhost\n", 0o644)
	w("etc/hosts", "127.0.0.1 localhost\n", 0o644)
	w("etc/fstab", "/dev/sda1 / ext4 defaults 0 1\n", 0o644)
	w("etc/os-release", "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n", 0o644)
	w("etc/debian_version", "12.5\n", 0o644)
	ls, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	w("bin/ls", string(ls), 0o755)
	os.Symlink("/root", filepath.Join(src, "etc/evil"))
	w("root/secret", "secret\n", 0o600)
	w("home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAA test\n", 0o600)
	os.Chmod(filepath.Join(src, "home/alice/.ssh"), 0o700)
	w("data/nonl", "no newline", 0o644)
	w("data/two", "line1\nline2\n", 0o644)
	w("data/empty", "", 0o644)
	w("data/a b", "x", 0o644)
	w("data/x,y", "y", 0o644)
	w(`data/q"uote`, "z", 0o644)
	w("data/sub/deeper/f", "deep\n", 0o644)
	w("data/suid", strings.Repeat("s", 151344), 0o755)
	os.Chmod(filepath.Join(src, "data/suid"), 0o755|os.ModeSetuid)
	os.Mkdir(filepath.Join(src, "data/sticky"), 0o755)
	os.Chmod(filepath.Join(src, "data/sticky"), 0o777|os.ModeSticky)
	os.Symlink("two", filepath.Join(src, "data/rel-link"))
	os.Symlink("/data/sub", filepath.Join(src, "data/abs-dirlink"))
	os.Symlink("nowhere", filepath.Join(src, "data/dangling"))
	unix.Mkfifo(filepath.Join(src, "data/fifo"), 0o644)
	unix.Mknod(filepath.Join(src, "data/chr"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
	unix.Mknod(filepath.Join(src, "data/blk"), unix.S_IFBLK|0o644, int(unix.Mkdev(8, 1)))
	f, _ := os.Create(filepath.Join(src, "data/sparse"))
	f.WriteAt([]byte("end"), 10<<20)
	f.Close()
	os.Link(filepath.Join(src, "data/two"), filepath.Join(src, "data/hardlink"))
	w("data/"+strings.Repeat("L", 255), "long", 0o644)
	os.Lchown(filepath.Join(src, "home/alice"), 1000, 1000)
	// Every time (directories last) set to toolTime.
	var all []string
	filepath.Walk(src, func(p string, _ os.FileInfo, _ error) error { all = append(all, p); return nil })
	ts := []unix.Timespec{unix.NsecToTimespec(toolTime.UnixNano()), unix.NsecToTimespec(toolTime.UnixNano())}
	for i := len(all) - 1; i >= 0; i-- {
		unix.UtimesNanoAt(unix.AT_FDCWD, all[i], ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	raw := filepath.Join(dir, "disk.raw")
	appliancetest.Run(t, "truncate", "-s", "64M", raw)
	appliancetest.Run(t, "sh", "-c", "printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q "+raw)
	appliancetest.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-I", "256", "-d", src, "-E", "offset=1048576", raw, "62M")
	img := filepath.Join(dir, "guest.qcow2")
	appliancetest.QemuImg(t, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, img)
	os.Remove(raw)
	return img
}

// Options and errors that need no guest.
func TestToolsWithoutAppliance(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "d.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o644)
	for _, tc := range []struct {
		args     []string
		err      string
		out      string
		exitCode int
	}{
		{[]string{"ls", "--csv", "-a", img, "/"}, "gfs ls: used a flag which can only be combined with -lR mode\n", "", 1},
		{[]string{"ls", "-l", "--times", "-a", img, "/"}, "gfs ls: used a flag which can only be combined with -lR mode\n", "", 1},
		{[]string{"ls", "-R", "--checksum", "-a", img, "/"}, "gfs ls: used a flag which can only be combined with -lR mode\n", "", 1},
		{[]string{"ls", "-h", "--csv", "-lR", "-a", img, "/"}, "gfs ls: you cannot use -h and --csv options together.\n", "", 1},
		{[]string{"ls", "-lR", "--checksum=md4", "-a", img, "/"}, "gfs ls: --checksum=md4: unknown checksum type: use crc, md5, sha1, sha224, sha256, sha384 or sha512\n", "", 1},
		{[]string{"ls", "-a", img}, "gfs ls: error: missing a directory to list\nTry ‘gfs ls --help’ for more information.\n", "", 1},
		{[]string{"cat", "/etc/hostname"}, "gfs cat: error: you must specify at least one -a option.\nTry ‘gfs cat --help’ for more information.\n", "", 1},
		{[]string{"copy-out", "-a", img, "/etc"}, "gfs copy-out: error: missing the guest paths to copy and the host directory to copy them into\nTry ‘gfs copy-out --help’ for more information.\n", "", 1},
		{[]string{"cat", "-a", "nosuch.img", "/etc/hostname"}, "gfs cat: error: nosuch.img: No such file or directory\n", "", 1},
		{[]string{"cat", "-a", dir, "/etc/hostname"}, "gfs cat: error: " + dir + ": is a directory, not a disk image\n", "", 1},
		{[]string{"cat", "-a", img, "--format=raw", "/etc/hostname"}, "gfs cat: --format parameter must appear before -a parameter\n", "", 1},
		{[]string{"ls", "--bogus", "-a", img, "/"}, "gfs ls: unrecognized option '--bogus'\nTry ‘gfs ls --help’ for more information.\n", "", 1},
		{[]string{"cat", "-l", "-a", img, "/"}, "gfs cat: invalid option -- 'l'\nTry ‘gfs cat --help’ for more information.\n", "", 1},
		{[]string{"cat", "-d", "guest", "/"}, "gfs cat: --domain: libvirt guests are not supported: add the disk images with -a IMAGE\n", "", 1},
		{[]string{"ls", "-V"}, "", "gfs ls " + Version + "\n", 0},
		{[]string{"copy-out", "-a", img, "/etc", "nodir"}, "gfs copy-out: error: nodir: No such file or directory\n", "", 1},
		{[]string{"copy-out", "-a", img, "/etc", "d.img"}, "gfs copy-out: error: target 'd.img' is not a directory\n", "", 1},
		// A disk with nothing on it: one clear line.
		{[]string{"cat", "-a", img, "/etc/hostname"}, "gfs cat: error: no operating system was found on this disk: name the filesystems to use with -m DEVICE[:MOUNTPOINT]\n", "", 1},
		{[]string{"ls", "--format=raw", "-a", img, "-l", "/"}, "gfs ls: error: no operating system was found on this disk: name the filesystems to use with -m DEVICE[:MOUNTPOINT]\n", "", 1},
	} {
		r := gfs(t, dir, "", tc.args...)
		if r.stderr != tc.err || r.stdout != tc.out || r.code != tc.exitCode {
			t.Errorf("gfs %q:\nstdout %q\nstderr %q\ncode %d\nwant\nstdout %q\nstderr %q\ncode %d", tc.args, r.stdout, r.stderr, r.code, tc.out, tc.err, tc.exitCode)
		}
	}
	for _, tool := range []string{"cat", "ls", "copy-out"} {
		r := gfs(t, dir, "", tool, "--help")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "gfs "+tool+": ") || !strings.Contains(r.stdout, "--force-appliance") {
			t.Errorf("gfs %s --help: %+v", tool, r)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 4: "4", 1023: "1023", 1024: "1.0K", 1536: "1.5K", 12288: "12K",
		151344: "148K", 10485763: "10M", 1048575: "1.0M", 10238: "10K", 10189: "10K", 10137: "9.9K", 1073741824: "1.0G"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
	c := shell.NewChecksum("crc")
	c.Write([]byte("hello\n"))
	if got := shell.FormatChecksum(c); got != "3015617425" { // cksum <<< hello
		t.Errorf("cksum(hello) = %s", got)
	}
}

// The formats virt-ls, virt-cat and virt-copy-out print (checked against
// libguestfs 1.48 on the same tree), from the VM-less reader.
func TestToolsOutput(t *testing.T) {
	img := toolGuest(t)
	dir := t.TempDir()
	long := strings.Repeat("L", 255)
	for _, tc := range []struct {
		args          []string
		out, err      string
		code          int
		outRe, errSub string
	}{
		{args: []string{"ls", "-a", img, "/data"}, out: long + "\na b\nabs-dirlink\nblk\nchr\ndangling\nempty\nfifo\nhardlink\nnonl\nq\"uote\nrel-link\nsparse\nsticky\nsub\nsuid\ntwo\nx,y\n"},
		{args: []string{"ls", "-R", "-a", img, "/data/sub", "/home/"}, out: "/deeper\n/deeper/f\nalice\nalice/.ssh\nalice/.ssh/authorized_keys\n"},
		{args: []string{"ls", "-lR", "-a", img, "/data", "/home/"}, out: `d 0755       1024 /data
- 0644          4 /data/` + long + `
- 0644          1 /data/a b
l 0777          9 /data/abs-dirlink -> /data/sub
b 0644          0 /data/blk
c 0644          0 /data/chr
l 0777          7 /data/dangling -> nowhere
- 0644          0 /data/empty
p 0644          0 /data/fifo
- 0644         12 /data/hardlink
- 0644         10 /data/nonl
- 0644          1 /data/q"uote
l 0777          3 /data/rel-link -> two
- 0644   10485763 /data/sparse
d 1777       1024 /data/sticky
d 0755       1024 /data/sub
d 0755       1024 /data/sub/deeper
- 0644          5 /data/sub/deeper/f
- 4755     151344 /data/suid
- 0644         12 /data/two
- 0644          1 /data/x,y
d 0755       1024 /home
d 0755       1024 /home/alice
d 0700       1024 /home/alice/.ssh
- 0600         22 /home/alice/.ssh/authorized_keys
`},
		{args: []string{"ls", "-lR", "-h", "-a", img, "/data/sub", "/data/suid", "/data/sparse"}, out: `d 0755       1.0K /data/sub
d 0755       1.0K /data/sub/deeper
- 0644          5 /data/sub/deeper/f
- 4755       148K /data/suid
- 0644        10M /data/sparse
`, code: 1, err: "gfs: error: ls: /data/suid: Not a directory\ngfs: error: ls: /data/sparse: Not a directory\n"},
		{args: []string{"ls", "--csv", "-lR", "--uids", "--time-t", "--checksum", "-a", img, "/data/sub", "/home"}, out: `d,0755,1024,   0,   0, 981173106, 981173106,CTIME,,/data/sub
d,0755,1024,   0,   0, 981173106, 981173106,CTIME,,/data/sub/deeper
-,0644,5,   0,   0, 981173106, 981173106,CTIME,1b385affd7adb5a6283fef292b5df0f7,/data/sub/deeper/f
d,0755,1024,   0,   0, 981173106, 981173106,CTIME,,/home
d,0755,1024,1000,1000, 981173106, 981173106,CTIME,,/home/alice
d,0700,1024,   0,   0, 981173106, 981173106,CTIME,,/home/alice/.ssh
-,0600,22,   0,   0, 981173106, 981173106,CTIME,bc33582a1195b43ca7e6ba35e4ba5fe4,/home/alice/.ssh/authorized_keys
`},
		{args: []string{"ls", "--csv", "-lR", "--checksum=crc", "-a", img, "/data/two", "/data/a b"}, code: 1,
			out: "-,0644,12,1776605154,/data/two\n-,0644,1,12738659,\"/data/a b\"\n",
			err: "gfs: error: ls: /data/two: Not a directory\ngfs: error: ls: /data/a b: Not a directory\n"},
		{args: []string{"ls", "-l", "-a", img, "/etc/hostname", "/data/abs-dirlink", "/nonexist"}, code: 1,
			out: "-rw-r--r-- 1 0 0 9 Feb  3  2001 /etc/hostname\ntotal 3\ndrwxr-xr-x 3 0 0 1024 Feb  3  2001 .\ndrwxr-xr-x 4 0 0 1024 Feb  3  2001 ..\ndrwxr-xr-x 2 0 0 1024 Feb  3  2001 deeper\n",
			err: "gfs: error: ll: /nonexist: No such file or directory\n"},
		{args: []string{"ls", "-lR", "--times", "--extra-stats", "-a", img, "/data/sub/deeper"},
			outRe: `^d 0755       1024 2001-02-03 04:05:06 2001-02-03 04:05:06 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 8:1 \d+ 2 0:0 2 /data/sub/deeper\n- 0644          5 2001-02-03 04:05:06 2001-02-03 04:05:06 [-0-9: ]+ 8:1 \d+ 1 0:0 2 /data/sub/deeper/f\n$`},
		{args: []string{"ls", "-lR", "--time-days", "-a", img, "/data/two"}, code: 1,
			outRe: `^- 0644         12 +\d+ +\d+ +\d+ /data/two\n$`, errSub: "Not a directory"},
		{args: []string{"ls", "-R", "-a", img, "/etc/hostname", "/nonexist"}, code: 1,
			err: "gfs: error: find: /etc/hostname: Not a directory\ngfs: error: find: /nonexist: No such file or directory\n"},
		{args: []string{"ls", "-lR", "-a", img, "/nonexist"}, code: 1, err: "gfs: error: lstatns: /nonexist: No such file or directory\n"},
		{args: []string{"ls", "-m", "/dev/sda1", "-a", img, "/"}, out: "bin\ndata\netc\nhome\nlost+found\nroot\n"},
		{args: []string{"ls", "-m", "/dev/sda1:/mnt", "-a", img, "/mnt/etc"}, code: 1,
			err: "gfs: error: mount-options: /mnt: No such file or directory\ngfs ls: ‘/dev/sda1’ could not be mounted.\ngfs ls: Did you mean to mount one of these filesystems?\ngfs ls: \t/dev/sda1 (ext4)\n"},
		{args: []string{"ls", "-m", "/dev/sda9", "-a", img, "/"}, code: 1,
			err: "gfs: error: mount-options: /dev/sda9: No such file or directory\ngfs ls: ‘/dev/sda9’ could not be mounted.\ngfs ls: Did you mean to mount one of these filesystems?\ngfs ls: \t/dev/sda1 (ext4)\n"},
		{args: []string{"cat", "-a", img, "/data/nonl", "/data/two", "/nonexist", "/data/sub", "/data/rel-link", "/data/abs-dirlink", "/etc/hostname"}, code: 1,
			out: "no newlineline1\nline2\nline1\nline2\ntesthost\n",
			err: "gfs: error: download: /nonexist: No such file or directory\ngfs: error: download: /data/sub: Is a directory\ngfs: error: download: /data/abs-dirlink: Is a directory\n"},
		{args: []string{"cat", img, "/etc/hostname"}, out: "testhost\n"},
		{args: []string{"cat", "--format=qcow2", "-a", img, "/etc/hostname"}, out: "testhost\n"},
		{args: []string{"cat", "-x", "-a", img, "/etc/hostname"}, out: "testhost\n", err: "gfs: trace: download \"/etc/hostname\" \"-\"\n"},
	} {
		r := gfs(t, dir, "", tc.args...)
		ctime := regexp.MustCompile(`,\d{10},(,|[0-9a-f]{32},)`)
		out := ctime.ReplaceAllString(r.stdout, ",CTIME,$1")
		okOut := out == tc.out
		if tc.outRe != "" {
			okOut = regexp.MustCompile(tc.outRe).MatchString(r.stdout)
		}
		okErr := r.stderr == tc.err
		if tc.errSub != "" {
			okErr = strings.Contains(r.stderr, tc.errSub)
		}
		if !okOut || !okErr || r.code != tc.code {
			t.Errorf("gfs %q:\nstdout %q\nstderr %q\ncode %d\nwant\nstdout %q%s\nstderr %q\ncode %d", tc.args, r.stdout, r.stderr, r.code, tc.out, tc.outRe, tc.err, tc.code)
		}
	}
	// copy-out: directories recursively with modes, owners and times;
	// a symbolic link, named or inside a directory, as a link.
	out := t.TempDir()
	r := gfs(t, dir, "", "copy-out", "-a", img, "/data", "/etc/evil", "/home", "/etc/hostname", out)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("copy-out: %+v", r)
	}
	for p, want := range map[string]string{
		"data/two": "-rw-r--r-- 0:0 12", "data/suid": "urwxr-xr-x 0:0 151344", "data/sticky": "dtrwxrwxrwx 0:0",
		"data/rel-link": "Lrwxrwxrwx 0:0 -> two", "evil": "Lrwxrwxrwx 0:0 -> /root", "home/alice": "drwxr-xr-x 1000:1000",
		"home/alice/.ssh/authorized_keys": "-rw------- 0:0 22", "hostname": "-rw-r--r-- 0:0 9",
		"data/fifo": "prw-r--r-- 0:0", "data/chr": "Dcrw-r--r-- 0:0",
	} {
		fi, err := os.Lstat(filepath.Join(out, p))
		if err != nil {
			t.Errorf("copy-out: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		got := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() {
			got += fmt.Sprintf(" %d", fi.Size())
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(filepath.Join(out, p))
			got += " -> " + l
		}
		if got != want {
			t.Errorf("copy-out %s: %s, want %s", p, got, want)
		}
		if !fi.ModTime().Equal(toolTime) && fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("copy-out %s: mtime %v", p, fi.ModTime())
		}
	}
	if _, err := os.Stat(filepath.Join(out, "secret")); err == nil {
		t.Error("copy-out followed /etc/evil")
	}
	r = gfs(t, dir, "", "copy-out", "-a", img, "/nonexist", out)
	if r.code != 1 || r.stderr != "gfs: error: copy-out: /nonexist: No such file or directory\n" {
		t.Errorf("copy-out /nonexist: %+v", r)
	}
}

// The tools give the same answers on both paths; the VM-less runs do
// not boot the appliance (-v says which answered), except where they
// must (st_dev of an LV for --extra-stats).
func TestToolsBothPaths(t *testing.T) {
	img := toolGuest(t)
	dir := t.TempDir()
	// A linear-LVM guest: /boot on sda1, / on vg/root.
	lvm := filepath.Join(dir, "lvm.qcow2")
	appliancetest.QemuImg(t, "create", "-q", "-f", "qcow2", lvm, "128M")
	r := gfs(t, dir, "add "+lvm+` format:qcow2
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 34815
part-add /dev/sda p 34816 -1
pvcreate /dev/sda2
vgcreate vg /dev/sda2
lvcreate-free root vg 100
mkfs ext2 /dev/sda1 label:BOOT
mkfs ext4 /dev/vg/root
mount /dev/vg/root /
mkdir-p /etc
mkdir-p /bin
mkdir /boot
mount /dev/sda1 /boot
write /etc/fstab "/dev/vg/root / ext4 defaults 0 1\nLABEL=BOOT /boot ext2 defaults 0 2\n"
write /etc/hostname "lvmhost\n"
write /etc/os-release "ID=fedora\nVERSION_ID=38\nNAME=Fedora\n"
write /boot/grub.cfg "menu\n"
upload /bin/ls /bin/ls
`)
	if r.code != 0 {
		t.Fatalf("building the LVM guest: %+v", r)
	}
	note := regexp.MustCompile(`(?m)^(gfs: [a-z0-9-]+: (answered without the appliance|using the appliance \(.*\))|inspect: .*)\n`)
	for _, tc := range []struct {
		args     []string
		fallback string // what the -v note must say, "" for none
	}{
		{args: []string{"ls", "-lR", "--uids", "--times", "--extra-stats", "--checksum=sha256", "-a", img, "/"}},
		{args: []string{"ls", "--csv", "-lR", "--time-t", "--extra-stats", "-a", img, "/data", "/etc", "/nonexist"}},
		{args: []string{"ls", "-l", "-a", img, "/data", "/etc/evil", "/data/rel-link"}},
		{args: []string{"ls", "-R", "-a", img, "/", "/data/abs-dirlink"}},
		{args: []string{"cat", "-a", img, "/etc/hostname", "/data/sparse", "/data/nonl", "/data/sub", "/x"}},
		{args: []string{"cat", "-a", lvm, "/etc/hostname", "/boot/grub.cfg"}},
		{args: []string{"ls", "-lR", "--csv", "--uids", "-a", lvm, "/"}},
		{args: []string{"ls", "-lR", "--extra-stats", "-a", lvm, "/etc"}, fallback: "device number"},
	} {
		fast := gfs(t, dir, "", append([]string{tc.args[0], "-v"}, tc.args[1:]...)...)
		slow := gfs(t, dir, "", append([]string{tc.args[0], "--force-appliance"}, tc.args[1:]...)...)
		notes := strings.Join(note.FindAllString(fast.stderr, -1), "")
		fast.stderr = note.ReplaceAllString(fast.stderr, "")
		if tc.fallback != "" {
			// -v shows the appliance's console once it boots.
			fast.stderr = slow.stderr
		}
		if fast != slow {
			t.Errorf("gfs %q:\nVM-less   %+v\nappliance %+v", tc.args, fast, slow)
		}
		if len(fast.stdout) < 10 {
			t.Errorf("gfs %q printed %q", tc.args, fast.stdout)
		}
		switch {
		case tc.fallback == "" && strings.Contains(notes, "using the appliance"):
			t.Errorf("gfs %q fell back:\n%s", tc.args, notes)
		case tc.fallback == "" && !strings.Contains(notes, "answered without the appliance"):
			t.Errorf("gfs %q: no -v note:\n%s", tc.args, notes)
		case tc.fallback != "" && !strings.Contains(notes, "using the appliance") || !strings.Contains(notes, tc.fallback):
			t.Errorf("gfs %q did not fall back for %s:\n%s", tc.args, tc.fallback, notes)
		}
	}
	// copy-out writes the same trees.
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	ra := gfs(t, dir, "", "copy-out", "-a", img, "/", a)
	rb := gfs(t, dir, "", "copy-out", "--force-appliance", "-a", img, "/", b)
	if ra != rb || ra.code != 0 {
		t.Errorf("copy-out: %+v %+v", ra, rb)
	}
	la := appliancetest.Run(t, "sh", "-c", "cd "+a+" && find . -mindepth 1 -printf '%M %U:%G %s %T@ %p %l\\n' | sort")
	lb := appliancetest.Run(t, "sh", "-c", "cd "+b+" && find . -mindepth 1 -printf '%M %U:%G %s %T@ %p %l\\n' | sort")
	if la != lb || strings.Count(la, "\n") < 20 {
		t.Errorf("copy-out trees differ:\n%s\n%s", la, lb)
	}
	sa := appliancetest.Run(t, "sh", "-c", "cd "+a+" && find . -type f -exec sha256sum {} + | sort")
	sb := appliancetest.Run(t, "sh", "-c", "cd "+b+" && find . -type f -exec sha256sum {} + | sort")
	if sa != sb {
		t.Errorf("copy-out contents differ")
	}
}

// A guest directory holding a symbolic link and a directory under the
// same name (two entries "evil": a link to /root and a directory with a
// payload; two entries "up": a link to ../../.. and a directory) must
// not make copy-out write through the link, on either path.
func TestCopyOutHostile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, d := range []string{"etc", "bin", "d/evix", "d/uq"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "etc/fstab"), []byte("/dev/sda / ext4 defaults 0 1\n"), 0o644)
	os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("hostile\n"), 0o644)
	ls, _ := os.ReadFile("/bin/ls")
	os.WriteFile(filepath.Join(src, "bin/ls"), ls, 0o755)
	os.WriteFile(filepath.Join(src, "d/evix/payload"), []byte("pwned\n"), 0o644)
	os.WriteFile(filepath.Join(src, "d/uq/payload"), []byte("pwned\n"), 0o644)
	os.Symlink("/root", filepath.Join(src, "d/evil"))
	os.Symlink("../../..", filepath.Join(src, "d/up"))
	img := filepath.Join(dir, "hostile.img")
	// No metadata_csum, so renaming entries in place keeps the
	// directory block valid.
	appliancetest.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-O", "^metadata_csum", "-d", src, img, "16M")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{{"evix", "evil"}, {"\x02uq", "\x02up"}} {
		if n := strings.Count(string(b), r[0]); n != 1 {
			t.Fatalf("%q found %d times in the image", r[0], n)
		}
		b = []byte(strings.Replace(string(b), r[0], r[1], 1))
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var trees []string
	for _, mode := range []string{"-v", "--force-appliance"} {
		out := filepath.Join(dir, "out"+mode)
		os.MkdirAll(out, 0o755)
		r := gfs(t, dir, "", "copy-out", mode, "-a", img, "/d", out)
		listing := appliancetest.Run(t, "sh", "-c", "cd "+dir+" && find . -path ./src -prune -o -printf '%M %p %l\\n' | grep -v '^d.* \\./out' | sort")
		if strings.Contains(listing, "payload") && !strings.Contains(listing, "d/ev") {
			t.Errorf("copy-out %s wrote through a link:\n%s\n%+v", mode, listing, r)
		}
		if _, err := os.Stat("/root/payload"); err == nil {
			t.Fatalf("copy-out %s wrote /root/payload", mode)
		}
		l, err := os.Readlink(filepath.Join(out, "d/evil"))
		if err != nil || l != "/root" {
			t.Errorf("copy-out %s: d/evil: %q %v (%+v)", mode, l, err, r)
		}
		for _, p := range []string{"root", "payload", "../payload", "d/evil/payload", "d/up/payload"} {
			if _, err := os.Lstat(filepath.Join(out, p)); err == nil {
				t.Errorf("copy-out %s wrote %s", mode, p)
			}
		}
		tree := appliancetest.Run(t, "sh", "-c", "cd "+out+" && find . -printf '%M %p %l\\n' | sort")
		trees = append(trees, tree)
	}
	if trees[0] != trees[1] {
		t.Errorf("the two paths wrote different trees:\n%s\n%s", trees[0], trees[1])
	}
}
