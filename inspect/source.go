package inspect

import (
	"context"
	"errors"
	iofs "io/fs"
	"path"
	"strings"
	"syscall"
)

// Filesystem is one mountable filesystem of the disks, as list-filesystems
// names it, with what blkid says about it.
type Filesystem struct {
	// Device is the mountable: /dev/sda1, /dev/VG/LV, or a btrfs
	// subvolume written btrfsvol:/dev/sda2/SUBVOL.
	Device string `json:"device"`
	Type   string `json:"type,omitempty"` // blkid TYPE, "unknown" when none
	Label  string `json:"label,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	// PartUUID and PartLabel are the partition's identity (GPT unique
	// GUID and name, or MBR "disksig-NN"), for PARTUUID= and PARTLABEL=
	// in fstab. Empty for anything that is not a partition.
	PartUUID  string `json:"-"`
	PartLabel string `json:"-"`
}

// Layout is the block-device view that fstab resolution needs.
type Layout struct {
	Devices    []string    // whole disks in order: /dev/sda, /dev/sdb …
	Partitions []Partition // every partition, /dev/sda1 …
	LVs        []string    // /dev/VG/LV
	// MBRSignatures holds the disk signature (4 bytes at 0x1b8) of each
	// device with an MBR partition table.
	MBRSignatures map[string][4]byte
}

// Partition is a partition of Layout.
type Partition struct {
	Name   string // /dev/sda1
	Device string // /dev/sda
	Start  int64  // bytes
	GUID   string // GPT unique partition GUID, uppercase; "" on MBR
}

// Mount asks for a filesystem to be mounted at a guest mountpoint.
type Mount struct {
	Device     string // a mountable (see Filesystem.Device)
	Mountpoint string
}

// Source is what inspection reads from: a set of disks whose filesystems
// can be listed and mounted read-only. Two implementations exist: the
// VM-less reader (NewDisksSource) and the appliance (NewApplianceSource).
type Source interface {
	// Name says which reader answers ("vm-less" or "appliance").
	Name() string
	Layout(ctx context.Context) (Layout, error)
	// Filesystems lists every mountable in list-filesystems order,
	// btrfs subvolumes included.
	Filesystems(ctx context.Context) ([]Filesystem, error)
	// Mount mounts mounts[0] at "/" and then the others, read-only, and
	// returns the resulting tree. An error wrapping ErrNotMountable for
	// mounts[0] means the filesystem cannot be mounted at all (as the
	// kernel would refuse it): inspection skips it. Failures to mount the
	// other entries are reported through Tree.Failed, as guestfish
	// ignores them. Any other error aborts the inspection (for the
	// VM-less source it means "ask the appliance").
	Mount(ctx context.Context, mounts []Mount) (Tree, error)
}

// ErrNotMountable is wrapped by Source.Mount errors for filesystems that
// cannot be mounted (no filesystem, swap, encrypted…).
var ErrNotMountable = errors.New("filesystem cannot be mounted")

// ErrTooLarge is returned by Tree.ReadFile for files over the limit.
var ErrTooLarge = errors.New("file too large")

// Stat is the part of lstat(2) that inspection needs.
type Stat struct {
	Mode uint32 // S_IFMT type bits and permissions
	Size int64
}

// IsDir, IsRegular and IsSymlink test the file type.
func (s Stat) IsDir() bool     { return s.Mode&syscall.S_IFMT == syscall.S_IFDIR }
func (s Stat) IsRegular() bool { return s.Mode&syscall.S_IFMT == syscall.S_IFREG }
func (s Stat) IsSymlink() bool { return s.Mode&syscall.S_IFMT == syscall.S_IFLNK }

// DirEntry is a name in a directory; Type holds S_IFMT bits or 0 when
// the directory does not record them.
type DirEntry struct {
	Name string
	Type uint32
}

// Tree is a mounted guest filesystem tree, read-only, with chroot
// semantics (absolute symlinks resolve inside the guest).
type Tree interface {
	Lstat(ctx context.Context, path string) (Stat, error)
	Stat(ctx context.Context, path string) (Stat, error)
	// ReadFile returns a regular file's content (following symlinks),
	// or ErrTooLarge if it is bigger than limit bytes.
	ReadFile(ctx context.Context, path string, limit int64) ([]byte, error)
	// ReadHead returns the first n bytes (fewer if the file is
	// shorter) of a regular file, following symlinks.
	ReadHead(ctx context.Context, path string, n int) ([]byte, error)
	ReadDir(ctx context.Context, path string) ([]DirEntry, error)
	Readlink(ctx context.Context, path string) (string, error)
	// Failed lists the mounts (other than the root) that could not be
	// mounted, with why.
	Failed() map[string]error
	Close() error
}

// absent reports whether err is an authoritative "no such file" style
// answer (the file is missing, a component is not a directory, a link
// loop…), as opposed to a failure to read.
func absent(err error) bool {
	var fe *FallbackError
	if err == nil || errors.As(err, &fe) {
		return false
	}
	if errors.Is(err, iofs.ErrNotExist) || errors.Is(err, ErrTooLarge) {
		return true
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOENT, syscall.ENOTDIR, syscall.ELOOP, syscall.EINVAL,
			syscall.ENAMETOOLONG, syscall.EISDIR, syscall.EACCES, syscall.ENXIO:
			return true
		}
	}
	return false
}

// fsView wraps a Tree with the yes/no questions of the inspection rules.
// Errors that are not absent() are remembered in err (the first one)
// and make every later question answer "no": the caller checks err once.
type fsView struct {
	ctx context.Context
	t   Tree
	err error
}

func (v *fsView) fail(err error) {
	if v.err == nil && err != nil && !absent(err) {
		v.err = err
	}
}

func (v *fsView) stat(p string, follow bool) (Stat, bool) {
	if v.err != nil {
		return Stat{}, false
	}
	var st Stat
	var err error
	if follow {
		st, err = v.t.Stat(v.ctx, p)
	} else {
		st, err = v.t.Lstat(v.ctx, p)
	}
	if err != nil {
		v.fail(err)
		return Stat{}, false
	}
	return st, true
}

// isDir is Is.is_dir (no symlink following), isFile is Is.is_file.
func (v *fsView) isDir(p string) bool {
	st, ok := v.stat(p, false)
	return ok && st.IsDir()
}

func (v *fsView) isFile(p string) bool {
	st, ok := v.stat(p, false)
	return ok && st.IsRegular()
}

func (v *fsView) isFileFollow(p string) bool {
	st, ok := v.stat(p, true)
	return ok && st.IsRegular()
}

func (v *fsView) isSymlinkTo(p, target string) bool {
	st, ok := v.stat(p, false)
	if !ok || !st.IsSymlink() {
		return false
	}
	t, err := v.t.Readlink(v.ctx, p)
	if err != nil {
		v.fail(err)
		return false
	}
	return t == target
}

// Limits on what is read from the guest.
const (
	smallFileLimit = 2 * 1048 * 1024 // libguestfs' "small file"
	pkgDBLimit     = 300 << 20       // package databases
	pacmanDescMax  = 8192
	maxDirEntries  = 100000
	maxApps        = 200000
)

// readSmall reads a small regular file (following symlinks); ok is false
// when it is missing, not regular or too large.
func (v *fsView) readSmall(p string) ([]byte, bool) {
	return v.read(p, smallFileLimit)
}

func (v *fsView) read(p string, limit int64) ([]byte, bool) {
	if v.err != nil {
		return nil, false
	}
	b, err := v.t.ReadFile(v.ctx, p, limit)
	if err != nil {
		v.fail(err)
		return nil, false
	}
	return b, true
}

func (v *fsView) readDir(p string) ([]DirEntry, bool) {
	if v.err != nil {
		return nil, false
	}
	ents, err := v.t.ReadDir(v.ctx, p)
	if err != nil {
		v.fail(err)
		return nil, false
	}
	if len(ents) > maxDirEntries {
		ents = ents[:maxDirEntries]
	}
	return ents, true
}

// caseSensitivePath resolves a path case-insensitively, component by
// component, as Windows paths need (realpath's case_sensitive_path).
func (v *fsView) caseSensitivePath(p string) (string, bool) {
	cur := "/"
	for _, comp := range strings.Split(strings.Trim(p, "/"), "/") {
		if comp == "" {
			continue
		}
		ents, ok := v.readDir(cur)
		if !ok {
			return "", false
		}
		found := ""
		for _, e := range ents {
			if e.Name == comp {
				found = e.Name
				break
			}
			if found == "" && strings.EqualFold(e.Name, comp) {
				found = e.Name
			}
		}
		if found == "" {
			return "", false
		}
		cur = path.Join(cur, found)
	}
	return cur, true
}

func (v *fsView) isDirNoCase(p string) bool {
	rp, ok := v.caseSensitivePath(p)
	return ok && v.isDir(rp)
}

func (v *fsView) isFileNoCase(p string) bool {
	rp, ok := v.caseSensitivePath(p)
	return ok && v.isFile(rp)
}

func readHead(v *fsView, p string, n int) ([]byte, error) {
	return v.t.ReadHead(v.ctx, p, n)
}
