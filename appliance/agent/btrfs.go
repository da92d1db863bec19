package agent

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() {
	handle("btrfs-subvolume-list", func(c *call) (any, error) { return btrfsSubvolumeList(c, c.str(0)) })
}

// btrfsSubvolume is one row of btrfs-subvolume-list (api.BTRFSSubvolume).
type btrfsSubvolume struct {
	ID       int64  `json:"btrfssubvolume_id"`
	TopLevel int64  `json:"btrfssubvolume_top_level_id"`
	Path     string `json:"btrfssubvolume_path"`
}

// btrfsSubvolumeList lists every subvolume of the btrfs filesystem on a
// device. The top level (subvolid=5) is mounted read-only on a private
// directory, so the guest mounts under /sysroot are not disturbed.
func btrfsSubvolumeList(c *call, dev string) ([]btrfsSubvolume, error) {
	src, _, err := resolveMountable(dev)
	if err != nil {
		return nil, err
	}
	if err := kmods.forFS("btrfs"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "btrfs-")
	if err != nil {
		return nil, errnoErr(syscall.EIO, "btrfs-subvolume-list: %v", err)
	}
	defer os.Remove(dir)
	if err := unix.Mount(src, dir, "btrfs", unix.MS_RDONLY, "subvolid=5"); err != nil {
		errno, _ := err.(syscall.Errno)
		return nil, errnoErr(errno, "btrfs-subvolume-list: %s", dev)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	out, err := run(c.ctx, "btrfs", "subvolume", "list", dir)
	if err != nil {
		return nil, err
	}
	subs := []btrfsSubvolume{}
	for _, line := range strings.Split(out, "\n") {
		// ID 256 gen 7 top level 5 path root
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != "ID" || f[5] != "level" || f[7] != "path" {
			continue
		}
		id, err1 := strconv.ParseInt(f[1], 10, 64)
		top, err2 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		// The path is the rest of the line after "path ".
		_, p, _ := strings.Cut(line, " path ")
		subs = append(subs, btrfsSubvolume{ID: id, TopLevel: top, Path: p})
	}
	return subs, nil
}
