package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"gfs/appliance/api"
)

// The typed Go API: one method per agent command of the table in
// appliance/api, under the guestfish name in CamelCase, arguments in
// guestfish order. Optional arguments come as a map (nil for none).
// TestTypedAPIMatchesTable keeps these in step with the table.

func (h *Handle) do(ctx context.Context, name string, args ...any) error {
	_, err := h.Call(ctx, name, args, nil, nil, nil)
	return err
}

func callAs[T any](ctx context.Context, h *Handle, name string, opts map[string]any, args ...any) (T, error) {
	var v T
	res, err := h.Call(ctx, name, args, opts, nil, nil)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(res, &v); err != nil {
		return v, fmt.Errorf("%s: decode result: %w", name, err)
	}
	return v, nil
}

// pairs turns a flattened hashtable (k, v, k, v…) into ordered pairs.
func pairs(flat []string) [][2]string {
	out := make([][2]string, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		out = append(out, [2]string{flat[i], flat[i+1]})
	}
	return out
}

// Devices and partitions.
func (h *Handle) ListDevices(ctx context.Context) ([]string, error) {
	return callAs[[]string](ctx, h, "list-devices", nil)
}
func (h *Handle) ListPartitions(ctx context.Context) ([]string, error) {
	return callAs[[]string](ctx, h, "list-partitions", nil)
}

// ListFilesystems returns (device, type) pairs in libguestfs order.
func (h *Handle) ListFilesystems(ctx context.Context) ([][2]string, error) {
	flat, err := callAs[[]string](ctx, h, "list-filesystems", nil)
	return pairs(flat), err
}
func (h *Handle) BlockdevGetsize64(ctx context.Context, dev string) (int64, error) {
	return callAs[int64](ctx, h, "blockdev-getsize64", nil, dev)
}
func (h *Handle) PartInit(ctx context.Context, dev, parttype string) error {
	return h.do(ctx, "part-init", dev, parttype)
}
func (h *Handle) PartAdd(ctx context.Context, dev, prlogex string, start, end int64) error {
	return h.do(ctx, "part-add", dev, prlogex, start, end)
}
func (h *Handle) PartDisk(ctx context.Context, dev, parttype string) error {
	return h.do(ctx, "part-disk", dev, parttype)
}
func (h *Handle) PartList(ctx context.Context, dev string) ([]api.Partition, error) {
	return callAs[[]api.Partition](ctx, h, "part-list", nil, dev)
}
func (h *Handle) PartGetParttype(ctx context.Context, dev string) (string, error) {
	return callAs[string](ctx, h, "part-get-parttype", nil, dev)
}

// Filesystems.
func (h *Handle) Mkfs(ctx context.Context, fstype, dev string, opts map[string]any) error {
	_, err := h.Call(ctx, "mkfs", []any{fstype, dev}, opts, nil, nil)
	return err
}
func (h *Handle) Mkswap(ctx context.Context, dev string, opts map[string]any) error {
	_, err := h.Call(ctx, "mkswap", []any{dev}, opts, nil, nil)
	return err
}
func (h *Handle) VfsType(ctx context.Context, dev string) (string, error) {
	return callAs[string](ctx, h, "vfs-type", nil, dev)
}
func (h *Handle) VfsLabel(ctx context.Context, dev string) (string, error) {
	return callAs[string](ctx, h, "vfs-label", nil, dev)
}
func (h *Handle) VfsUUID(ctx context.Context, dev string) (string, error) {
	return callAs[string](ctx, h, "vfs-uuid", nil, dev)
}

// BtrfsSubvolumeList lists the subvolumes of the btrfs filesystem on dev.
func (h *Handle) BtrfsSubvolumeList(ctx context.Context, dev string) ([]api.BTRFSSubvolume, error) {
	return callAs[[]api.BTRFSSubvolume](ctx, h, "btrfs-subvolume-list", nil, dev)
}
func (h *Handle) Blkid(ctx context.Context, dev string) ([][2]string, error) {
	flat, err := callAs[[]string](ctx, h, "blkid", nil, dev)
	return pairs(flat), err
}
func (h *Handle) Statvfs(ctx context.Context, path string) (api.StatVFS, error) {
	return callAs[api.StatVFS](ctx, h, "statvfs", nil, path)
}
func (h *Handle) Df(ctx context.Context) (string, error) { return callAs[string](ctx, h, "df", nil) }
func (h *Handle) Sync(ctx context.Context) error         { return h.do(ctx, "sync") }

// Mounting.
func (h *Handle) Mount(ctx context.Context, dev, mountpoint string) error {
	return h.do(ctx, "mount", dev, mountpoint)
}
func (h *Handle) MountRo(ctx context.Context, dev, mountpoint string) error {
	return h.do(ctx, "mount-ro", dev, mountpoint)
}
func (h *Handle) MountOptions(ctx context.Context, options, dev, mountpoint string) error {
	return h.do(ctx, "mount-options", options, dev, mountpoint)
}
func (h *Handle) Umount(ctx context.Context, pathOrDevice string) error {
	return h.do(ctx, "umount", pathOrDevice)
}
func (h *Handle) UmountAll(ctx context.Context) error { return h.do(ctx, "umount-all") }
func (h *Handle) Mounts(ctx context.Context) ([]string, error) {
	return callAs[[]string](ctx, h, "mounts", nil)
}
func (h *Handle) Mountpoints(ctx context.Context) ([][2]string, error) {
	flat, err := callAs[[]string](ctx, h, "mountpoints", nil)
	return pairs(flat), err
}

// LVM.
func (h *Handle) Pvs(ctx context.Context) ([]string, error) {
	return callAs[[]string](ctx, h, "pvs", nil)
}
func (h *Handle) Vgs(ctx context.Context) ([]string, error) {
	return callAs[[]string](ctx, h, "vgs", nil)
}
func (h *Handle) Lvs(ctx context.Context) ([]string, error) {
	return callAs[[]string](ctx, h, "lvs", nil)
}
func (h *Handle) PvsFull(ctx context.Context) ([]api.PV, error) {
	return callAs[[]api.PV](ctx, h, "pvs-full", nil)
}
func (h *Handle) VgsFull(ctx context.Context) ([]api.VG, error) {
	return callAs[[]api.VG](ctx, h, "vgs-full", nil)
}
func (h *Handle) LvsFull(ctx context.Context) ([]api.LV, error) {
	return callAs[[]api.LV](ctx, h, "lvs-full", nil)
}
func (h *Handle) Pvcreate(ctx context.Context, dev string) error { return h.do(ctx, "pvcreate", dev) }
func (h *Handle) Vgcreate(ctx context.Context, vg string, pvs []string) error {
	return h.do(ctx, "vgcreate", vg, pvs)
}
func (h *Handle) Lvcreate(ctx context.Context, lv, vg string, mbytes int) error {
	return h.do(ctx, "lvcreate", lv, vg, mbytes)
}
func (h *Handle) LvcreateFree(ctx context.Context, lv, vg string, percent int) error {
	return h.do(ctx, "lvcreate-free", lv, vg, percent)
}
func (h *Handle) VgActivateAll(ctx context.Context, activate bool) error {
	return h.do(ctx, "vg-activate-all", activate)
}

// Files.
func (h *Handle) Ls(ctx context.Context, dir string) ([]string, error) {
	return callAs[[]string](ctx, h, "ls", nil, dir)
}
func (h *Handle) Lstatnslist(ctx context.Context, dir string, names []string) ([]api.FileStat, error) {
	if names == nil {
		names = []string{}
	}
	return callAs[[]api.FileStat](ctx, h, "lstatnslist", nil, dir, names)
}
func (h *Handle) Find(ctx context.Context, dir string) ([]string, error) {
	return callAs[[]string](ctx, h, "find", nil, dir)
}
func (h *Handle) GlobExpand(ctx context.Context, pattern string) ([]string, error) {
	return callAs[[]string](ctx, h, "glob-expand", nil, pattern)
}

// Download streams a guest file into w.
func (h *Handle) Download(ctx context.Context, path string, w io.Writer) error {
	_, err := h.Call(ctx, "download", []any{path}, nil, nil, w)
	return err
}

// Upload streams r into a guest file, replacing it.
func (h *Handle) Upload(ctx context.Context, r io.Reader, path string) error {
	_, err := h.Call(ctx, "upload", []any{path}, nil, r, nil)
	return err
}

// Cat returns a guest file as a string.
func (h *Handle) Cat(ctx context.Context, path string) (string, error) {
	b, err := h.ReadFile(ctx, path)
	return string(b), err
}

// ReadFile returns a guest file's content.
func (h *Handle) ReadFile(ctx context.Context, path string) ([]byte, error) {
	var buf bytes.Buffer
	err := h.Download(ctx, path, &buf)
	return buf.Bytes(), err
}

func (h *Handle) Write(ctx context.Context, path string, content []byte) error {
	return h.do(ctx, "write", path, string(content))
}
func (h *Handle) WriteAppend(ctx context.Context, path string, content []byte) error {
	return h.do(ctx, "write-append", path, string(content))
}
func (h *Handle) Mkdir(ctx context.Context, path string) error  { return h.do(ctx, "mkdir", path) }
func (h *Handle) MkdirP(ctx context.Context, path string) error { return h.do(ctx, "mkdir-p", path) }
func (h *Handle) Rm(ctx context.Context, path string) error     { return h.do(ctx, "rm", path) }
func (h *Handle) RmF(ctx context.Context, path string) error    { return h.do(ctx, "rm-f", path) }
func (h *Handle) RmRf(ctx context.Context, path string) error   { return h.do(ctx, "rm-rf", path) }
func (h *Handle) Rmdir(ctx context.Context, path string) error  { return h.do(ctx, "rmdir", path) }
func (h *Handle) Mv(ctx context.Context, src, dest string) error {
	return h.do(ctx, "mv", src, dest)
}
func (h *Handle) Cp(ctx context.Context, src, dest string) error { return h.do(ctx, "cp", src, dest) }
func (h *Handle) CpA(ctx context.Context, src, dest string) error {
	return h.do(ctx, "cp-a", src, dest)
}
func (h *Handle) Chmod(ctx context.Context, mode int, path string) error {
	return h.do(ctx, "chmod", mode, path)
}
func (h *Handle) Chown(ctx context.Context, owner, group int, path string) error {
	return h.do(ctx, "chown", owner, group, path)
}
func (h *Handle) Touch(ctx context.Context, path string) error    { return h.do(ctx, "touch", path) }
func (h *Handle) Truncate(ctx context.Context, path string) error { return h.do(ctx, "truncate", path) }
func (h *Handle) TruncateSize(ctx context.Context, path string, size int64) error {
	return h.do(ctx, "truncate-size", path, size)
}
func (h *Handle) Stat(ctx context.Context, path string) (api.Stat, error) {
	return callAs[api.Stat](ctx, h, "stat", nil, path)
}
func (h *Handle) Lstat(ctx context.Context, path string) (api.Stat, error) {
	return callAs[api.Stat](ctx, h, "lstat", nil, path)
}
func (h *Handle) Statns(ctx context.Context, path string) (api.StatNS, error) {
	return callAs[api.StatNS](ctx, h, "statns", nil, path)
}
func (h *Handle) Lstatns(ctx context.Context, path string) (api.StatNS, error) {
	return callAs[api.StatNS](ctx, h, "lstatns", nil, path)
}
func (h *Handle) Exists(ctx context.Context, path string) (bool, error) {
	return callAs[bool](ctx, h, "exists", nil, path)
}
func (h *Handle) IsFile(ctx context.Context, path string) (bool, error) {
	return callAs[bool](ctx, h, "is-file", nil, path)
}
func (h *Handle) IsDir(ctx context.Context, path string) (bool, error) {
	return callAs[bool](ctx, h, "is-dir", nil, path)
}
func (h *Handle) IsSymlink(ctx context.Context, path string) (bool, error) {
	return callAs[bool](ctx, h, "is-symlink", nil, path)
}
func (h *Handle) Readlink(ctx context.Context, path string) (string, error) {
	return callAs[string](ctx, h, "readlink", nil, path)
}
func (h *Handle) LnS(ctx context.Context, target, linkname string) error {
	return h.do(ctx, "ln-s", target, linkname)
}

// TarIn unpacks a tar stream into a guest directory; opts may set
// compress (gzip, bzip2, xz, zstd).
func (h *Handle) TarIn(ctx context.Context, r io.Reader, dir string, opts map[string]any) error {
	_, err := h.Call(ctx, "tar-in", []any{dir}, opts, r, nil)
	return err
}

// TarOut packs a guest directory as a tar stream into w.
func (h *Handle) TarOut(ctx context.Context, dir string, w io.Writer, opts map[string]any) error {
	_, err := h.Call(ctx, "tar-out", []any{dir}, opts, nil, w)
	return err
}
