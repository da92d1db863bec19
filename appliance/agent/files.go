package agent

import (
	"io"
	"os"
	"path"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/api"
	"gfs/appliance/proto"
)

func init() {
	handle("ls", func(c *call) (any, error) { return listDir(c.str(0)) })
	handle("lstatnslist", func(c *call) (any, error) { return lstatList(c.str(0), c.strs(1)) })
	handle("readdir", func(c *call) (any, error) { return readDirents(c.str(0)) })
	handle("statns", func(c *call) (any, error) { return statPath(c.str(0), true) })
	handle("lstatns", func(c *call) (any, error) { return statPath(c.str(0), false) })
	handle("stat", func(c *call) (any, error) { s, err := statPath(c.str(0), true); return s.Stat(), err })
	handle("lstat", func(c *call) (any, error) { s, err := statPath(c.str(0), false); return s.Stat(), err })
	handle("exists", func(c *call) (any, error) { _, err := statPath(c.str(0), true); return existsResult(err) })
	handle("is-file", fileTest(unix.S_IFREG))
	handle("is-dir", fileTest(unix.S_IFDIR))
	handle("is-symlink", func(c *call) (any, error) { return isType(c.str(0), false, unix.S_IFLNK) })
	handle("is-blockdev", fileTest(unix.S_IFBLK))
	handle("is-chardev", fileTest(unix.S_IFCHR))
	handle("is-fifo", fileTest(unix.S_IFIFO))
	handle("is-socket", fileTest(unix.S_IFSOCK))
	handle("readlink", func(c *call) (any, error) { return readlink(c.str(0)) })
	handle("download", func(c *call) (any, error) { return nil, downloadFile(c, c.str(0)) })
	handle("upload", func(c *call) (any, error) { return nil, uploadFile(c, c.str(0)) })
	handle("write", func(c *call) (any, error) { return nil, writeFile(c.str(0), []byte(c.str(1)), false) })
	handle("write-append", func(c *call) (any, error) { return nil, writeFile(c.str(0), []byte(c.str(1)), true) })
	handle("mkdir", func(c *call) (any, error) { return nil, mkdir(c.str(0), 0o755) })
	handle("mkdir-mode", func(c *call) (any, error) { return nil, mkdir(c.str(0), uint32(c.int(1))) })
	handle("mkdir-p", func(c *call) (any, error) { return nil, mkdirAll(c.str(0)) })
	handle("rm", func(c *call) (any, error) { return nil, remove(c.str(0), false) })
	handle("rm-f", func(c *call) (any, error) { return nil, remove(c.str(0), true) })
	handle("rmdir", func(c *call) (any, error) { return nil, rmdir(c.str(0)) })
	handle("rm-rf", func(c *call) (any, error) { return nil, removeAll(c.str(0)) })
	handle("mv", func(c *call) (any, error) { return nil, move(c.str(0), c.str(1)) })
	handle("rename", func(c *call) (any, error) { return nil, rename(c.str(0), c.str(1)) })
	handle("chmod", func(c *call) (any, error) { return nil, chmod(c.str(1), uint32(c.int(0))) })
	handle("chown", func(c *call) (any, error) { return nil, chown(c.str(2), c.int(0), c.int(1), true) })
	handle("lchown", func(c *call) (any, error) { return nil, chown(c.str(2), c.int(0), c.int(1), false) })
	handle("touch", func(c *call) (any, error) { return nil, touch(c.str(0)) })
	handle("truncate", func(c *call) (any, error) { return nil, truncate(c.str(0), 0) })
	handle("truncate-size", func(c *call) (any, error) { return nil, truncate(c.str(0), c.int64(1)) })
	handle("ln-s", func(c *call) (any, error) { return nil, symlink(c.str(0), c.str(1), false) })
	handle("ln-sf", func(c *call) (any, error) { return nil, symlink(c.str(0), c.str(1), true) })
	handle("ln", func(c *call) (any, error) { return nil, link(c.str(0), c.str(1), false) })
	handle("ln-f", func(c *call) (any, error) { return nil, link(c.str(0), c.str(1), true) })
	handle("utimens", func(c *call) (any, error) {
		return nil, utimens(c.str(0), c.int64(1), c.int64(2), c.int64(3), c.int64(4))
	})
	handle("statvfs", func(c *call) (any, error) { return statvfs(c.str(0)) })
	handle("sync", func(c *call) (any, error) { unix.Sync(); return nil, nil })
	handle("umask", func(c *call) (any, error) { return unix.Umask(c.int(0)), nil })
}

func toStatNS(st *unix.Stat_t) api.StatNS {
	return api.StatNS{
		Dev: int64(st.Dev), Ino: int64(st.Ino), Mode: int64(st.Mode), Nlink: int64(st.Nlink),
		UID: int64(st.Uid), GID: int64(st.Gid), Rdev: int64(st.Rdev), Size: st.Size,
		Blksize: int64(st.Blksize), Blocks: st.Blocks,
		AtimeSec: st.Atim.Sec, AtimeNsec: st.Atim.Nsec,
		MtimeSec: st.Mtim.Sec, MtimeNsec: st.Mtim.Nsec,
		CtimeSec: st.Ctim.Sec, CtimeNsec: st.Ctim.Nsec,
	}
}

func statPath(p string, follow bool) (api.StatNS, error) {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openIn(p, flags, 0)
	if err != nil {
		return api.StatNS{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH); err != nil {
		return api.StatNS{}, pathErr(p, err)
	}
	return toStatNS(&st), nil
}

// existsResult maps "not there" errors to false and keeps real failures.
func existsResult(err error) (any, error) {
	if err == nil {
		return true, nil
	}
	switch unwrapErrno(err) {
	case syscall.ENOENT, syscall.ENOTDIR, syscall.ELOOP:
		return false, nil
	}
	return false, err
}

func isType(p string, follow bool, mode uint32) (any, error) {
	st, err := statPath(p, follow)
	if err != nil {
		return existsResult(err)
	}
	return uint32(st.Mode)&unix.S_IFMT == mode, nil
}

// fileTest builds is-file, is-dir…: they take followsymlinks:true to
// look through a symlink, as in libguestfs.
func fileTest(mode uint32) handler {
	return func(c *call) (any, error) { return isType(c.str(0), c.optBool("followsymlinks", false), mode) }
}

func readDirNames(p string) ([]string, error) {
	f, err := openFile(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, pathErr(p, err)
	}
	sort.Strings(names)
	return names, nil
}

func listDir(p string) ([]string, error) {
	names, err := readDirNames(p)
	if names == nil && err == nil {
		names = []string{}
	}
	return names, err
}

func readDirents(p string) ([]api.Dirent, error) {
	f, err := openFile(p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, pathErr(p, err)
	}
	// Stat relative to the opened directory: the os.File's name is a
	// guest path, which means nothing to lstat in the appliance.
	fd := int(f.Fd())
	out := []api.Dirent{}
	for _, name := range append([]string{".", ".."}, names...) {
		var st unix.Stat_t
		if name == ".." && isGuestRoot(fd) {
			if unix.Fstat(fd, &st) != nil {
				continue
			}
		} else if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		out = append(out, api.Dirent{Ino: int64(st.Ino), Ftyp: ftyp(st.Mode), Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func ftyp(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFBLK:
		return "b"
	case unix.S_IFCHR:
		return "c"
	case unix.S_IFDIR:
		return "d"
	case unix.S_IFIFO:
		return "f"
	case unix.S_IFLNK:
		return "l"
	case unix.S_IFREG:
		return "r"
	case unix.S_IFSOCK:
		return "s"
	}
	return "?"
}

// lstatList stats names inside dir relative to one opened directory, so
// a listing costs one path resolution instead of one per entry. An empty
// names list means every entry, plus "." and "..", which `ll` shows.
func lstatList(dir string, names []string) ([]api.FileStat, error) {
	fd, err := openIn(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	if len(names) == 0 {
		names, err = f.Readdirnames(-1)
		if err != nil {
			return nil, pathErr(dir, err)
		}
		names = append(names, ".", "..")
		sort.Strings(names)
	}
	out := make([]api.FileStat, 0, len(names))
	for _, name := range names {
		var st unix.Stat_t
		if name == ".." && isGuestRoot(fd) {
			// ".." of the guest root is the root itself under chroot
			// semantics, not the appliance directory above /sysroot.
			if err := unix.Fstat(fd, &st); err != nil {
				return nil, pathErr(dir, err)
			}
		} else if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, pathErr(path.Join(dir, name), err)
		}
		fs := api.FileStat{Name: name, StatNS: toStatNS(&st)}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			fs.Link, _ = readlinkAt(fd, name)
		}
		out = append(out, fs)
	}
	return out, nil
}

// isGuestRoot reports whether fd is the directory mounted at /sysroot.
func isGuestRoot(fd int) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(sysroot, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", syscall.ENAMETOOLONG
}

func readlink(p string) (string, error) {
	dir, base, err := parent(p)
	if err != nil {
		return "", err
	}
	defer unix.Close(dir)
	s, err := readlinkAt(dir, base)
	if err != nil {
		return "", pathErr(p, err)
	}
	return s, nil
}

func downloadFile(c *call, p string) error {
	f, err := openFile(p, unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return pathErr(p, syscall.EISDIR)
	}
	if _, err := io.Copy(c.output(), f); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func uploadFile(c *call, p string) error {
	f, err := openFile(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, c.input())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pathErr(p, err)
	}
	return nil
}

func writeFile(p string, data []byte, appendTo bool) error {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_NOFOLLOW
	if appendTo {
		flags |= unix.O_APPEND
	} else {
		flags |= unix.O_TRUNC
	}
	f, err := openFile(p, flags, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return pathErr(p, err)
	}
	return nil
}

func mkdir(p string, mode uint32) error {
	dir, base, err := parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := unix.Mkdirat(dir, base, mode); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func mkdirAll(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	clean := path.Clean(p)
	if clean == "/" {
		return nil
	}
	st, err := statPath(clean, true)
	if err == nil {
		if uint32(st.Mode)&unix.S_IFMT != unix.S_IFDIR {
			return pathErr(p, syscall.ENOTDIR)
		}
		return nil
	}
	if unwrapErrno(err) != syscall.ENOENT {
		return err
	}
	if err := mkdirAll(path.Dir(clean)); err != nil {
		return err
	}
	if err := mkdir(clean, 0o755); err != nil && unwrapErrno(err) != syscall.EEXIST {
		return err
	}
	return nil
}

func remove(p string, force bool) error {
	dir, base, err := parent(p)
	if err != nil {
		if force && isNotExist(err) {
			return nil
		}
		return err
	}
	defer unix.Close(dir)
	err = unix.Unlinkat(dir, base, 0)
	if err == nil || (force && err == unix.ENOENT) {
		return nil
	}
	return pathErr(p, err)
}

func isNotExist(err error) bool {
	e := unwrapErrno(err)
	return e == syscall.ENOENT || e == syscall.ENOTDIR
}

func rmdir(p string) error {
	dir, base, err := parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := unix.Unlinkat(dir, base, unix.AT_REMOVEDIR); err != nil {
		return pathErr(p, err)
	}
	return nil
}

// removeAll is rm -rf: a missing path is fine, symlinks are removed, not
// followed, and the walk stays on descriptors so it cannot be redirected.
func removeAll(p string) error {
	dir, base, err := parent(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	defer unix.Close(dir)
	if err := removeAt(dir, base, 0); err != nil && err != unix.ENOENT {
		return pathErr(p, err)
	}
	return nil
}

func removeAt(dir int, name string, depth int) error {
	err := unix.Unlinkat(dir, name, 0)
	if err == nil || err == unix.ENOENT {
		return err
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	if depth > 4096 {
		return unix.ELOOP
	}
	fd, oerr := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if oerr != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	for {
		names, rerr := f.Readdirnames(1024)
		for _, n := range names {
			if e := removeAt(fd, n, depth+1); e != nil && e != unix.ENOENT {
				f.Close()
				return e
			}
		}
		if rerr != nil || len(names) == 0 {
			break
		}
	}
	f.Close()
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}

func rename(from, to string) error {
	fdir, fbase, err := parent(from)
	if err != nil {
		return err
	}
	defer unix.Close(fdir)
	tdir, tbase, err := parent(to)
	if err != nil {
		return err
	}
	defer unix.Close(tdir)
	if err := unix.Renameat(fdir, fbase, tdir, tbase); err != nil {
		return pathErr(from, err)
	}
	return nil
}

// move is mv(1): into a directory if the target is one, and by copy and
// delete across filesystems.
func move(from, to string) error {
	if st, err := statPath(to, true); err == nil && uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR {
		to = path.Join(to, path.Base(from))
	}
	err := rename(from, to)
	if unwrapErrno(err) != syscall.EXDEV {
		return err
	}
	if err := copyTree(from, to, copyArchive); err != nil {
		return err
	}
	return removeAll(from)
}

func chmod(p string, mode uint32) error {
	fd, err := openIn(p, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Chmod(fdPath(fd), mode); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func chown(p string, uid, gid int, follow bool) error {
	flags := unix.O_PATH
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openIn(p, flags, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func touch(p string) error {
	f, err := openFile(p, unix.O_WRONLY|unix.O_CREAT|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0o666)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return &proto.Error{Errno: int(syscall.EINVAL), Message: p + ": touch can only be used on regular files"}
	}
	if err := unix.Futimes(int(f.Fd()), nil); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func truncate(p string, size int64) error {
	f, err := openFile(p, unix.O_WRONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func symlink(target, linkname string, force bool) error {
	dir, base, err := parent(linkname)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if force {
		unix.Unlinkat(dir, base, 0)
	}
	if err := unix.Symlinkat(target, dir, base); err != nil {
		return pathErr(linkname, err)
	}
	return nil
}

func link(target, linkname string, force bool) error {
	tdir, tbase, err := parent(target)
	if err != nil {
		return err
	}
	defer unix.Close(tdir)
	dir, base, err := parent(linkname)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if force {
		unix.Unlinkat(dir, base, 0)
	}
	if err := unix.Linkat(tdir, tbase, dir, base, 0); err != nil {
		return pathErr(linkname, err)
	}
	return nil
}

func utimens(p string, atsec, atnsec, mtsec, mtnsec int64) error {
	dir, base, err := parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	ts := []unix.Timespec{{Sec: atsec, Nsec: atnsec}, {Sec: mtsec, Nsec: mtnsec}}
	if err := unix.UtimesNanoAt(dir, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return pathErr(p, err)
	}
	return nil
}

func statvfs(p string) (api.StatVFS, error) {
	fd, err := openIn(p, unix.O_RDONLY, 0)
	if err != nil {
		return api.StatVFS{}, err
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return api.StatVFS{}, pathErr(p, err)
	}
	fsid := int64(uint32(st.Fsid.Val[0])) | int64(uint32(st.Fsid.Val[1]))<<32
	return api.StatVFS{
		Bsize: st.Bsize, Frsize: st.Frsize, Blocks: int64(st.Blocks), Bfree: int64(st.Bfree),
		Bavail: int64(st.Bavail), Files: int64(st.Files), Ffree: int64(st.Ffree), Favail: int64(st.Ffree),
		// statfs sets ST_VALID (0x20) to say f_flags is filled in;
		// statvfs(3), which libguestfs reports, clears it.
		Fsid: fsid, Flag: st.Flags &^ 0x20, Namemax: st.Namelen,
	}, nil
}
