package inspect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gfs/fs"
)

// FallbackError wraps an error of the VM-less reader that means "the
// appliance must answer instead" (unsupported filesystem or layout,
// corrupt or unexpected metadata).
type FallbackError struct{ Err error }

func (e *FallbackError) Error() string { return e.Err.Error() }
func (e *FallbackError) Unwrap() error { return e.Err }

func fallback(err error) error {
	if err == nil {
		return nil
	}
	var fe *FallbackError
	if errors.As(err, &fe) {
		return err
	}
	return &FallbackError{err}
}

// fsErr passes authoritative POSIX answers through and marks everything
// else as needing the appliance.
func fsErr(err error) error {
	if err == nil || !fs.NeedsFallback(err) {
		return err
	}
	return fallback(err)
}

// notMountableTypes cannot be mounted by the appliance either.
var notMountableTypes = map[string]bool{
	"": true, "unknown": true, "swap": true, "crypto_LUKS": true, "LVM2_member": true,
	"linux_raid_member": true, "BitLocker": true, "zfs_member": true,
}

type disksSource struct {
	d     *fs.Disks
	mu    sync.Mutex
	cache map[string]fs.FS
	fss   map[string]Filesystem
}

// NewDisksSource reads through the VM-less reader. Errors it returns
// (wrapping FallbackError) mean the appliance must be asked instead.
func NewDisksSource(d *fs.Disks) Source {
	return &disksSource{d: d, cache: map[string]fs.FS{}, fss: map[string]Filesystem{}}
}

func (s *disksSource) Name() string { return "vm-less" }

func (s *disksSource) Layout(ctx context.Context) (Layout, error) {
	var l Layout
	l.Devices = s.d.Devices()
	l.MBRSignatures = map[string][4]byte{}
	for _, dev := range l.Devices {
		if s.d.PartitionTable(dev) != "msdos" {
			continue
		}
		r, _, err := s.d.Device(dev)
		if err != nil {
			return l, fallback(err)
		}
		var sig [4]byte
		if _, err := r.ReadAt(sig[:], 0x1b8); err != nil {
			return l, fallback(err)
		}
		l.MBRSignatures[dev] = sig
	}
	for _, p := range s.d.Partitions() {
		l.Partitions = append(l.Partitions, Partition{Name: p.Name, Device: p.Device, Start: p.Start, GUID: strings.ToUpper(p.GPTGUID)})
	}
	for _, lv := range s.d.LVs() {
		l.LVs = append(l.LVs, lv.Name)
	}
	return l, nil
}

func (s *disksSource) Filesystems(ctx context.Context) ([]Filesystem, error) {
	if u := s.d.Unsupported(); len(u) > 0 {
		return nil, fallback(u[0])
	}
	list, err := s.d.Filesystems()
	if err != nil {
		return nil, fallback(err)
	}
	parts := map[string]fs.Partition{}
	for _, p := range s.d.Partitions() {
		parts[p.Name] = p
	}
	var out []Filesystem
	for _, f := range list {
		fi := Filesystem{Device: f.Device, Type: f.Type}
		if f.Type != "unknown" {
			info, err := s.d.Probe(f.Device)
			if err != nil {
				return nil, fallback(fmt.Errorf("%s: %w", f.Device, err))
			}
			fi.Label, fi.UUID = info.Label, info.UUID
		}
		if p, ok := parts[f.Device]; ok {
			if p.Table == "gpt" {
				fi.PartUUID, fi.PartLabel = strings.ToLower(p.GPTGUID), p.GPTName
			} else {
				r, _, err := s.d.Device(p.Device)
				if err != nil {
					return nil, fallback(err)
				}
				var sig [4]byte
				if _, err := r.ReadAt(sig[:], 0x1b8); err != nil {
					return nil, fallback(err)
				}
				fi.PartUUID = fmt.Sprintf("%02x%02x%02x%02x-%02x", sig[3], sig[2], sig[1], sig[0], p.Number)
			}
		}
		out = append(out, fi)
		s.fss[f.Device] = fi
	}
	return out, nil
}

// open returns the (cached) filesystem reader of a mountable.
func (s *disksSource) open(dev string) (fs.FS, error) {
	if strings.HasPrefix(dev, "btrfsvol:") {
		return nil, fallback(fmt.Errorf("%s: btrfs: %w", dev, fs.ErrUnsupported))
	}
	canon, err := s.d.Canonical(dev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dev, ErrNotMountable)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.cache[canon]; f != nil {
		return f, nil
	}
	typ := ""
	if fi, ok := s.fss[canon]; ok {
		typ = fi.Type
	} else if info, err := s.d.Probe(canon); err == nil {
		typ = info.Type
	} else {
		return nil, fallback(err)
	}
	if notMountableTypes[typ] {
		return nil, fmt.Errorf("%s (%s): %w", dev, typ, ErrNotMountable)
	}
	r, size, err := s.d.Device(canon)
	if err != nil {
		return nil, fallback(err)
	}
	f, err := fs.Mount(r, size)
	if err != nil {
		return nil, fallback(fmt.Errorf("%s (%s): %w", dev, typ, err))
	}
	s.cache[canon] = f
	return f, nil
}

func (s *disksSource) Mount(ctx context.Context, mounts []Mount) (Tree, error) {
	if len(mounts) == 0 || mounts[0].Mountpoint != "/" {
		return nil, errors.New("inspect: the first mount must be /")
	}
	m := fs.NewMounts(s.d)
	t := &fsTree{m: m, failed: map[string]error{}}
	for i, mt := range mounts {
		f, err := s.open(mt.Device)
		if err == nil {
			canon, _ := s.d.Canonical(mt.Device)
			err = fsErr(m.MountFS(f, canon, mt.Mountpoint))
		}
		if err == nil {
			continue
		}
		if i == 0 || !(errors.Is(err, ErrNotMountable) || absent(err)) {
			return nil, err
		}
		t.failed[mt.Mountpoint] = err
	}
	return t, nil
}

type fsTree struct {
	m      *fs.Mounts
	failed map[string]error
}

func toStat(st fs.Stat) Stat { return Stat{Mode: st.Mode, Size: st.Size} }

func (t *fsTree) Lstat(ctx context.Context, p string) (Stat, error) {
	st, err := t.m.Lstat(p)
	return toStat(st), fsErr(err)
}

func (t *fsTree) Stat(ctx context.Context, p string) (Stat, error) {
	st, err := t.m.Stat(p)
	return toStat(st), fsErr(err)
}

func (t *fsTree) ReadFile(ctx context.Context, p string, limit int64) ([]byte, error) {
	st, err := t.m.Stat(p)
	if err != nil {
		return nil, fsErr(err)
	}
	if !st.IsRegular() || st.Size > limit {
		return nil, fmt.Errorf("%s: not a regular file or %w", p, ErrTooLarge)
	}
	b, err := t.m.ReadFile(p, limit)
	return b, fsErr(err)
}

func (t *fsTree) ReadHead(ctx context.Context, p string, n int) ([]byte, error) {
	f, err := t.m.Open(p)
	if err != nil {
		return nil, fsErr(err)
	}
	size := f.Size()
	if size < int64(n) {
		n = int(max(size, 0))
	}
	buf := make([]byte, n)
	k, err := f.ReadAt(buf, 0)
	if k == n {
		return buf, nil
	}
	return nil, fallback(fmt.Errorf("%s: %w", p, err))
}

func (t *fsTree) ReadDir(ctx context.Context, p string) ([]DirEntry, error) {
	ents, err := t.m.ReadDir(p)
	if err != nil {
		return nil, fsErr(err)
	}
	out := make([]DirEntry, len(ents))
	for i, e := range ents {
		out[i] = DirEntry{Name: e.Name, Type: e.Type}
	}
	return out, nil
}

func (t *fsTree) Readlink(ctx context.Context, p string) (string, error) {
	s, err := t.m.Readlink(p)
	return s, fsErr(err)
}

func (t *fsTree) Failed() map[string]error { return t.failed }

func (t *fsTree) Close() error {
	t.m.UnmountAll()
	return nil
}
