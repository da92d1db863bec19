package agent

import (
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
)

func init() {
	handle("file", func(c *call) (any, error) { return fileKind(c, c.str(0)) })
	handle("du", func(c *call) (any, error) { return diskUsage(c.str(0)) })
	handle("realpath", func(c *call) (any, error) { return realpath(c.str(0)) })
}

// fileKind answers as libguestfs's file does: the kind of anything that
// is not a regular file, else file(1)'s description of the content. The
// file is opened here (chroot semantics) and handed to file(1) on its
// standard input, so file(1) never resolves a guest path itself.
func fileKind(c *call, p string) (string, error) {
	st, err := statPath(p, false)
	if err != nil {
		return "", err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory", nil
	case unix.S_IFLNK:
		return "symbolic link", nil
	case unix.S_IFCHR:
		return "character device", nil
	case unix.S_IFBLK:
		return "block device", nil
	case unix.S_IFIFO:
		return "FIFO", nil
	case unix.S_IFSOCK:
		return "socket", nil
	}
	f, err := openFile(p, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	out, err := runIn(c.ctx, f, "file", "-z", "-b", "-")
	if pe, ok := err.(*proto.Error); ok {
		return "", &proto.Error{Errno: pe.Errno, Message: p + ": " + pe.Message}
	}
	return strings.TrimSpace(out), nil
}

// maxDuDepth bounds the directory walk (and the descriptors it holds).
const maxDuDepth = 512

// diskUsage is du -s in kilobytes: allocated blocks of the tree, each
// inode once, symbolic links not followed.
func diskUsage(p string) (int64, error) {
	fd, err := openIn(p, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, pathErr(p, err)
	}
	seen := map[[2]uint64]bool{}
	blocks := st.Blocks
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		dir, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, pathErr(p, err)
		}
		n, err := duDir(dir, seen, 0)
		if err != nil {
			return 0, pathErr(p, err)
		}
		blocks += n
	}
	return (blocks*512 + 1023) / 1024, nil
}

// duDir sums the 512-byte blocks below an open directory, closing it.
func duDir(dirfd int, seen map[[2]uint64]bool, depth int) (int64, error) {
	d := os.NewFile(uintptr(dirfd), "")
	defer d.Close()
	if depth > maxDuDepth {
		return 0, syscall.ELOOP
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return 0, err
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			key := [2]uint64{st.Dev, st.Ino}
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		total += st.Blocks
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			sub, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return 0, err
			}
			n, err := duDir(sub, seen, depth+1)
			if err != nil {
				return 0, err
			}
			total += n
		}
	}
	return total, nil
}

// realpath resolves a guest path inside the guest and reads back where
// the kernel landed.
func realpath(p string) (string, error) {
	fd, err := openIn(p, unix.O_PATH, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	got, err := os.Readlink(fdPath(fd))
	if err != nil {
		return "", pathErr(p, err)
	}
	if got == sysroot {
		return "/", nil
	}
	rel, ok := strings.CutPrefix(got, sysroot+"/")
	if !ok {
		return "", pathErr(p, syscall.EXDEV)
	}
	return "/" + rel, nil
}
