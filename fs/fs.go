package fs

// The inode-level filesystem interface. Path resolution lives above it
// (Mounts), so that it can span several mounted filesystems with chroot
// semantics; an FS only answers questions about inodes.

import (
	"io"
	iofs "io/fs"
	"syscall"
	"time"
)

// Ino identifies an inode within one FS.
type Ino uint64

// Timespec is a timestamp as stat(2) reports it.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Time converts to time.Time.
func (t Timespec) Time() time.Time { return time.Unix(t.Sec, t.Nsec) }

// Stat holds the fields of struct stat as the Linux kernel would report
// them through lstat(2) on the mounted filesystem. Mode has the S_IFMT
// type bits and the permission bits (incl. setuid/setgid/sticky) in the
// Linux encoding; Rdev uses the glibc makedev encoding.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Mode    uint32
	Nlink   uint64
	Uid     uint32
	Gid     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64 // 512-byte units
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
}

// File type bits of Stat.Mode.
const (
	S_IFMT   = syscall.S_IFMT
	S_IFDIR  = syscall.S_IFDIR
	S_IFREG  = syscall.S_IFREG
	S_IFLNK  = syscall.S_IFLNK
	S_IFCHR  = syscall.S_IFCHR
	S_IFBLK  = syscall.S_IFBLK
	S_IFIFO  = syscall.S_IFIFO
	S_IFSOCK = syscall.S_IFSOCK
)

// IsDir reports whether the inode is a directory.
func (s *Stat) IsDir() bool { return s.Mode&S_IFMT == S_IFDIR }

// IsSymlink reports whether the inode is a symbolic link.
func (s *Stat) IsSymlink() bool { return s.Mode&S_IFMT == S_IFLNK }

// IsRegular reports whether the inode is a regular file.
func (s *Stat) IsRegular() bool { return s.Mode&S_IFMT == S_IFREG }

// FileMode converts Mode to an io/fs FileMode.
func (s *Stat) FileMode() iofs.FileMode {
	m := iofs.FileMode(s.Mode & 0o777)
	switch s.Mode & S_IFMT {
	case S_IFDIR:
		m |= iofs.ModeDir
	case S_IFLNK:
		m |= iofs.ModeSymlink
	case S_IFCHR:
		m |= iofs.ModeDevice | iofs.ModeCharDevice
	case S_IFBLK:
		m |= iofs.ModeDevice
	case S_IFIFO:
		m |= iofs.ModeNamedPipe
	case S_IFSOCK:
		m |= iofs.ModeSocket
	}
	if s.Mode&syscall.S_ISUID != 0 {
		m |= iofs.ModeSetuid
	}
	if s.Mode&syscall.S_ISGID != 0 {
		m |= iofs.ModeSetgid
	}
	if s.Mode&syscall.S_ISVTX != 0 {
		m |= iofs.ModeSticky
	}
	return m
}

// DirEntry is one name in a directory. Type holds the S_IFMT bits when
// the directory records them, else 0 (call Stat).
type DirEntry struct {
	Name string
	Ino  Ino
	Type uint32
}

// File is an open regular file (or any inode's data).
type File interface {
	io.ReaderAt
	Size() int64
}

// StatVFS holds what statvfs(2) would report for the mounted filesystem.
type StatVFS struct {
	Bsize   int64
	Frsize  int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Favail  uint64
	Namemax int64
}

// FS is a read-only filesystem reader addressed by inode. Errors are
// syscall.Errno values (ENOENT, ENOTDIR, EINVAL ...) for answers the
// kernel would give as well, and other errors (wrapping ErrCorrupt or
// ErrUnsupported) for "cannot tell". Implementations are safe for
// concurrent use. Lookup does not accept "." or "..": Mounts resolves
// those itself, against its own walk.
type FS interface {
	Type() string
	Root() Ino
	Lookup(dir Ino, name string) (Ino, error)
	Stat(ino Ino) (Stat, error)
	ReadDir(dir Ino) ([]DirEntry, error)
	Readlink(ino Ino) (string, error)
	Open(ino Ino) (File, error)
	StatFS() (StatVFS, error)
}

// Limits that keep a crafted filesystem from exhausting memory or time.
const (
	maxSymlinkLen  = 4096      // PATH_MAX
	maxNameLen     = 255       // NAME_MAX
	maxDirBytes    = 256 << 20 // a directory larger than this is refused
	maxDirEntries  = 4 << 20
	maxExtentDepth = 5 // ext4's own limit
)

// Mount opens the filesystem on a device read-only. Supported: ext2,
// ext3, ext4 and FAT (vfat). Anything else returns an error wrapping
// ErrUnsupported.
func Mount(dev io.ReaderAt, size int64) (f FS, err error) {
	defer guard(&err, "mount")
	info, err := Probe(dev, size)
	if err != nil {
		return nil, err
	}
	switch info.Type {
	case "ext2", "ext3", "ext4":
		return openExt4(dev, size)
	case "vfat":
		return openFAT(dev, size)
	case "":
		return nil, unsupportedf("no recognised filesystem")
	}
	return nil, unsupportedf("filesystem type %s", info.Type)
}
