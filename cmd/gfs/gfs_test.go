package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"gfs/appliance/appliancetest"
)

// These tests run the real gfs binary (built once by appliancetest,
// which also makes it the appliance agent).
var gfsBin string

func TestMain(m *testing.M) {
	os.Exit(appliancetest.Main(m))
}

func bin(t *testing.T) string {
	t.Helper()
	if gfsBin == "" {
		p, err := appliancetest.Agent()
		if err != nil {
			t.Fatal(err)
		}
		gfsBin = p
	}
	return gfsBin
}

type result struct {
	stdout, stderr string
	code           int
}

func gfs(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if xe, ok := err.(*exec.ExitError); ok {
		code = xe.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// roImage is a small unpartitioned ext4 image made on the host.
func roImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello from the image\n"), 0o644)
	img := filepath.Join(dir, "disk.img")
	appliancetest.Run(t, "mkfs.ext4", "-q", "-F", "-d", src, img, "16M")
	return img
}

// Everything that needs no appliance: options, help, errors, exit codes.
func TestWithoutAppliance(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "d.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o644)
	os.WriteFile(filepath.Join(dir, "s.gfs"), []byte("#!/usr/bin/gfs -f\necho from -f\ntouch /x\necho never\n"), 0o644)
	for _, tc := range []struct {
		name, stdin string
		args        []string
		out, err    string
		code        int
	}{
		{"stdin", "echo hi\n# comment\necho \"a\\tb\"\n", nil, "hi\na\tb\n", "", 0},
		{"argv", "", []string{"echo", "a", ":", "echo", "b", "c"}, "a\nb c\n", "", 0},
		{"argv unknown", "", []string{"nosuch", ":", "echo", "x"}, "",
			"nosuch: unknown command\nDid you mean to open a disk image?  gfs -a disk.img\nFor a list of commands:             gfs -h\nFor complete documentation:         gfs help --list, docs/commands.md\n", 1},
		{"argv ignored", "", []string{"--", "-nosuch", ":", "echo", "x"}, "x\n", "nosuch: unknown command\nDid you mean to open a disk image?  gfs -a disk.img\nFor a list of commands:             gfs -h\nFor complete documentation:         gfs help --list, docs/commands.md\n", 0},
		{"argv empty", "", []string{"echo", ":", ":", "echo"}, "\n", "gfs: empty command on command line\n", 1},
		{"missing argument", "mount /dev/sda1\n", nil, "", "error: incorrect number of arguments\nusage: mount mountable mountpoint\ntype 'help mount' for more help on mount\n", 1},
		{"-f with read-only", "", []string{"--ro", "-a", img, "-f", "s.gfs"}, "from -f\n",
			"s.gfs:3: gfs: error: touch: refusing to change " + img + ": it was added read-only (--ro or add-ro); use --rw to allow writes\n", 1},
		{"no drives", "ls /\n", nil, "", "*stdin*:1: gfs: error: ls: launch: no disk image was added: use -a IMAGE, -N TYPE, or the add, alloc or sparse commands first\n", 1},
		{"missing image", "", []string{"-a", "nope.img"}, "", "gfs: error: add-drive: nope.img: no such file or directory\n", 1},
		{"bad option", "", []string{"--bogus"}, "", "gfs: unrecognized option '--bogus'\nTry ‘gfs --help’ for more information.\n", 1},
		{"libvirt", "", []string{"-d", "guest"}, "", "gfs: --domain: libvirt guests are not supported: add the disk images with -a IMAGE\nTry ‘gfs --help’ for more information.\n", 1},
		{"version", "", []string{"-V"}, "gfs " + Version + "\n", "", 0},
		{"reserved", "", []string{"sysprep", "-a", img}, "", "gfs: sysprep: not implemented yet\n", 1},
		{"help cmd", "", []string{"-h", "nosuch"}, "", "nosuch: command not known: use -h to list all commands\n", 1},
		{"--format needs =", "", []string{"--format", "raw", "-a", img}, "", "raw: unknown command\nDid you mean to open a disk image?  gfs -a disk.img\nFor a list of commands:             gfs -h\nFor complete documentation:         gfs help --list, docs/commands.md\n", 1},
		{"unterminated", "echo \"x\necho after\n", nil, "", "gfs: unterminated double quote\n", 1},
		{"host command status", "!false\necho never\n", nil, "", "", 1},
		{"lcd", "!mkdir sub\nlcd sub\n!pwd\n", nil, filepath.Join(dir, "sub") + "\n", "", 0},
		{"sparse", "sparse new.img 10M\n!stat -c %s new.img\n", nil, "10485760\n", "", 0},
		{"alloc", "alloc a.img 1M\n!stat -c '%s %b' a.img\n", nil, "1048576 2048\n", "", 0},
		{"add options", "add d.img readonly:true format:raw\nadd-ro d.img\n-touch /x\nadd d.img readonly:maybe\n", nil, "",
			"*stdin*:3: gfs: error: touch: refusing to change d.img: it was added read-only (--ro or add-ro); use --rw to allow writes\n" +
				"gfs: 'maybe': invalid boolean value, use 'true' or 'false'\n", 1},
		{"heredoc outside a script", "", []string{"-a", img, "upload", "-<<END", "/x"}, "",
			"gfs: error: upload: -<<END: a here document (-<<END) can only be used in a script\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := gfs(t, dir, tc.stdin, tc.args...)
			if r.stdout != tc.out || r.stderr != tc.err || r.code != tc.code {
				t.Errorf("gfs %q <<< %q:\nstdout %q\nstderr %q\ncode %d\nwant\nstdout %q\nstderr %q\ncode %d",
					tc.args, tc.stdin, r.stdout, r.stderr, r.code, tc.out, tc.err, tc.code)
			}
		})
	}
	r := gfs(t, dir, "", "-h")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "    Command              Description\nhelp ") {
		t.Errorf("gfs -h: %d %q", r.code, r.stdout[:min(len(r.stdout), 200)])
	}
	r = gfs(t, dir, "", "-N", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "bootrootlv") {
		t.Errorf("gfs -N help: %d %q", r.code, r.stdout)
	}
	r = gfs(t, dir, "", "--help", "mkdir")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "NAME\n    mkdir - create a directory\n") {
		t.Errorf("gfs --help mkdir: %d %q", r.code, r.stdout)
	}
	r = gfs(t, dir, "", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--listen") || !strings.Contains(r.stdout, "--accel") {
		t.Errorf("gfs --help: %d %q", r.code, r.stdout)
	}
}

// Errors from the appliance, from stdin and from the command line:
// prefixes, stop at the first error, exit status 1.
func TestScriptErrors(t *testing.T) {
	img := roImage(t)
	dir := t.TempDir()
	r := gfs(t, dir, "echo hi\nmount /dev/sda /\ncat /hello.txt\ncat /nope\necho never\n", "-a", img)
	if r.stdout != "hi\nhello from the image\n\n" || r.stderr != "*stdin*:4: gfs: error: cat: /nope: No such file or directory\n" || r.code != 1 {
		t.Errorf("stdin script: %+v", r)
	}
	r = gfs(t, dir, "", "--ro", "-a", img, "-m", "/dev/sda", "cat", "/hello.txt", ":", "-cat", "/nope", ":", "cat", "/nope2", ":", "echo", "never")
	want := result{"hello from the image\n\n", "gfs: error: cat: /nope: No such file or directory\ngfs: error: cat: /nope2: No such file or directory\n", 1}
	if r != want {
		t.Errorf("argv commands: %+v\nwant %+v", r, want)
	}
	r = gfs(t, dir, "", "--ro", "-a", img, "-m", "/dev/sdz1")
	if r.code != 1 || !strings.Contains(r.stderr, "gfs: '/dev/sdz1' could not be mounted.  Did you mean one of these?\n\t/dev/sda (ext4)") {
		t.Errorf("bad -m: %+v", r)
	}
}

// -N prepares a disk and -x traces the commands.
func TestPreparedDisk(t *testing.T) {
	dir := t.TempDir()
	r := gfs(t, dir, "", "-x", "-N", "out.img=fs:ext4:100M", "list-filesystems", ":", "part-get-parttype", "/dev/sda")
	if r.code != 0 || r.stdout != "/dev/sda1: ext4\nmsdos\n" || !strings.Contains(r.stderr, "gfs: trace: list-filesystems\n") ||
		!strings.Contains(r.stderr, `gfs: trace: part-get-parttype "/dev/sda"`) {
		t.Errorf("-N fs: %+v", r)
	}
	if fi, err := os.Stat(filepath.Join(dir, "out.img")); err != nil || fi.Size() != 100<<20 {
		t.Errorf("out.img: %v %v", fi, err)
	}
}

// The guestfish session of the image guide, run from a script, then
// every change and nothing else checked in a fresh session.
func TestImageGuide(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "centos63_desktop.img")
	build := `sparse centos63_desktop.img 512M
part-init /dev/sda mbr
part-add /dev/sda p 2048 411647
part-add /dev/sda p 411648 -64
part-set-mbr-id /dev/sda 2 0x8e
mkfs ext4 /dev/sda1
pvcreate /dev/sda2
vgcreate vg_centosbase /dev/sda2
lvcreate lv_swap vg_centosbase 64
lvcreate-free lv_root vg_centosbase 100
mkfs ext4 /dev/vg_centosbase/lv_root
mkswap /dev/vg_centosbase/lv_swap
mount /dev/vg_centosbase/lv_root /
mkdir /boot
mount /dev/sda1 /boot
write /boot/grub.conf "default=0\n"
mkdir-p /etc/udev/rules.d
mkdir-p /etc/sysconfig/network-scripts
mkdir-p /etc/sysconfig/modules
write /etc/udev/rules.d/70-persistent-net.rules "SUBSYSTEM==\"net\", ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\"\n"
write /etc/sysconfig/network-scripts/ifcfg-eth0 "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nBOOTPROTO=dhcp\nONBOOT=yes\n"
chmod 0644 /etc/sysconfig/network-scripts/ifcfg-eth0
write /etc/hostname "centos\n"
ln-s /etc/hostname /etc/HOSTNAME
write /etc/fstab "/dev/mapper/vg_centosbase-lv_root / ext4 defaults 1 1\n/dev/sda1 /boot ext4 defaults 1 2\n/dev/mapper/vg_centosbase-lv_swap swap swap defaults 0 0\n"
write /etc/redhat-release "CentOS release 6.3 (Final)\n"
mkdir /bin
write /bin/sh ""
tar-out / before.tar numericowner:true
`
	r := gfs(t, dir, build)
	if r.code != 0 {
		t.Fatalf("building the image: %+v", r)
	}
	editor := filepath.Join(dir, "editor.sh")
	os.WriteFile(editor, []byte(`#!/bin/sh
case "$(basename "$1")" in
ifcfg-eth0) sed -i '/^HWADDR/d' "$1" ;;
8021q.modules) printf 'modprobe 8021q\n' > "$1" ;;
*) exit 1 ;;
esac
`), 0o755)
	guide := `run
list-filesystems
mount /dev/vg_centosbase/lv_root /
rm /etc/udev/rules.d/70-persistent-net.rules
edit /etc/sysconfig/network-scripts/ifcfg-eth0
touch /etc/sysconfig/modules/8021q.modules
edit /etc/sysconfig/modules/8021q.modules
chmod 0755 /etc/sysconfig/modules/8021q.modules
exit
`
	os.WriteFile(filepath.Join(dir, "guide.gfs"), []byte(guide), 0o644)
	cmd := exec.Command(bin(t), "--rw", "-a", img, "-f", "guide.gfs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "EDITOR="+editor)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the guide's session: %v\n%s", err, out)
	}
	if want := "/dev/sda1: ext4\n/dev/vg_centosbase/lv_root: ext4\n/dev/vg_centosbase/lv_swap: swap\n"; string(out) != want {
		t.Errorf("the guide's session printed\n%s\nwant\n%s", out, want)
	}
	r = gfs(t, dir, "", "--ro", "-a", img, "-m", "/dev/vg_centosbase/lv_root", "-m", "/dev/sda1:/boot",
		"tar-out", "/", "after.tar", "numericowner:true")
	if r.code != 0 {
		t.Fatalf("reading the image back: %+v", r)
	}
	before, after := readTar(t, filepath.Join(dir, "before.tar")), readTar(t, filepath.Join(dir, "after.tar"))
	// -i finds the guest and mounts / and /boot as its fstab says.
	r = gfs(t, dir, "", "--ro", "-i", "-a", img, "mountpoints", ":", "cat", "/boot/grub.conf", ":", "cat", "/etc/sysconfig/modules/8021q.modules")
	if want := "/dev/vg_centosbase/lv_root: /\n/dev/sda1: /boot\ndefault=0\n\nmodprobe 8021q\n\n"; r.code != 0 || r.stdout != want {
		t.Errorf("gfs -i: %+v\nwant stdout %q", r, want)
	}
	r = gfs(t, dir, "", "--ro", "-i", "-a", roImage(t))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "gfs: no operating system was found on this disk\n") {
		t.Errorf("gfs -i without an OS: %+v", r)
	}
	rules := "./etc/udev/rules.d/70-persistent-net.rules"
	ifcfg := "./etc/sysconfig/network-scripts/ifcfg-eth0"
	mod := "./etc/sysconfig/modules/8021q.modules"
	if _, ok := before[rules]; !ok {
		t.Fatal("the built image lacks the rules file")
	}
	if _, ok := after[rules]; ok {
		t.Error("70-persistent-net.rules was not removed")
	}
	if got := after[ifcfg]; got.content != "DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n" || got.mode != 0o644 || got.uid != 0 {
		t.Errorf("ifcfg-eth0 after the edit: %+v", got)
	}
	if got := after[mod]; got.content != "modprobe 8021q\n" || got.mode != 0o755 || got.typ != tar.TypeReg {
		t.Errorf("8021q.modules: %+v", got)
	}
	changedDirs := map[string]bool{"./etc/udev/rules.d/": true, "./etc/sysconfig/network-scripts/": true, "./etc/sysconfig/modules/": true}
	for name, b := range before {
		if name == rules || name == ifcfg {
			continue
		}
		a, ok := after[name]
		if !ok {
			t.Errorf("%s disappeared", name)
			continue
		}
		if changedDirs[name] {
			a.mtime, b.mtime = 0, 0
		}
		if a != b {
			t.Errorf("%s changed:\nbefore %+v\nafter  %+v", name, b, a)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && name != mod {
			t.Errorf("%s appeared", name)
		}
	}
	if len(after) < 15 {
		t.Errorf("only %d entries read back", len(after))
	}
}

type entry struct {
	typ      byte
	mode     int64
	uid, gid int
	link     string
	content  string
	mtime    int64
}

func readTar(t *testing.T, p string) map[string]entry {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]entry{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		content := string(b)
		if len(b) > 256 {
			content = fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		}
		out[h.Name] = entry{h.Typeflag, h.Mode & 0o7777, h.Uid, h.Gid, h.Linkname, content, h.ModTime.Unix()}
	}
	return out
}

// --listen starts one session that --remote clients share; quit ends
// it and leaves nothing behind. A listener whose owner exits stops too.
func TestListenRemote(t *testing.T) {
	img := roImage(t)
	dir := t.TempDir()
	script := fmt.Sprintf(`set -e
G=%q
eval "$($G --listen --ro -a %q)"
echo "pid=$GUESTFISH_PID"
$G --remote mount /dev/sda /
$G --remote cat /hello.txt
$G --remote=$GUESTFISH_PID list-filesystems : ls /
rc=0; $G --remote cat /nope || rc=$?
echo "rc=$rc"
printf 'echo from stdin\nfilesize /hello.txt\n' | $G --remote
$G --remote download /hello.txt - | tr a-z A-Z
$G --remote quit
`, bin(t), img)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.SplitN(string(out), "\n", 2)
	pid, _ := strconv.Atoi(strings.TrimPrefix(lines[0], "pid="))
	if pid <= 0 {
		t.Fatalf("no pid line: %s", out)
	}
	want := "hello from the image\n\n/dev/sda: ext4\nhello.txt\nlost+found\ngfs: error: cat: /nope: No such file or directory\nrc=1\nfrom stdin\n21\nHELLO FROM THE IMAGE\n"
	if lines[1] != want {
		t.Errorf("remote session printed\n%s\nwant\n%s", lines[1], want)
	}
	waitGone(t, pid)
	if _, err := os.Stat(socketPath(pid)); err == nil {
		t.Error("the socket was left behind")
	}
	if fi, err := os.Stat(filepath.Dir(socketPath(pid))); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v %v", fi, err)
	}

	// The owner (this sh) exits after launching the appliance remotely.
	script = fmt.Sprintf(`eval "$(%q --listen --ro -a %q)"; %q --remote run; echo $GUESTFISH_PID`, bin(t), img, bin(t))
	out, err = exec.Command("/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	if pid <= 0 {
		t.Fatalf("no pid: %s", out)
	}
	waitGone(t, pid)
	if r := gfs(t, dir, "", fmt.Sprintf("--remote=%d", pid), "echo", "x"); r.code != 1 || !strings.Contains(r.stderr, "cannot connect") {
		t.Errorf("remote to a dead listener: %+v", r)
	}
}

func socketPath(pid int) string {
	d := os.Getenv("XDG_RUNTIME_DIR")
	if d != "" {
		return filepath.Join(d, "gfs", fmt.Sprintf("socket-%d", pid))
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("gfs-listen-%d", os.Getuid()), fmt.Sprintf("socket-%d", pid))
}

// waitGone waits for a process (not our child) to exit, and checks it
// left no QEMU behind.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "qemu-system") && strings.Contains(string(b), fmt.Sprintf("gfs-%d-", pid)) {
			t.Errorf("QEMU %s of listener %d left running", e.Name(), pid)
		}
	}
}

// At the prompt on a terminal: banner, tab completion of commands and
// of guest paths, Ctrl-C clearing the line, history saved.
func TestPromptCompletion(t *testing.T) {
	img := roImage(t)
	home := t.TempDir()
	cmd := exec.Command(bin(t), "--ro", "-a", img, "-m", "/dev/sda")
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var screen safeBuffer
	go io.Copy(&screen, f)
	expect := func(s string) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !strings.Contains(screen.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q; screen:\n%s", s, screen.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	expect("Welcome to gfs")
	expect("><fs> ")
	f.Write([]byte("list-fi\t"))
	expect("list-filesystems")
	f.Write([]byte("\r"))
	expect("/dev/sda: ext4")
	f.Write([]byte("cat /hel\t"))
	expect("cat /hello.txt")
	f.Write([]byte("\r"))
	expect("hello from the image")
	f.Write([]byte("echo abc\x03"))
	expect("^C")
	f.Write([]byte("echo ok\r"))
	expect("\nok\r\n")
	f.Write([]byte("nosuch\r"))
	expect("nosuch: unknown command")
	f.Write([]byte("quit\r"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("gfs exited with %v; screen:\n%s", err, screen.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("gfs did not quit")
	}
	if strings.Contains(screen.String(), "abcecho") {
		t.Error("Ctrl-C did not clear the line")
	}
	hist, _ := os.ReadFile(filepath.Join(home, ".gfs_history"))
	if !strings.Contains(string(hist), "cat /hello.txt") || !strings.Contains(string(hist), "list-filesystems") {
		t.Errorf("history file:\n%s", hist)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SIGTERM in the middle of a command stops gfs and its appliance at
// once, leaving no QEMU or temporary directory.
func TestSignal(t *testing.T) {
	img := roImage(t)
	cmd := exec.Command(bin(t), "--ro", "-a", img)
	cmd.Stdin = strings.NewReader("run\necho launched\ndebug sleep 60s\n")
	var out safeBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "launched") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no launch: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	pid := cmd.Process.Pid
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if xe, ok := err.(*exec.ExitError); !ok || xe.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	waitGone(t, pid)
	if dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("gfs-%d-*", pid))); len(dirs) > 0 {
		t.Errorf("temporary directories left: %v", dirs)
	}
}

// gfs appliance build|info|clean on a private cache directory.
func TestApplianceSubcommand(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	run := func(args ...string) result {
		cmd := exec.Command(bin(t), args...)
		cmd.Env = append(os.Environ(), "GFS_CACHEDIR="+cache)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if xe, ok := err.(*exec.ExitError); ok {
			code = xe.ExitCode()
		}
		return result{out.String(), errb.String(), code}
	}
	if r := run("appliance", "build"); r.code != 0 || !strings.HasPrefix(r.stdout, "appliance ready in "+cache+"/") {
		t.Fatalf("appliance build: %+v", r)
	}
	r := run("appliance", "info")
	for _, want := range []string{"kernel:", "boot kernel:", "modules:", "tools found:", "tools missing:", "initrd:", "cache:         " + cache + "\n", "acceleration:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("appliance info lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := run("appliance", "clean"); r.code != 0 {
		t.Errorf("appliance clean: %+v", r)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("the cache is still there: %v", err)
	}
	if r := run("appliance", "bogus"); r.code != 1 || !strings.Contains(r.stderr, "unknown") {
		t.Errorf("appliance bogus: %+v", r)
	}
}
