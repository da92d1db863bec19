package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"gfs/appliance/api"
	"gfs/appliance/proto"
)

func init() {
	handle("part-init", func(c *call) (any, error) { return nil, partInit(c, c.str(0), c.str(1)) })
	handle("part-add", func(c *call) (any, error) {
		return nil, partAdd(c, c.str(0), c.str(1), c.int64(2), c.int64(3))
	})
	handle("part-disk", func(c *call) (any, error) { return nil, partDisk(c, c.str(0), c.str(1)) })
	handle("part-del", func(c *call) (any, error) { return nil, parted(c, c.str(0), "rm", strconv.Itoa(c.int(1))) })
	handle("part-list", func(c *call) (any, error) { return partList(c.ctx, c.str(0)) })
	handle("part-get-parttype", func(c *call) (any, error) { return partType(c.ctx, c.str(0)) })
	handle("part-set-name", func(c *call) (any, error) {
		return nil, parted(c, c.str(0), "name", strconv.Itoa(c.int(1)), c.str(2))
	})
	handle("part-set-bootable", func(c *call) (any, error) {
		return nil, parted(c, c.str(0), "set", strconv.Itoa(c.int(1)), "boot", onOff(c.bool(2)))
	})
	handle("part-get-bootable", func(c *call) (any, error) { return partGetBootable(c, c.str(0), c.int(1)) })
	handle("part-set-mbr-id", func(c *call) (any, error) {
		return nil, sfdiskWrite(c, c.str(0), "--part-type", c.str(0), strconv.Itoa(c.int(1)), fmt.Sprintf("%x", c.int(2)))
	})
	handle("part-get-mbr-id", func(c *call) (any, error) { return partGetMBRID(c, c.str(0), c.int(1)) })
	handle("part-set-gpt-type", func(c *call) (any, error) {
		return nil, sfdiskWrite(c, c.str(0), "--part-type", c.str(0), strconv.Itoa(c.int(1)), c.str(2))
	})
	handle("part-get-gpt-type", func(c *call) (any, error) {
		out, err := run(c.ctx, "sfdisk", "--part-type", c.str(0), strconv.Itoa(c.int(1)))
		return strings.ToUpper(strings.TrimSpace(out)), err
	})
	handle("part-get-name", func(c *call) (any, error) {
		out, err := run(c.ctx, "sfdisk", "--part-label", c.str(0), strconv.Itoa(c.int(1)))
		return strings.TrimSpace(out), err
	})
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// parted runs a parted command on a writable disk and waits for the
// kernel to show the new table.
func parted(c *call, dev string, args ...string) error {
	if err := checkWritable(dev); err != nil {
		return err
	}
	_, err := run(c.ctx, "parted", append([]string{"-s", "--", dev}, args...)...)
	if err != nil {
		return err
	}
	settle(dev)
	return nil
}

func sfdiskWrite(c *call, dev string, args ...string) error {
	if err := checkWritable(dev); err != nil {
		return err
	}
	_, err := run(c.ctx, "sfdisk", append([]string{"--no-reread", "--no-tell-kernel"}, args...)...)
	if err != nil {
		return err
	}
	settle(dev)
	return nil
}

// settle makes sure device nodes match the kernel's view after a
// partition change; without udev, devtmpfs does the node work and we
// only wait for it.
func settle(dev string) {
	partitionsOf(dev)
}

func partInit(c *call, dev, typ string) error {
	switch typ {
	case "mbr", "msdos":
		typ = "msdos"
	case "gpt", "efi":
		typ = "gpt"
	default:
		return &proto.Error{Errno: int(syscall.EINVAL), Message: "unknown partition type " + typ + ": use mbr or gpt"}
	}
	return parted(c, dev, "mklabel", typ)
}

func partAdd(c *call, dev, prlogex string, start, end int64) error {
	switch prlogex {
	case "p", "primary":
		prlogex = "primary"
	case "l", "logical":
		prlogex = "logical"
	case "e", "extended":
		prlogex = "extended"
	default:
		return &proto.Error{Errno: int(syscall.EINVAL), Message: "part-add: unknown partition kind " + prlogex + ": use primary, logical or extended"}
	}
	return parted(c, dev, "mkpart", prlogex, fmt.Sprintf("%ds", start), fmt.Sprintf("%ds", end))
}

// partDisk makes one partition covering the disk, aligned like
// libguestfs: from sector 2048 to 64 sectors before the end.
func partDisk(c *call, dev, typ string) error {
	if err := partInit(c, dev, typ); err != nil {
		return err
	}
	return parted(c, dev, "mkpart", "primary", "2048s", "-64s")
}

// partedPrint returns parted's machine-readable table in bytes.
func partedPrint(ctx context.Context, dev string) ([][]string, error) {
	if err := checkDevice(dev); err != nil {
		return nil, err
	}
	out, err := run(ctx, "parted", "-m", "-s", "--", dev, "unit", "b", "print")
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSuffix(strings.TrimSpace(line), ";")
		if line == "" || line == "BYT" {
			continue
		}
		rows = append(rows, strings.Split(line, ":"))
	}
	return rows, nil
}

func partType(ctx context.Context, dev string) (string, error) {
	rows, err := partedPrint(ctx, dev)
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		if len(r) >= 6 && r[0] == dev {
			return r[5], nil
		}
	}
	return "", &proto.Error{Errno: int(syscall.EINVAL), Message: dev + ": cannot read the partition table type"}
}

func partList(ctx context.Context, dev string) ([]api.Partition, error) {
	rows, err := partedPrint(ctx, dev)
	if err != nil {
		return nil, err
	}
	out := []api.Partition{}
	for _, r := range rows {
		if len(r) < 4 || r[0] == dev {
			continue
		}
		n, err := strconv.Atoi(r[0])
		if err != nil {
			continue
		}
		out = append(out, api.Partition{
			Num:   int32(n),
			Start: bytesField(r[1]),
			End:   bytesField(r[2]),
			Size:  bytesField(r[3]),
		})
	}
	return out, nil
}

func bytesField(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(s, "B"), 10, 64)
	return n
}

func partGetBootable(c *call, dev string, n int) (bool, error) {
	rows, err := partedPrint(c.ctx, dev)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if len(r) >= 7 && r[0] == strconv.Itoa(n) {
			return strings.Contains(r[6], "boot"), nil
		}
	}
	return false, &proto.Error{Errno: int(syscall.ENOENT), Message: fmt.Sprintf("%s: no partition %d", dev, n)}
}

func partGetMBRID(c *call, dev string, n int) (int, error) {
	out, err := run(c.ctx, "sfdisk", "--part-type", dev, strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(strings.TrimSpace(out), 16, 32)
	if err != nil {
		return 0, &proto.Error{Errno: int(syscall.EINVAL), Message: fmt.Sprintf("%s: partition %d has no MBR type (is the table GPT?)", dev, n)}
	}
	return int(id), nil
}
