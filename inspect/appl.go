package inspect

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"gfs/appliance"
)

type applianceSource struct {
	h     *appliance.Handle
	mu    sync.Mutex
	blkid map[string]map[string]string
	lvs   []string
}

// NewApplianceSource reads through a launched appliance: every
// filesystem type its kernel mounts, btrfs subvolumes included. It
// unmounts whatever is mounted in the appliance.
func NewApplianceSource(h *appliance.Handle) Source {
	return &applianceSource{h: h, blkid: map[string]map[string]string{}}
}

func (s *applianceSource) Name() string { return "appliance" }

func (s *applianceSource) blk(ctx context.Context, dev string) map[string]string {
	s.mu.Lock()
	m, ok := s.blkid[dev]
	s.mu.Unlock()
	if ok {
		return m
	}
	m = map[string]string{}
	kv, err := s.h.Blkid(ctx, dev)
	if err == nil {
		for _, p := range kv {
			m[p[0]] = p[1]
		}
	}
	s.mu.Lock()
	s.blkid[dev] = m
	s.mu.Unlock()
	return m
}

// prefetch runs blkid on several devices at once: the agent serves
// calls concurrently, which hides the per-call latency.
func (s *applianceSource) prefetch(ctx context.Context, devs []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, d := range devs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.blk(ctx, d)
		}()
	}
	wg.Wait()
}

// Layout lists names only (cheap); partition offsets, GUIDs and MBR
// signatures, which only Windows drive mappings need, come from
// partitionDetails on demand.
func (s *applianceSource) Layout(ctx context.Context) (Layout, error) {
	var l Layout
	var err error
	if l.Devices, err = s.h.ListDevices(ctx); err != nil {
		return l, err
	}
	parts, err := s.h.ListPartitions(ctx)
	if err != nil {
		return l, err
	}
	// Every LV is listed by list-filesystems (type "unknown" if
	// empty), so Filesystems already found them.
	l.LVs = s.lvs
	for _, p := range parts {
		dev := strings.TrimRightFunc(p, func(r rune) bool { return r >= '0' && r <= '9' })
		if strings.HasSuffix(dev, "p") && strings.HasPrefix(p, "/dev/nvme") {
			dev = strings.TrimSuffix(dev, "p")
		}
		l.Partitions = append(l.Partitions, Partition{Name: p, Device: dev})
	}
	return l, nil
}

func (s *applianceSource) partitionDetails(ctx context.Context, l *Layout) {
	l.MBRSignatures = map[string][4]byte{}
	for _, dev := range l.Devices {
		b := s.blk(ctx, dev)
		if b["PTTYPE"] == "dos" {
			if raw, err := hex.DecodeString(b["PTUUID"]); err == nil && len(raw) == 4 {
				l.MBRSignatures[dev] = [4]byte{raw[3], raw[2], raw[1], raw[0]}
			}
		}
	}
	for i := range l.Partitions {
		b := s.blk(ctx, l.Partitions[i].Name)
		if off, err := strconv.ParseInt(b["PART_ENTRY_OFFSET"], 10, 64); err == nil {
			l.Partitions[i].Start = off * 512
		}
		if b["PART_ENTRY_SCHEME"] == "gpt" {
			l.Partitions[i].GUID = strings.ToUpper(b["PART_ENTRY_UUID"])
		}
	}
}

func (s *applianceSource) Filesystems(ctx context.Context) ([]Filesystem, error) {
	list, err := s.h.ListFilesystems(ctx)
	if err != nil {
		return nil, err
	}
	var devs []string
	for _, p := range list {
		devs = append(devs, p[0])
		if isLVName(p[0]) {
			s.lvs = append(s.lvs, p[0])
		}
	}
	s.prefetch(ctx, devs)
	var out []Filesystem
	for _, p := range list {
		dev, typ := p[0], p[1]
		f := Filesystem{Device: dev, Type: typ}
		b := s.blk(ctx, dev)
		f.Label, f.UUID = b["LABEL"], b["UUID"]
		f.PartUUID, f.PartLabel = b["PART_ENTRY_UUID"], b["PART_ENTRY_NAME"]
		out = append(out, f)
		if typ != "btrfs" {
			continue
		}
		subs, err := s.h.BtrfsSubvolumeList(ctx, dev)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dev, err)
		}
		for _, sv := range subs {
			out = append(out, Filesystem{Device: "btrfsvol:" + dev + "/" + sv.Path, Type: typ, Label: f.Label, UUID: f.UUID})
		}
	}
	return out, nil
}

func (s *applianceSource) Mount(ctx context.Context, mounts []Mount) (Tree, error) {
	if len(mounts) == 0 || mounts[0].Mountpoint != "/" {
		return nil, errors.New("inspect: the first mount must be /")
	}
	if err := s.h.UmountAll(ctx); err != nil {
		return nil, err
	}
	t := &applTree{h: s.h, failed: map[string]error{}}
	for i, m := range mounts {
		err := s.h.MountRo(ctx, m.Device, m.Mountpoint)
		if err == nil {
			continue
		}
		if ctx.Err() != nil || errors.Is(err, appliance.ErrAgentTimeout) || errors.Is(err, appliance.ErrNotLaunched) {
			return nil, err
		}
		if i == 0 {
			return nil, fmt.Errorf("%s: %v: %w", m.Device, err, ErrNotMountable)
		}
		t.failed[m.Mountpoint] = err
	}
	return t, nil
}

type applTree struct {
	h      *appliance.Handle
	failed map[string]error
}

func (t *applTree) Lstat(ctx context.Context, p string) (Stat, error) {
	st, err := t.h.Lstatns(ctx, p)
	return Stat{Mode: uint32(st.Mode), Size: st.Size}, err
}

func (t *applTree) Stat(ctx context.Context, p string) (Stat, error) {
	st, err := t.h.Statns(ctx, p)
	return Stat{Mode: uint32(st.Mode), Size: st.Size}, err
}

// capWriter keeps at most max bytes, then fails (which cancels the
// download) with errCapped.
type capWriter struct {
	buf []byte
	max int
}

var errCapped = errors.New("enough data")

func (w *capWriter) Write(b []byte) (int, error) {
	room := w.max - len(w.buf)
	if len(b) > room {
		w.buf = append(w.buf, b[:room]...)
		return room, errCapped
	}
	w.buf = append(w.buf, b...)
	return len(b), nil
}

func (t *applTree) ReadFile(ctx context.Context, p string, limit int64) ([]byte, error) {
	st, err := t.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	if !st.IsRegular() || st.Size > limit {
		return nil, fmt.Errorf("%s: not a regular file or %w", p, ErrTooLarge)
	}
	w := &capWriter{max: int(limit)}
	if err := t.h.Download(ctx, p, w); err != nil {
		if errors.Is(err, errCapped) {
			return nil, fmt.Errorf("%s: %w", p, ErrTooLarge)
		}
		return nil, err
	}
	return w.buf, nil
}

func (t *applTree) ReadHead(ctx context.Context, p string, n int) ([]byte, error) {
	st, err := t.Stat(ctx, p)
	if err != nil {
		return nil, err
	}
	if !st.IsRegular() {
		return nil, &appliance.Error{Op: "read", Errno: int(syscall.EINVAL), Msg: p + ": not a regular file"}
	}
	w := &capWriter{max: n}
	if err := t.h.Download(ctx, p, w); err != nil && !errors.Is(err, errCapped) {
		return nil, err
	}
	return w.buf, nil
}

func (t *applTree) ReadDir(ctx context.Context, p string) ([]DirEntry, error) {
	ents, err := t.h.Lstatnslist(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, 0, len(ents))
	for _, e := range ents {
		out = append(out, DirEntry{Name: e.Name, Type: uint32(e.Mode) & syscall.S_IFMT})
	}
	return out, nil
}

func (t *applTree) Readlink(ctx context.Context, p string) (string, error) {
	return t.h.Readlink(ctx, p)
}

func (t *applTree) Failed() map[string]error { return t.failed }

func (t *applTree) Close() error { return t.h.UmountAll(context.Background()) }

// isLVName recognises /dev/VG/LV.
func isLVName(d string) bool {
	rest, ok := strings.CutPrefix(d, "/dev/")
	if !ok || strings.HasPrefix(rest, "mapper/") || strings.HasPrefix(rest, "disk/") {
		return false
	}
	return strings.Count(rest, "/") == 1
}
