package agent

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
	"gfs/fs"
)

func init() {
	handle("vfs-type", func(c *call) (any, error) { return blkidValue(c, c.str(0), "TYPE") })
	handle("vfs-label", func(c *call) (any, error) { return blkidValue(c, c.str(0), "LABEL") })
	handle("vfs-uuid", func(c *call) (any, error) { return blkidValue(c, c.str(0), "UUID") })
	handle("blkid", func(c *call) (any, error) { return blkidAll(c, c.str(0)) })
	handle("list-filesystems", func(c *call) (any, error) { return listFilesystems(c) })
}

// blkid runs blkid in low-level probe mode without a cache, so it reads
// the device itself rather than stale cached answers.
func blkidExport(ctx context.Context, devs ...string) (map[string]map[string]string, error) {
	res, err := blkidExportOnce(ctx, devs...)
	if err != nil || len(devs) < 2 {
		return res, err
	}
	// In low-level probe mode blkid stops at the first device where it
	// recognises nothing (exit 2), so the devices after it are missing
	// from the output: ask again for each of those.
	for _, d := range devs {
		if _, ok := res[d]; ok {
			continue
		}
		one, err := blkidExportOnce(ctx, d)
		if err != nil {
			return nil, err
		}
		for k, v := range one {
			res[k] = v
		}
	}
	return res, nil
}

func blkidExportOnce(ctx context.Context, devs ...string) (map[string]map[string]string, error) {
	args := append([]string{"-c", "/dev/null", "-p", "-o", "export"}, devs...)
	out, err := run(ctx, "blkid", args...)
	// blkid exits 2 when a device holds nothing it recognises: that is an
	// answer (no filesystem), not a failure. Only a missing blkid is.
	if pe, ok := err.(*proto.Error); ok && pe.Errno == int(syscall.ENOENT) {
		return nil, err
	}
	res := map[string]map[string]string{}
	var cur map[string]string
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			cur = nil
			continue
		}
		if k == "DEVNAME" {
			cur = map[string]string{}
			res[v] = cur
		}
		if cur != nil {
			cur[k] = v
		}
	}
	return res, nil
}

func blkidValue(c *call, dev, key string) (string, error) {
	src, _, err := resolveMountable(dev)
	if err != nil {
		return "", err
	}
	m, err := blkidExport(c.ctx, src)
	if err != nil {
		return "", err
	}
	return m[src][key], nil
}

func vfsType(ctx context.Context, dev string) (string, error) {
	m, err := blkidExport(ctx, dev)
	if err != nil {
		return "", err
	}
	return m[dev]["TYPE"], nil
}

// blkidAll returns blkid's key/value pairs in its own order, flattened
// (key, value, key, value…) as libguestfs hashtables are.
func blkidAll(c *call, dev string) ([]string, error) {
	if err := checkDevice(dev); err != nil {
		return nil, err
	}
	out, err := run(c.ctx, "blkid", "-c", "/dev/null", "-p", "-i", "-o", "export", dev)
	if err != nil && out == "" {
		return nil, err
	}
	var kv []string
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "DEVNAME" {
			kv = append(kv, k, v)
		}
	}
	return kv, nil
}

// resolveMountable accepts a device or a btrfs subvolume written as
// btrfsvol:/dev/sda1/path, and returns the device and subvolume.
func resolveMountable(m string) (dev, subvol string, err error) {
	if rest, ok := strings.CutPrefix(m, "btrfsvol:"); ok {
		parts := strings.SplitN(strings.TrimPrefix(rest, "/dev/"), "/", 2)
		if len(parts) != 2 {
			return "", "", &proto.Error{Errno: int(syscall.EINVAL), Message: m + ": bad btrfsvol mountable"}
		}
		dev = "/dev/" + parts[0]
		subvol = parts[1]
	} else {
		dev = m
	}
	// checkDevice activates LVM if dev is a /dev/VG/LV not there yet.
	if err := checkDevice(dev); err != nil {
		return "", "", err
	}
	return dev, subvol, nil
}

// canonicalDevice names a device the way libguestfs prints it: LVs as
// /dev/VG/LV whatever path reached them.
func canonicalDevice(dev string) string {
	name := kernelName(dev)
	if strings.HasPrefix(name, "dm-") {
		uuid, _ := os.ReadFile("/sys/block/" + name + "/dm/uuid")
		dmName, _ := os.ReadFile("/sys/block/" + name + "/dm/name")
		if strings.HasPrefix(string(uuid), "LVM-") {
			if vg, lv, ok := fs.SplitMapperName(strings.TrimSpace(string(dmName))); ok {
				return "/dev/" + vg + "/" + lv
			}
		}
		return "/dev/mapper/" + strings.TrimSpace(string(dmName))
	}
	if name != "" {
		return "/dev/" + name
	}
	return dev
}

// kernelName is the kernel's name for a block device node (sda1, dm-0),
// found through its device number: without udev, LVM makes its own
// nodes and links, so names alone do not tell.
func kernelName(dev string) string {
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return ""
	}
	link, err := os.Readlink(fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	if err != nil {
		return ""
	}
	return path.Base(link)
}

// Read-only drives: the host lists them on the kernel command line
// (gfs.ro=sda,sdc). Their writes would land in a throwaway overlay, so
// the agent mounts their filesystems read-only and refuses device writes.
var (
	roOnce  sync.Once
	roDisks map[string]bool
)

func readOnlyDisks() map[string]bool {
	roOnce.Do(func() {
		roDisks = map[string]bool{}
		cmdline, _ := os.ReadFile("/proc/cmdline")
		for _, f := range strings.Fields(string(cmdline)) {
			if v, ok := strings.CutPrefix(f, "gfs.ro="); ok {
				for _, d := range strings.Split(v, ",") {
					roDisks[d] = true
				}
			}
		}
	})
	return roDisks
}

// isReadOnlyDevice follows partitions to their disk and device-mapper
// devices to the disks below them.
func isReadOnlyDevice(dev string) bool {
	name := kernelName(dev)
	return name != "" && readOnlyBelow(name, 0)
}

func readOnlyBelow(name string, depth int) bool {
	if depth > 16 {
		return false
	}
	if m := partName.FindStringSubmatch("/dev/" + name); m != nil {
		name = path.Base(m[1])
	}
	if readOnlyDisks()[name] {
		return true
	}
	slaves, _ := os.ReadDir("/sys/block/" + name + "/slaves")
	for _, s := range slaves {
		if readOnlyBelow(s.Name(), depth+1) {
			return true
		}
	}
	return false
}

// checkWritable refuses device-level writes to read-only drives.
func checkWritable(dev string) error {
	if err := checkDevice(dev); err != nil {
		return err
	}
	if isReadOnlyDevice(dev) {
		return &proto.Error{Errno: int(syscall.EROFS), Message: dev + ": " + proto.Strerror(syscall.EROFS) + " (the drive was added read-only)"}
	}
	return nil
}
