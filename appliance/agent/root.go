package agent

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
)

// sysroot is where the guest's root filesystem is mounted in the
// appliance. Every guest path is resolved beneath it with chroot
// semantics by the kernel itself (openat2 RESOLVE_IN_ROOT): absolute
// symlinks and ".." can never climb out into the appliance.
const sysroot = "/sysroot"

// checkPath rejects relative guest paths, as libguestfs does.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return &proto.Error{Errno: int(syscall.EINVAL), Message: fmt.Sprintf("%s: path must start with a / character", p)}
	}
	return nil
}

// pathErr turns a syscall error on a guest path into "path: strerror",
// keeping the errno for the host.
func pathErr(p string, err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return &proto.Error{Errno: int(en), Message: p + ": " + proto.Strerror(en)}
	}
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe
	}
	return &proto.Error{Errno: int(syscall.EIO), Message: p + ": " + err.Error()}
}

func openRoot() (int, error) {
	return unix.Open(sysroot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openIn opens a guest path with chroot semantics. flags are open(2)
// flags; O_NOFOLLOW applies to the last component as usual.
func openIn(p string, flags int, mode uint32) (int, error) {
	if err := checkPath(p); err != nil {
		return -1, err
	}
	root, err := openRoot()
	if err != nil {
		return -1, err
	}
	defer unix.Close(root)
	how := &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&unix.O_CREAT == 0 {
		how.Mode = 0
	}
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(root, rel, how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue // EAGAIN: a concurrent rename raced the lookup
		}
		if err != nil {
			return -1, pathErr(p, err)
		}
		return fd, nil
	}
}

// openFile is openIn returning an *os.File.
func openFile(p string, flags int, mode uint32) (*os.File, error) {
	fd, err := openIn(p, flags, mode)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// parent opens the directory containing p and returns it with the last
// component, for the *at calls that act on a name (unlink, mkdir,
// rename, symlink, lstat). p = "/" has no parent and is refused.
func parent(p string) (dirfd int, base string, err error) {
	if err := checkPath(p); err != nil {
		return -1, "", err
	}
	clean := path.Clean(p)
	if clean == "/" {
		return -1, "", &proto.Error{Errno: int(syscall.EINVAL), Message: p + ": cannot operate on the root directory"}
	}
	dir, base := path.Split(clean)
	fd, err := openIn(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", pathErr(p, unwrapErrno(err))
	}
	return fd, base, nil
}

func unwrapErrno(err error) error {
	var pe *proto.Error
	if errors.As(err, &pe) && pe.Errno != 0 {
		return syscall.Errno(pe.Errno)
	}
	return err
}

// fdPath names an open descriptor for syscalls that only take paths
// (chmod, mount). The descriptor was resolved safely, and the magic link
// leads exactly to it, so nothing is re-resolved by name.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }
