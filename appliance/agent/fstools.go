package agent

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"

	"gfs/appliance/proto"
)

func init() {
	handle("set-label", func(c *call) (any, error) { return nil, setLabel(c, c.str(0), c.str(1)) })
	handle("set-uuid", func(c *call) (any, error) { return nil, setUUID(c, c.str(0), c.str(1)) })
	handle("set-uuid-random", func(c *call) (any, error) { return nil, setUUID(c, c.str(0), "") })
	handle("e2fsck-f", func(c *call) (any, error) { return nil, e2fsck(c, c.str(0), "-p") })
	handle("e2fsck", func(c *call) (any, error) {
		mode := "-n"
		switch {
		case c.optBool("correct", false) && c.optBool("forceall", false):
			return nil, &proto.Error{Errno: int(syscall.EINVAL), Message: "only one of correct and forceall may be true"}
		case c.optBool("correct", false):
			mode = "-p"
		case c.optBool("forceall", false):
			mode = "-y"
		}
		return nil, e2fsck(c, c.str(0), mode)
	})
	handle("resize2fs", func(c *call) (any, error) { return nil, resize2fs(c, c.str(0), c.str(0)) })
	handle("resize2fs-size", func(c *call) (any, error) {
		return nil, resize2fs(c, c.str(0), c.str(0), fmt.Sprintf("%dK", c.int64(1)/1024))
	})
	handle("resize2fs-M", func(c *call) (any, error) { return nil, resize2fs(c, c.str(0), "-M", c.str(0)) })
	handle("tune2fs-l", func(c *call) (any, error) { return tune2fsList(c, c.str(0)) })
}

// writableFS checks a mountable for writing and returns its device and
// filesystem type.
func writableFS(c *call, m string) (dev, fstype string, err error) {
	dev, _, err = resolveMountable(m)
	if err != nil {
		return "", "", err
	}
	if err := checkWritable(dev); err != nil {
		return "", "", err
	}
	fstype, err = vfsType(c.ctx, dev)
	return dev, fstype, err
}

// unsupportedFS says what cannot be set (the shell adds the command).
func unsupportedFS(what, dev, fstype string) error {
	if fstype == "" {
		return &proto.Error{Errno: int(syscall.ENOTSUP), Message: dev + ": no filesystem"}
	}
	return &proto.Error{Errno: int(syscall.ENOTSUP), Message: fmt.Sprintf("%s: cannot set the %s of %s", dev, what, fstype)}
}

func setLabel(c *call, m, label string) error {
	dev, fstype, err := writableFS(c, m)
	if err != nil {
		return err
	}
	switch fstype {
	case "ext2", "ext3", "ext4":
		_, err = run(c.ctx, "e2label", dev, label)
	case "xfs":
		_, err = run(c.ctx, "xfs_admin", "-L", label, dev)
	case "btrfs":
		_, err = run(c.ctx, "btrfs", "filesystem", "label", dev, label)
	case "vfat":
		_, err = run(c.ctx, "fatlabel", dev, label)
	case "ntfs":
		_, err = run(c.ctx, "ntfslabel", dev, label)
	case "swap":
		_, err = run(c.ctx, "swaplabel", "-L", label, dev)
	default:
		return unsupportedFS("label", dev, fstype)
	}
	return err
}

// setUUID sets uuid, or a new random one if uuid is empty.
func setUUID(c *call, m, uuid string) error {
	dev, fstype, err := writableFS(c, m)
	if err != nil {
		return err
	}
	if uuid == "" {
		uuid = randomUUID()
	}
	switch fstype {
	case "ext2", "ext3", "ext4":
		_, err = run(c.ctx, "tune2fs", "-f", "-U", uuid, dev)
	case "xfs":
		_, err = run(c.ctx, "xfs_admin", "-U", uuid, dev)
	case "btrfs":
		_, err = run(c.ctx, "btrfstune", "-f", "-U", uuid, dev)
	case "swap":
		_, err = run(c.ctx, "swaplabel", "-U", uuid, dev)
	default:
		return unsupportedFS("UUID", dev, fstype)
	}
	return err
}

// randomUUID is a version 4 UUID.
func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// e2fsck runs e2fsck -f in the given mode (-p, -y or -n). Its exit
// status is a bit mask: 1 (errors corrected) is success, as in
// libguestfs; anything higher is a failure reported with its output.
func e2fsck(c *call, dev, mode string) error {
	if mode != "-n" {
		if err := checkWritable(dev); err != nil {
			return err
		}
	} else if err := checkDevice(dev); err != nil {
		return err
	}
	cmd := exec.CommandContext(c.ctx, "e2fsck", mode, "-f", dev)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return nil
	}
	if err != nil {
		msg := oneLine("e2fsck", out.String())
		if msg == "" {
			msg = err.Error()
		}
		return &proto.Error{Errno: int(syscall.EIO), Message: dev + ": " + msg}
	}
	return nil
}

// resize2fs runs resize2fs with args on dev, once dev is known writable.
func resize2fs(c *call, dev string, args ...string) error {
	if err := checkWritable(dev); err != nil {
		return err
	}
	_, err := run(c.ctx, "resize2fs", args...)
	return err
}

// tune2fsList returns tune2fs -l's "Field name:   value" lines as a
// flattened hashtable, in tune2fs's order.
func tune2fsList(c *call, dev string) ([]string, error) {
	if err := checkDevice(dev); err != nil {
		return nil, err
	}
	out, err := run(c.ctx, "tune2fs", "-l", dev)
	if err != nil {
		return nil, err
	}
	var kv []string
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "tune2fs ") {
			continue
		}
		// Values keep their trailing blanks, as libguestfs's do.
		kv = append(kv, strings.TrimSpace(k), strings.TrimLeft(v, " \t"))
	}
	return kv, nil
}
