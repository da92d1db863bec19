package shell

// The VM-less backend: while the appliance is not running, read-only
// commands are answered by the pure-Go readers of package fs straight
// from the image files, in milliseconds instead of a boot. Anything they
// cannot answer exactly as the appliance would (a filesystem type they
// do not read, an image or layout they do not support, corrupt metadata,
// a write) returns an error wrapping errNeedAppliance, and the session
// runs the command again in the appliance. The replies are built to be
// byte-identical to the agent's: same JSON, same errno, same message.

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"gfs/appliance"
	"gfs/appliance/api"
	"gfs/appliance/proto"
	"gfs/fs"
)

// errNeedAppliance marks errors that mean "ask the appliance instead".
var errNeedAppliance = errors.New("needs the appliance")

type fallbackError struct{ why error }

func (e *fallbackError) Error() string        { return "needs the appliance: " + e.why.Error() }
func (e *fallbackError) Is(target error) bool { return target == errNeedAppliance }
func (e *fallbackError) Unwrap() error        { return e.why }

func needAppliance(format string, args ...any) error {
	return &fallbackError{fmt.Errorf(format, args...)}
}

// vmless is a Guest over the session's images.
type vmless struct {
	images []fs.Image
	disks  *fs.Disks
	mounts *fs.Mounts
	// order is the mounts made here, to rebuild the table on umount.
	order []vmMount
}

type vmMount struct{ dev, mountpoint string }

var _ Guest = (*vmless)(nil)

// openVMless opens the drives with the pure-Go readers. Any failure
// (another image format, a backing file, an unreadable layout) means
// this session needs the appliance.
func openVMless(drives []appliance.Drive, allowBacking bool) (_ *vmless, err error) {
	v := &vmless{}
	defer func() {
		if err != nil {
			v.close() // v, not the nil result: its images are open
			err = &fallbackError{err}
		}
	}()
	for _, d := range drives {
		img, err := fs.OpenImage(d.Path, d.Format, allowBacking)
		if err != nil {
			return nil, err
		}
		v.images = append(v.images, img)
	}
	v.disks, err = fs.OpenDisks(v.images)
	if err != nil {
		return nil, err
	}
	if probs := v.disks.Unsupported(); len(probs) > 0 {
		return nil, probs[0]
	}
	v.mounts = fs.NewMounts(v.disks)
	return v, nil
}

func (v *vmless) close() {
	for _, img := range v.images {
		img.Close()
	}
	v.images = nil
}

// guestErr turns a reader error into what the agent would have said for
// the same call, or into a fallback when the reader could not tell.
func guestErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if fs.NeedsFallback(err) {
		return &fallbackError{err}
	}
	var pe *iofs.PathError
	if errors.As(err, &pe) && errors.Is(pe.Err, fs.ErrNotAbsolute) {
		return &appliance.Error{Op: op, Errno: int(syscall.EINVAL), Msg: p + ": path must start with a / character"}
	}
	var en syscall.Errno
	if !errors.As(err, &en) {
		return &fallbackError{err}
	}
	return &appliance.Error{Op: op, Errno: int(en), Msg: p + ": " + proto.Strerror(en)}
}

// devNum is the device number the appliance's kernel gives a disk or
// partition (SCSI disk major 8, 16 minors per disk, extended minors
// beyond partition 15), so st_dev matches the appliance exactly.
func (v *vmless) devNum(dev string) (uint64, bool) {
	canon, err := v.disks.Canonical(dev)
	if err != nil {
		return 0, false
	}
	for i, d := range v.disks.Devices() {
		if canon == d {
			return mkdev(8, uint64(16*i)), true
		}
		if n, ok := strings.CutPrefix(canon, d); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			var part uint64
			fmt.Sscan(n, &part)
			if part > 15 || i > 15 {
				return 0, false // extended minors depend on probe order
			}
			return mkdev(8, uint64(16*i)+part), true
		}
	}
	return 0, false
}

// mkdev is glibc's makedev encoding.
func mkdev(major, minor uint64) uint64 {
	return (minor & 0xff) | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}

// statNS converts a reader stat, replacing the reader's private device
// id by the appliance's device number of the mounted device. That number
// is known for disks and partitions, not for LVs (device-mapper numbers
// depend on activation order in the appliance): with exactDev, an
// unknown one sends the call to the appliance; without (ll, filesize,
// copy-out, which never show st_dev) it is left 0.
//
// exactDev is also the stat commands' mark: on FAT they fall back too,
// as the kernel makes vfat inode numbers up in the order it looks files
// up, which no reader can reproduce.
func (v *vmless) statNS(p string, st fs.Stat, exactDev bool) (api.StatNS, error) {
	dev, ok, fstype := v.devOf(p, st.Dev)
	if !ok && exactDev {
		return api.StatNS{}, needAppliance("%s: device number of its filesystem unknown", p)
	}
	if exactDev && fstype == "vfat" {
		return api.StatNS{}, needAppliance("%s: vfat inode numbers are the appliance kernel's", p)
	}
	return api.StatNS{
		Dev: int64(dev), Ino: int64(st.Ino), Mode: int64(st.Mode), Nlink: int64(st.Nlink),
		UID: int64(st.Uid), GID: int64(st.Gid), Rdev: int64(st.Rdev), Size: st.Size,
		Blksize: st.Blksize, Blocks: st.Blocks,
		AtimeSec: st.Atime.Sec, AtimeNsec: st.Atime.Nsec,
		MtimeSec: st.Mtime.Sec, MtimeNsec: st.Mtime.Nsec,
		CtimeSec: st.Ctime.Sec, CtimeNsec: st.Ctime.Nsec,
	}, nil
}

// devOf maps the reader's device id of a stat to the device it is on.
// It also returns the filesystem type.
func (v *vmless) devOf(p string, readerDev uint64) (uint64, bool, string) {
	for _, mi := range v.mounts.Mountpoints() {
		st, err := v.mounts.Lstat(mi.Mountpoint)
		if err == nil && st.Dev == readerDev {
			dev, ok := v.devNum(mi.Device)
			return dev, ok, mi.Type
		}
	}
	return 0, false, ""
}

func (v *vmless) Statns(ctx context.Context, p string) (api.StatNS, error) {
	st, err := v.mounts.Stat(p)
	if err != nil {
		return api.StatNS{}, guestErr("statns", p, err)
	}
	return v.statNS(p, st, false)
}

func (v *vmless) Lstatns(ctx context.Context, p string) (api.StatNS, error) {
	st, err := v.mounts.Lstat(p)
	if err != nil {
		return api.StatNS{}, guestErr("lstatns", p, err)
	}
	return v.statNS(p, st, false)
}

// Lstatnslist mirrors the agent: the named entries, or every entry with
// "." and "..", sorted, with symlink targets.
func (v *vmless) Lstatnslist(ctx context.Context, dir string, names []string) ([]api.FileStat, error) {
	if len(names) == 0 {
		ents, err := v.mounts.ReadDir(dir)
		if err != nil {
			return nil, guestErr("lstatnslist", dir, err)
		}
		names = []string{".", ".."}
		for _, e := range ents {
			names = append(names, e.Name)
		}
		sort.Strings(names)
	} else if _, err := v.mounts.Stat(dir); err != nil {
		return nil, guestErr("lstatnslist", dir, err)
	}
	out := make([]api.FileStat, 0, len(names))
	for _, n := range names {
		p := path.Join(dir, n)
		if n == "." || n == ".." {
			p = dir + "/" + n
		}
		st, err := v.mounts.Lstat(p)
		if err != nil {
			return nil, guestErr("lstatnslist", path.Join(dir, n), err)
		}
		ns, err := v.statNS(p, st, false)
		if err != nil {
			return nil, err
		}
		fs := api.FileStat{Name: n, StatNS: ns}
		if st.IsSymlink() {
			fs.Link, _ = v.mounts.Readlink(p)
		}
		out = append(out, fs)
	}
	return out, nil
}

// countingWriter knows whether anything reached the caller (after the
// first byte a failure can no longer be retried in the appliance) and
// keeps w's own error, which is the destination's business (a full
// disk, head having its lines), not a reader failure.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

func (v *vmless) Download(ctx context.Context, p string, w io.Writer) error {
	f, err := v.mounts.Open(p)
	if err != nil {
		return guestErr("download", p, err)
	}
	cw := &countingWriter{w: w}
	_, err = io.Copy(cw, io.NewSectionReader(f, 0, f.Size()))
	if cw.err != nil {
		return cw.err
	}
	if err != nil && cw.n == 0 && fs.NeedsFallback(err) {
		return &fallbackError{err}
	}
	if err != nil {
		return &appliance.Error{Op: "download", Errno: int(syscall.EIO), Msg: p + ": " + err.Error()}
	}
	return nil
}

func (v *vmless) Upload(ctx context.Context, r io.Reader, p string) error {
	return needAppliance("upload writes")
}

func (v *vmless) TarIn(ctx context.Context, r io.Reader, dir string, opts map[string]any) error {
	return needAppliance("tar-in writes")
}

// TarOut writes what the agent's tar-out writes: members relative to
// the directory ("./", "./a", "./a/b"), or the file by its base name.
func (v *vmless) TarOut(ctx context.Context, dir string, w io.Writer, opts map[string]any) error {
	if len(opts) > 0 {
		return needAppliance("tar-out options")
	}
	st, err := v.mounts.Stat(dir)
	if err != nil {
		return guestErr("tar-out", dir, err)
	}
	tw := tar.NewWriter(w)
	if !st.IsDir() {
		if err := v.tarMember(tw, dir, path.Base(dir)); err != nil {
			return err
		}
		return tw.Close()
	}
	// The directory itself as the agent's tar-out has it: followed
	// when dir is a symbolic link to a directory.
	if err := v.tarMemberStat(tw, dir, "./", st); err != nil {
		return err
	}
	var walk func(p, rel string, depth int) error
	walk = func(p, rel string, depth int) error {
		if depth > 4096 {
			return needAppliance("%s: directory tree too deep", p)
		}
		ents, err := v.mounts.ReadDir(p)
		if err != nil {
			return guestErr("tar-out", p, err)
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
		for _, e := range ents {
			cp, crel := path.Join(p, e.Name), rel+e.Name
			st, err := v.mounts.Lstat(cp)
			if err != nil {
				return guestErr("tar-out", cp, err)
			}
			member := "./" + crel
			if st.IsDir() {
				member += "/"
			}
			if err := v.tarMember(tw, cp, member); err != nil {
				return err
			}
			if st.IsDir() {
				if err := walk(cp, crel+"/", depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(dir, "", 0); err != nil {
		return err
	}
	return tw.Close()
}

func (v *vmless) tarMember(tw *tar.Writer, p, member string) error {
	st, err := v.mounts.Lstat(p)
	if err != nil {
		return guestErr("tar-out", p, err)
	}
	return v.tarMemberStat(tw, p, member, st)
}

func (v *vmless) tarMemberStat(tw *tar.Writer, p, member string, st fs.Stat) (err error) {
	hdr := &tar.Header{
		Name: member, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtime.Sec, st.Mtime.Nsec), Format: tar.FormatPAX,
	}
	switch st.Mode & fs.S_IFMT {
	case fs.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
	case fs.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case fs.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = v.mounts.Readlink(p); err != nil {
			return guestErr("tar-out", p, err)
		}
	case fs.S_IFCHR, fs.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&fs.S_IFMT == fs.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		maj, min := devMajor(int64(st.Rdev)), devMinor(int64(st.Rdev))
		hdr.Devmajor, hdr.Devminor = int64(maj), int64(min)
	case fs.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := v.mounts.Open(p)
	if err != nil {
		return guestErr("tar-out", p, err)
	}
	_, err = io.Copy(tw, io.NewSectionReader(f, 0, hdr.Size))
	return err
}

// Call answers the agent calls the readers can answer exactly.
func (v *vmless) Call(ctx context.Context, name string, args []any, opts map[string]any, in io.Reader, out io.Writer) (json.RawMessage, error) {
	str := func(i int) string {
		if i < len(args) {
			s, _ := args[i].(string)
			return s
		}
		return ""
	}
	res, err := v.call(name, str, opts, out)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

func (v *vmless) call(name string, str func(int) string, opts map[string]any, out io.Writer) (any, error) {
	switch name {
	case "list-devices":
		return nonNil(v.disks.Devices()), nil
	case "list-partitions":
		names := []string{}
		for _, p := range v.disks.Partitions() {
			names = append(names, p.Name)
		}
		return names, nil
	case "part-get-parttype":
		canon, err := v.disks.Canonical(str(0))
		if err != nil || v.disks.PartitionTable(canon) == "" {
			return nil, needAppliance("part-get-parttype %s", str(0))
		}
		return v.disks.PartitionTable(canon), nil
	case "part-list":
		canon, err := v.disks.Canonical(str(0))
		if err != nil || v.disks.PartitionTable(canon) == "" {
			return nil, needAppliance("part-list %s", str(0))
		}
		out := []api.Partition{}
		for _, p := range v.disks.Partitions() {
			if p.Device == canon {
				out = append(out, api.Partition{Num: int32(p.Number), Start: p.Start, End: p.End, Size: p.Size})
			}
		}
		return out, nil
	case "lvs":
		names := []string{}
		for _, lv := range v.disks.LVs() {
			names = append(names, lv.Name)
		}
		sort.Strings(names)
		return names, nil
	case "list-filesystems":
		fss, err := v.disks.Filesystems()
		if err != nil {
			return nil, &fallbackError{err}
		}
		flat := []string{}
		for _, f := range fss {
			flat = append(flat, f.Device, f.Type)
		}
		return flat, nil
	case "vfs-type", "vfs-label", "vfs-uuid":
		info, err := v.disks.Probe(str(0))
		if err != nil {
			return nil, &fallbackError{err}
		}
		return map[string]string{"vfs-type": info.Type, "vfs-label": info.Label, "vfs-uuid": info.UUID}[name], nil
	case "mount", "mount-ro", "mount-options", "mount-vfs":
		return nil, v.mount(name, str, opts)
	case "umount":
		return nil, v.umount(str(0), opts)
	case "umount-all":
		v.mounts.UnmountAll()
		v.order = nil
		return nil, nil
	case "mounts", "mountpoints":
		flat := []string{}
		for _, m := range v.mounts.Mountpoints() {
			flat = append(flat, m.Device)
			if name == "mountpoints" {
				flat = append(flat, m.Mountpoint)
			}
		}
		return flat, nil
	case "download":
		return nil, v.Download(context.Background(), str(0), out)
	}
	if len(v.mounts.Mountpoints()) == 0 {
		// Nothing mounted: the agent would look into its empty /sysroot.
		return nil, needAppliance("%s with nothing mounted", name)
	}
	p := str(0)
	switch name {
	case "ls":
		ents, err := v.mounts.ReadDir(p)
		if err != nil {
			return nil, guestErr(name, p, err)
		}
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name)
		}
		sort.Strings(names)
		return names, nil
	case "find":
		return v.find(p)
	case "readlink":
		// The agent cleans the path lexically and reads the link in its
		// parent directory, so "/" and "/etc/.." have no link to read.
		clean := p
		if strings.HasPrefix(p, "/") {
			if clean = path.Clean(p); clean == "/" {
				return nil, &appliance.Error{Op: name, Errno: int(syscall.EINVAL), Msg: p + ": cannot operate on the root directory"}
			}
		}
		t, err := v.mounts.Readlink(clean)
		return t, guestErr(name, p, err)
	case "stat", "statns", "lstat", "lstatns":
		var st fs.Stat
		var err error
		if strings.HasPrefix(name, "l") {
			st, err = v.mounts.Lstat(p)
		} else {
			st, err = v.mounts.Stat(p)
		}
		if err != nil {
			return nil, guestErr(name, p, err)
		}
		ns, err := v.statNS(p, st, true)
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(name, "ns") {
			return ns.Stat(), nil
		}
		return ns, nil
	case "exists":
		_, err := v.mounts.Stat(p)
		return existsAnswer(name, p, err)
	case "is-file", "is-dir", "is-symlink", "is-blockdev", "is-chardev", "is-fifo", "is-socket":
		follow, _ := opts["followsymlinks"].(bool)
		var st fs.Stat
		var err error
		if follow && name != "is-symlink" {
			st, err = v.mounts.Stat(p)
		} else {
			st, err = v.mounts.Lstat(p)
		}
		if err != nil {
			return existsAnswer(name, p, err)
		}
		want := map[string]uint32{"is-file": fs.S_IFREG, "is-dir": fs.S_IFDIR, "is-symlink": fs.S_IFLNK,
			"is-blockdev": fs.S_IFBLK, "is-chardev": fs.S_IFCHR, "is-fifo": fs.S_IFIFO, "is-socket": fs.S_IFSOCK}[name]
		return st.Mode&fs.S_IFMT == want, nil
	}
	return nil, needAppliance("%s is answered by the appliance", name)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// existsAnswer: "not there" is false, as in the agent; a real failure
// stays an error.
func existsAnswer(op, p string, err error) (any, error) {
	if err == nil {
		return true, nil
	}
	if !fs.NeedsFallback(err) {
		var en syscall.Errno
		if errors.As(err, &en) && (en == syscall.ENOENT || en == syscall.ENOTDIR || en == syscall.ELOOP) {
			return false, nil
		}
	}
	return nil, guestErr(op, p, err)
}

// find lists everything below dir with a leading slash, sorted, as the
// agent does; symlinks are not followed.
func (v *vmless) find(dir string) ([]string, error) {
	if st, err := v.mounts.Stat(dir); err != nil {
		return nil, guestErr("find", dir, err)
	} else if !st.IsDir() {
		return nil, guestErr("find", dir, &iofs.PathError{Op: "find", Path: dir, Err: syscall.ENOTDIR})
	}
	out := []string{}
	// dir may be (or go through) a symbolic link: walk where it leads,
	// as the agent does, and name entries relative to that.
	root, err := v.mounts.Realpath(dir)
	if err != nil {
		return nil, guestErr("find", dir, err)
	}
	lead := "/" // none after a trailing slash, as the agent does
	if strings.HasSuffix(dir, "/") {
		lead = ""
	}
	err = v.mounts.Walk(root, func(p string, st fs.Stat, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(path.Clean(p), root), "/")
		if rel != "" {
			out = append(out, lead+rel)
		}
		return nil
	})
	if err != nil {
		return nil, guestErr("find", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// harmlessOptions do not change what a read-only reader reports.
var harmlessOptions = map[string]bool{"": true, "ro": true, "rw": true, "defaults": true, "noatime": true,
	"relatime": true, "nodiratime": true, "strictatime": true, "lazytime": true, "nodev": true, "nosuid": true,
	"noexec": true, "dev": true, "suid": true, "exec": true, "auto": true, "noauto": true, "nofail": true,
	"sync": true, "async": true, "norecovery": true, "noload": true, "user_xattr": true, "acl": true}

func (v *vmless) mount(name string, str func(int) string, opts map[string]any) error {
	var options, vfstype, dev, mp string
	switch name {
	case "mount", "mount-ro":
		dev, mp = str(0), str(1)
	case "mount-options":
		options, dev, mp = str(0), str(1), str(2)
	case "mount-vfs":
		options, vfstype, dev, mp = str(0), str(1), str(2), str(3)
	}
	for _, o := range strings.Split(options, ",") {
		if !harmlessOptions[strings.TrimSpace(o)] {
			return needAppliance("mount option %q", o)
		}
	}
	if vfstype != "" {
		info, err := v.disks.Probe(dev)
		if err != nil || info.Type != vfstype {
			return needAppliance("mount-vfs %s", vfstype)
		}
	}
	if err := v.mounts.Mount(dev, mp); err != nil {
		return &fallbackError{err}
	}
	v.order = append(v.order, vmMount{dev, mp})
	return nil
}

// umount rebuilds the table without the unmounted entry (the reader's
// table has no single unmount; mounts are cheap to redo).
func (v *vmless) umount(target string, opts map[string]any) error {
	idx := -1
	for i := len(v.order) - 1; i >= 0; i-- {
		m := v.order[i]
		if m.mountpoint == target || path.Clean(m.mountpoint) == path.Clean(target) || m.dev == target {
			idx = i
			break
		}
	}
	if idx < 0 {
		return needAppliance("umount %s: not mounted here", target)
	}
	rest := append(append([]vmMount(nil), v.order[:idx]...), v.order[idx+1:]...)
	v.mounts.UnmountAll()
	v.order = nil
	for _, m := range rest {
		if err := v.mounts.Mount(m.dev, m.mountpoint); err != nil {
			return &fallbackError{err}
		}
		v.order = append(v.order, m)
	}
	return nil
}
