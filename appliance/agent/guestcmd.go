package agent

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
)

func init() {
	handle("command", func(c *call) (any, error) { return guestCommand(c, c.strs(0)) })
	handle("command-lines", func(c *call) (any, error) { return outputLines(guestCommand(c, c.strs(0))) })
	handle("sh", func(c *call) (any, error) { return guestCommand(c, []string{"/bin/sh", "-c", c.str(0)}) })
	handle("sh-lines", func(c *call) (any, error) {
		return outputLines(guestCommand(c, []string{"/bin/sh", "-c", c.str(0)}))
	})
}

// guestMu runs one guest command at a time: they share the bind mounts.
var guestMu sync.Mutex

// guestCommand runs a program of the guest, chrooted into the mounted
// guest with the appliance's /dev, /proc and /sys bound in (where the
// guest has those directories), as libguestfs's command does. It
// returns standard output; a failure carries standard error.
func guestCommand(c *call, argv []string) (string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", &proto.Error{Errno: int(syscall.EINVAL), Message: "no command given"}
	}
	if !rootMounted() {
		return "", &proto.Error{Errno: int(syscall.ENOENT), Message: "no guest filesystem is mounted at /"}
	}
	guestMu.Lock()
	defer guestMu.Unlock()
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		target := sysroot + d
		if !isPlainDir(target) {
			continue
		}
		if err := unix.Mount(d, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			continue
		}
		defer unix.Unmount(target, unix.MNT_DETACH)
	}
	prog, err := guestLookPath(argv[0])
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(c.ctx, prog, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: sysroot, Setsid: true}
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=" + guestPath, "HOME=/root", "LC_ALL=C", "TERM=dumb"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A program that leaves a background child holding its output
	// (sh "daemon &") is done when it exits, not when the child is.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return stdout.String(), nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		// The program could not be started: name it and say why.
		errno, text := syscall.EIO, err.Error()
		if errors.As(err, &errno) {
			text = proto.Strerror(errno)
		}
		return "", &proto.Error{Errno: int(errno), Message: argv[0] + ": " + text}
	}
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		msg = ee.Error()
	}
	return "", &proto.Error{Errno: int(syscall.EIO), Message: oneLine(argv[0], msg)}
}

const guestPath = "/sbin:/usr/sbin:/bin:/usr/bin"

// guestLookPath finds a program in the guest's PATH, resolving inside
// the guest (exec.LookPath would search the appliance).
func guestLookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(guestPath, ":") {
		p := dir + "/" + name
		if st, err := statPath(p, true); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return p, nil
		}
	}
	return "", &proto.Error{Errno: int(syscall.ENOENT), Message: name + ": not found in the guest's PATH"}
}

func rootMounted() bool {
	for _, m := range guestMounts() {
		if m.target == sysroot {
			return true
		}
	}
	return false
}

// isPlainDir: a real directory, not a symlink that could point the bind
// mount somewhere else in the appliance.
func isPlainDir(p string) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// outputLines splits command output as libguestfs's *-lines calls do:
// at newlines, without a final empty line.
func outputLines(out string, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	if out == "" {
		return []string{}, nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n"), nil
}
