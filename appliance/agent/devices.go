package agent

import (
	"context"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
)

func init() {
	handle("list-devices", func(c *call) (any, error) { return listDevices(), nil })
	handle("list-partitions", func(c *call) (any, error) { return listPartitions(), nil })
	handle("part-to-dev", func(c *call) (any, error) { d, _, err := splitPartition(c.str(0)); return d, err })
	handle("part-to-partnum", func(c *call) (any, error) { _, n, err := splitPartition(c.str(0)); return n, err })
	handle("blockdev-getsize64", func(c *call) (any, error) { return deviceSize(c.str(0)) })
	handle("blockdev-getss", func(c *call) (any, error) { return blockdevInt(c.str(0), unix.BLKSSZGET) })
	handle("blockdev-getro", func(c *call) (any, error) { n, err := blockdevInt(c.str(0), unix.BLKROGET); return n != 0, err })
	handle("blockdev-flushbufs", func(c *call) (any, error) { return nil, blockdevFlush(c.str(0)) })
	handle("blockdev-rereadpt", func(c *call) (any, error) { return nil, rereadPT(c.str(0)) })
	handle("is-whole-device", func(c *call) (any, error) { return isWholeDevice(c.str(0)), nil })
	handle("device-index", func(c *call) (any, error) { return deviceIndex(c.str(0)) })
}

// diskName matches the whole disks the host attached (sda…sdz, sdaa…).
var diskName = regexp.MustCompile(`^sd[a-z]+$`)

// listDevices returns /dev/sdX in libguestfs's order: by name length,
// then name, so sdz comes before sdaa.
func listDevices() []string {
	entries, _ := os.ReadDir("/sys/block")
	out := []string{}
	for _, e := range entries {
		if diskName.MatchString(e.Name()) {
			out = append(out, "/dev/"+e.Name())
		}
	}
	sortDevices(out)
	return out
}

func sortDevices(devs []string) {
	sort.Slice(devs, func(i, j int) bool {
		if len(devs[i]) != len(devs[j]) {
			return len(devs[i]) < len(devs[j])
		}
		return devs[i] < devs[j]
	})
}

func listPartitions() []string {
	out := []string{}
	for _, dev := range listDevices() {
		out = append(out, partitionsOf(dev)...)
	}
	return out
}

// partitionsOf lists the partitions the kernel sees on a disk, by number.
func partitionsOf(dev string) []string {
	name := path.Base(dev)
	entries, _ := os.ReadDir("/sys/block/" + name)
	type part struct {
		name string
		n    int
	}
	var parts []part
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), name) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), name))
		if err == nil {
			parts = append(parts, part{e.Name(), n})
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, "/dev/"+p.name)
		ensureNode(p.name)
	}
	return out
}

// ensureNode waits briefly for devtmpfs to create a partition's node
// after the kernel re-read a table: without udev there is nothing to
// "settle", so poll.
func ensureNode(name string) {
	for i := 0; i < 200; i++ {
		if _, err := os.Stat("/dev/" + name); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var partName = regexp.MustCompile(`^(/dev/sd[a-z]+)([0-9]+)$`)

func splitPartition(p string) (string, int, error) {
	m := partName.FindStringSubmatch(p)
	if m == nil {
		return "", 0, &proto.Error{Errno: int(syscall.EINVAL), Message: p + ": not a partition name"}
	}
	n, _ := strconv.Atoi(m[2])
	if _, err := os.Stat(p); err != nil {
		return "", 0, pathErr(p, err)
	}
	return m[1], n, nil
}

func isWholeDevice(dev string) bool {
	return strings.HasPrefix(dev, "/dev/") && diskName.MatchString(strings.TrimPrefix(dev, "/dev/"))
}

func deviceIndex(dev string) (int, error) {
	for i, d := range listDevices() {
		if d == dev {
			return i, nil
		}
	}
	return 0, &proto.Error{Errno: int(syscall.ENOENT), Message: dev + ": device not found"}
}

// checkDevice verifies an argument names a block device in /dev, so
// that no command can be pointed at an appliance file.
func checkDevice(dev string) error {
	if !strings.HasPrefix(dev, "/dev/") || strings.Contains(dev, "/../") {
		return &proto.Error{Errno: int(syscall.EINVAL), Message: dev + ": not a device name"}
	}
	var st unix.Stat_t
	err := unix.Stat(dev, &st)
	if err == unix.ENOENT && strings.Count(dev, "/") == 3 && !strings.HasPrefix(dev, "/dev/mapper/") {
		// /dev/VG/LV appears once LVM is activated, which is lazy.
		ensureLVM(context.Background())
		err = unix.Stat(dev, &st)
	}
	if err != nil {
		return pathErr(dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return &proto.Error{Errno: int(syscall.ENOTBLK), Message: dev + ": not a block device"}
	}
	return nil
}

func deviceSize(dev string) (int64, error) {
	if err := checkDevice(dev); err != nil {
		return 0, err
	}
	f, err := os.Open(dev)
	if err != nil {
		return 0, pathErr(dev, err)
	}
	defer f.Close()
	n, err := f.Seek(0, 2)
	if err != nil {
		return 0, pathErr(dev, err)
	}
	return n, nil
}

func blockdevInt(dev string, req uint) (int, error) {
	if err := checkDevice(dev); err != nil {
		return 0, err
	}
	f, err := os.Open(dev)
	if err != nil {
		return 0, pathErr(dev, err)
	}
	defer f.Close()
	n, err := unix.IoctlGetInt(int(f.Fd()), req)
	if err != nil {
		return 0, pathErr(dev, err)
	}
	return n, nil
}

func blockdevFlush(dev string) error {
	if err := checkDevice(dev); err != nil {
		return err
	}
	f, err := os.Open(dev)
	if err != nil {
		return pathErr(dev, err)
	}
	defer f.Close()
	f.Sync()
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKFLSBUF, 0); e != 0 {
		return pathErr(dev, e)
	}
	return nil
}

func rereadPT(dev string) error {
	if err := checkDevice(dev); err != nil {
		return err
	}
	f, err := os.Open(dev)
	if err != nil {
		return pathErr(dev, err)
	}
	defer f.Close()
	var lastErr error
	// The kernel answers EBUSY while something still holds the disk
	// open; retry briefly as udevadm settle would.
	for i := 0; i < 20; i++ {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKRRPART, 0)
		if e == 0 {
			return nil
		}
		lastErr = e
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s: re-read partition table: %w", dev, lastErr)
}
