package agent

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gfs/appliance/proto"
)

func init() {
	handle("mkfs", func(c *call) (any, error) { return nil, mkfs(c, c.str(0), c.str(1)) })
	handle("mkswap", func(c *call) (any, error) {
		return nil, mkswap(c, c.str(0), c.optStr("label", ""), c.optStr("uuid", ""))
	})
	handle("wipefs", func(c *call) (any, error) { return nil, writeDev(c, c.str(0), "wipefs", "-a", c.str(0)) })
	handle("zero", func(c *call) (any, error) { return nil, zeroStart(c, c.str(0)) })
	handle("fstrim", func(c *call) (any, error) { return nil, fstrim(c, c.str(0)) })
	handle("df", func(c *call) (any, error) { return run(c.ctx, "df") })
	handle("df-h", func(c *call) (any, error) { return run(c.ctx, "df", "-h") })
	handle("ping-daemon", func(c *call) (any, error) { return nil, nil })
	handle("shutdown", func(c *call) (any, error) { return nil, umountAll() })
	handle("available", func(c *call) (any, error) { return nil, available(c.strs(0)) })
	handle("available-all-groups", func(c *call) (any, error) { return groupNames(), nil })
	handle("debug", func(c *call) (any, error) { return debugCall(c, c.str(0), c.strs(1)) })
}

// mkfs makes a filesystem with the tool each type needs, forcing it on
// whole disks and existing signatures as libguestfs does.
func mkfs(c *call, fstype, dev string) error {
	if err := checkWritable(dev); err != nil {
		return err
	}
	label := c.optStr("label", "")
	var prog string
	var args []string
	switch fstype {
	case "ext2", "ext3", "ext4":
		prog = "mke2fs"
		args = []string{"-t", fstype, "-F", "-q"}
		if bs := c.optInt("blocksize", 0); bs > 0 {
			args = append(args, "-b", strconv.FormatInt(bs, 10))
		}
		if f := c.optStr("features", ""); f != "" {
			args = append(args, "-O", f)
		}
		if n := c.optInt("inode", 0); n > 0 {
			args = append(args, "-I", strconv.FormatInt(n, 10))
		}
		if label != "" {
			args = append(args, "-L", label)
		}
	case "xfs":
		prog = "mkfs.xfs"
		args = []string{"-f", "-q"}
		if bs := c.optInt("blocksize", 0); bs > 0 {
			args = append(args, "-b", "size="+strconv.FormatInt(bs, 10))
		}
		if ss := c.optInt("sectorsize", 0); ss > 0 {
			args = append(args, "-s", "size="+strconv.FormatInt(ss, 10))
		}
		if label != "" {
			args = append(args, "-L", label)
		}
	case "btrfs":
		prog = "mkfs.btrfs"
		args = []string{"-f", "-q"}
		if ss := c.optInt("sectorsize", 0); ss > 0 {
			args = append(args, "-s", strconv.FormatInt(ss, 10))
		}
		if label != "" {
			args = append(args, "-L", label)
		}
	case "vfat", "fat", "msdos":
		prog = "mkfs.fat"
		if ss := c.optInt("sectorsize", 0); ss > 0 {
			args = append(args, "-S", strconv.FormatInt(ss, 10))
		}
		if label != "" {
			args = append(args, "-n", label)
		}
	case "ntfs":
		prog = "mkntfs"
		args = []string{"-Q", "-F", "-q"}
		if label != "" {
			args = append(args, "-L", label)
		}
	case "swap":
		return mkswap(c, dev, label, "")
	default:
		prog = "mkfs." + fstype
		if !haveTool(prog) {
			return &proto.Error{Errno: int(syscall.EINVAL), Message: fmt.Sprintf("%s: unknown filesystem type %q (no %s in this appliance)", dev, fstype, prog)}
		}
		if label != "" {
			args = append(args, "-L", label)
		}
	}
	args = append(args, dev)
	_, err := run(c.ctx, prog, args...)
	return err
}

func mkswap(c *call, dev, label, uuid string) error {
	args := []string{"-f"}
	if label != "" {
		args = append(args, "-L", label)
	}
	if uuid != "" {
		args = append(args, "-U", uuid)
	}
	return writeDev(c, dev, "mkswap", append(args, dev)...)
}

func writeDev(c *call, dev, prog string, args ...string) error {
	if err := checkWritable(dev); err != nil {
		return err
	}
	_, err := run(c.ctx, prog, args...)
	return err
}

// zeroStart wipes the first 32 KiB, enough to destroy every partition
// table and superblock signature at the start (libguestfs zero).
func zeroStart(c *call, dev string) error {
	if err := checkWritable(dev); err != nil {
		return err
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return pathErr(dev, err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 32<<10), 0); err != nil {
		return pathErr(dev, err)
	}
	return f.Sync()
}

func fstrim(c *call, mountpoint string) error {
	if err := checkPath(mountpoint); err != nil {
		return err
	}
	target := path.Join(sysroot, path.Clean(mountpoint))
	_, err := run(c.ctx, "fstrim", target)
	return err
}

// Feature groups, as guestfish's `available` names them, and the tools
// each needs. A group is available when all of its tools are present.
var groups = map[string][]string{
	"btrfs":       {"mkfs.btrfs", "btrfs"},
	"extlinux":    {"extlinux"},
	"fstrim":      {"fstrim"},
	"gdisk":       {"sgdisk"},
	"linuxfsuuid": {"tune2fs", "mkswap"},
	"lvm2":        {"lvm"},
	"mdadm":       {"mdadm"},
	"ntfs3g":      {"ntfs-3g"},
	"ntfsprogs":   {"ntfsresize", "mkntfs"},
	"luks":        {"cryptsetup"},
	"xfs":         {"mkfs.xfs", "xfs_growfs"},
	"zerofree":    {"zerofree"},
	"wipefs":      {"wipefs"},
	"squashfs":    {"mksquashfs"},
	"f2fs":        {"mkfs.f2fs"},
	"rsync":       {"rsync"},
	"xz":          {"xz"},
	"zstd":        {"zstd"},
}

func groupNames() []string {
	var out []string
	for g := range groups {
		out = append(out, g)
	}
	sortStrings(out)
	return out
}

func available(want []string) error {
	var missing []string
	for _, g := range want {
		tools, ok := groups[g]
		if !ok {
			return &proto.Error{Errno: int(syscall.ENOENT), Message: g + ": unknown group"}
		}
		for _, t := range tools {
			if !haveTool(t) {
				missing = append(missing, g)
				break
			}
		}
	}
	if len(missing) > 0 {
		return &proto.Error{Errno: int(syscall.ENOENT), Message: "not available: " + strings.Join(missing, " ")}
	}
	return nil
}

// debugCall serves the fault-injection hooks the tests use.
func debugCall(c *call, sub string, args []string) (any, error) {
	switch sub {
	case "sleep":
		d, _ := time.ParseDuration(firstOr(args, "1s"))
		select {
		case <-time.After(d):
			return "slept", nil
		case <-c.ctx.Done():
			return nil, &proto.Error{Errno: int(syscall.ECANCELED), Message: "cancelled"}
		}
	case "panic":
		panic("debug panic requested")
	case "exit":
		os.Exit(3) // kills init: the kernel panics and QEMU exits
	case "stream":
		// Channel throughput without any disk: n bytes of zeros.
		n, _ := strconv.ParseInt(firstOr(args, "0"), 10, 64)
		buf := make([]byte, 1<<20)
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := c.output().Write(buf[:k]); err != nil {
				return nil, err
			}
			n -= k
		}
		return nil, nil
	case "env":
		return strings.Join(os.Environ(), "\n"), nil
	case "modules":
		b, _ := os.ReadFile("/proc/modules")
		return string(b), nil
	case "run":
		if len(args) == 0 {
			return nil, &proto.Error{Errno: int(syscall.EINVAL), Message: "debug run: no program"}
		}
		return run(context.Background(), args[0], args[1:]...)
	}
	return nil, &proto.Error{Errno: int(syscall.EINVAL), Message: "debug: unknown subcommand " + sub}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
