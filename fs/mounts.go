package fs

// A guest mount table: filesystems mounted at guest paths ("/", "/boot",
// "/home" ...), with path resolution done here component by component so
// that absolute symlinks resolve against the guest root, ".." stops at
// the root, and walking onto a mountpoint continues in the mounted
// filesystem, exactly like the kernel does inside a chroot.

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	iofs "io/fs"
	"sync"
	"syscall"
)

// ErrNotAbsolute is returned (inside a *io/fs.PathError) for guest paths
// that do not start with "/", with libguestfs' wording.
var ErrNotAbsolute = errors.New("path must start with a / character")

// Mounts is a mount table over the devices of a Disks. It is safe for
// concurrent use.
type Mounts struct {
	disks *Disks

	mu      sync.RWMutex
	mounts  []*mount
	fsByDev map[string]FS
}

type mount struct {
	dev   string // canonical device name
	point string // guest path
	fs    FS
	devID uint64
	// The directory this mount covers; nil parent for "/".
	parent    *mount
	parentIno Ino
}

// MountInfo describes one entry of the mount table.
type MountInfo struct {
	Device     string
	Mountpoint string
	Type       string
}

// NewMounts returns an empty mount table over d (which may be nil when
// only MountFS is used).
func NewMounts(d *Disks) *Mounts { return &Mounts{disks: d, fsByDev: map[string]FS{}} }

// Mount mounts the filesystem on device dev (any name Disks.Device
// accepts) at mountpoint, read-only. "/" must be mounted first; other
// mountpoints must be existing directories, resolved in the guest.
func (m *Mounts) Mount(dev, mountpoint string) (err error) {
	defer guard(&err, "mount "+dev)
	if m.disks == nil {
		return errors.New("mount: no disks")
	}
	canon, err := m.disks.Canonical(dev)
	if err != nil {
		return err
	}
	m.mu.RLock()
	f := m.fsByDev[canon]
	m.mu.RUnlock()
	if f == nil {
		r, size, err := m.disks.Device(canon)
		if err != nil {
			return err
		}
		if f, err = Mount(r, size); err != nil {
			return err
		}
	}
	return m.MountFS(f, canon, mountpoint)
}

// MountFS mounts an already opened filesystem; name identifies it (it
// determines Stat.Dev and appears in Mountpoints).
func (m *Mounts) MountFS(f FS, name, mountpoint string) (err error) {
	defer guard(&err, "mount "+name)
	if mountpoint == "" || mountpoint[0] != '/' {
		return &iofs.PathError{Op: "mount", Path: mountpoint, Err: ErrNotAbsolute}
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	mt := &mount{dev: name, fs: f, devID: h.Sum64()}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.mounts) == 0 {
		if mountpoint != "/" {
			return &iofs.PathError{Op: "mount", Path: mountpoint, Err: errors.New("the root filesystem must be mounted first")}
		}
		mt.point = "/"
	} else {
		w := m.newWalker("mount", mountpoint)
		fr, err := w.resolve(mountpoint, true)
		if err != nil {
			return err
		}
		st, err := fr.m.fs.Stat(fr.ino)
		if err != nil {
			return w.fail(err)
		}
		if !st.IsDir() {
			return w.fail(syscall.ENOTDIR)
		}
		if len(w.stack) == 1 {
			// Mounting over "/" again: the new filesystem becomes root.
			mt.point = "/"
		} else {
			mt.point = w.path()
			mt.parent, mt.parentIno = fr.m, fr.ino
		}
	}
	m.mounts = append(m.mounts, mt)
	m.fsByDev[name] = f
	return nil
}

// Mountpoints lists the mount table in mount order.
func (m *Mounts) Mountpoints() []MountInfo {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []MountInfo
	for _, mt := range m.mounts {
		out = append(out, MountInfo{Device: mt.dev, Mountpoint: mt.point, Type: mt.fs.Type()})
	}
	return out
}

// UnmountAll empties the mount table.
func (m *Mounts) UnmountAll() {
	m.mu.Lock()
	m.mounts = nil
	m.mu.Unlock()
}

// root returns the mount currently at "/" (the last one mounted there).
func (m *Mounts) root() *mount {
	for i := len(m.mounts) - 1; i >= 0; i-- {
		if m.mounts[i].parent == nil {
			return m.mounts[i]
		}
	}
	return nil
}

// cross follows mounts stacked on (mt, ino): the newest mount wins, and
// mounts may stack on the root of another mount.
func (m *Mounts) cross(mt *mount, ino Ino) (*mount, Ino) {
	for steps := 0; steps < len(m.mounts); steps++ {
		var top *mount
		for i := len(m.mounts) - 1; i >= 0; i-- {
			if c := m.mounts[i]; c.parent == mt && c.parentIno == ino {
				top = c
				break
			}
		}
		if top == nil {
			break
		}
		mt, ino = top, top.fs.Root()
	}
	return mt, ino
}

func (m *Mounts) statAt(mt *mount, ino Ino) (Stat, error) {
	st, err := mt.fs.Stat(ino)
	st.Dev = mt.devID
	return st, err
}

// Lstat returns the metadata of path without following a final symlink.
func (m *Mounts) Lstat(path string) (st Stat, err error) { return m.stat("lstat", path, false) }

// Stat returns the metadata of path, following symlinks.
func (m *Mounts) Stat(path string) (st Stat, err error) { return m.stat("stat", path, true) }

func (m *Mounts) stat(op, path string, follow bool) (st Stat, err error) {
	defer guardPath(&err, op, path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker(op, path)
	fr, err := w.resolve(path, follow)
	if err != nil {
		return st, err
	}
	st, err = m.statAt(fr.m, fr.ino)
	if err != nil {
		return st, w.fail(err)
	}
	return st, nil
}

// Readlink returns the exact target stored in the symlink at path.
func (m *Mounts) Readlink(path string) (target string, err error) {
	defer guardPath(&err, "readlink", path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("readlink", path)
	fr, err := w.resolve(path, false)
	if err != nil {
		return "", err
	}
	target, err = fr.m.fs.Readlink(fr.ino)
	if err != nil {
		return "", w.fail(err)
	}
	return target, nil
}

// Realpath resolves every symlink, "." and ".." in path and returns the
// canonical guest path.
func (m *Mounts) Realpath(path string) (real string, err error) {
	defer guardPath(&err, "realpath", path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("realpath", path)
	if _, err := w.resolve(path, true); err != nil {
		return "", err
	}
	return w.path(), nil
}

// ReadDir lists the directory at path (following symlinks), without "."
// and "..". Entry types come from the directory where it records them.
func (m *Mounts) ReadDir(path string) (ents []DirEntry, err error) {
	defer guardPath(&err, "readdir", path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("readdir", path)
	fr, err := w.resolve(path, true)
	if err != nil {
		return nil, err
	}
	ents, err = fr.m.fs.ReadDir(fr.ino)
	if err != nil {
		return nil, w.fail(err)
	}
	return ents, nil
}

// NamedStat is a directory entry with its lstat(2) metadata.
type NamedStat struct {
	Name string
	Stat Stat
}

// ReadDirStat lists a directory with the lstat of each entry, as `ls -l`
// needs; an entry that is a mountpoint shows the mounted root.
func (m *Mounts) ReadDirStat(path string) (out []NamedStat, err error) {
	defer guardPath(&err, "readdir", path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("readdir", path)
	fr, err := w.resolve(path, true)
	if err != nil {
		return nil, err
	}
	ents, err := fr.m.fs.ReadDir(fr.ino)
	if err != nil {
		return nil, w.fail(err)
	}
	out = make([]NamedStat, 0, len(ents))
	for _, e := range ents {
		cm, ci := m.cross(fr.m, e.Ino)
		st, err := m.statAt(cm, ci)
		if err != nil {
			return nil, w.fail(err)
		}
		out = append(out, NamedStat{Name: e.Name, Stat: st})
	}
	return out, nil
}

// Open opens the regular file at path (following symlinks).
func (m *Mounts) Open(path string) (f File, err error) {
	defer guardPath(&err, "open", path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("open", path)
	fr, err := w.resolve(path, true)
	if err != nil {
		return nil, err
	}
	st, err := fr.m.fs.Stat(fr.ino)
	if err != nil {
		return nil, w.fail(err)
	}
	if st.IsDir() {
		return nil, w.fail(syscall.EISDIR)
	}
	if !st.IsRegular() {
		return nil, w.fail(unsupportedf("reading a device, FIFO or socket"))
	}
	f, err = fr.m.fs.Open(fr.ino)
	if err != nil {
		return nil, w.fail(err)
	}
	return f, nil
}

// ReadFile returns the contents of a regular file, refusing files larger
// than limit bytes (an error wrapping ErrUnsupported).
func (m *Mounts) ReadFile(path string, limit int64) ([]byte, error) {
	f, err := m.Open(path)
	if err != nil {
		return nil, err
	}
	if f.Size() > limit {
		return nil, &iofs.PathError{Op: "read", Path: path, Err: unsupportedf("file of %d bytes exceeds the %d byte limit", f.Size(), limit)}
	}
	b := make([]byte, f.Size())
	if n, err := f.ReadAt(b, 0); err != nil && !(err == io.EOF && n == len(b)) {
		return nil, &iofs.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}

// StatFS reports statvfs(2) for the filesystem containing path.
func (m *Mounts) StatFS(path string) (st StatVFS, err error) {
	defer guardPath(&err, "statvfs", path)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("statvfs", path)
	fr, err := w.resolve(path, true)
	if err != nil {
		return st, err
	}
	st, err = fr.m.fs.StatFS()
	if err != nil {
		return st, w.fail(err)
	}
	return st, nil
}

// guardPath is guard for path operations: a panic becomes a PathError
// wrapping ErrCorrupt.
func guardPath(err *error, op, path string) {
	if r := recover(); r != nil {
		if onRecover != nil {
			onRecover(r)
		}
		*err = &iofs.PathError{Op: op, Path: path,
			Err: fmt.Errorf("internal error while reading untrusted image (%v): %w", r, ErrCorrupt)}
	}
}
