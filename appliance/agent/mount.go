package agent

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
)

func init() {
	handle("mount", func(c *call) (any, error) { return nil, mount(c, "", c.str(0), c.str(1), "") })
	handle("mount-ro", func(c *call) (any, error) { return nil, mount(c, "ro", c.str(0), c.str(1), "") })
	handle("mount-options", func(c *call) (any, error) { return nil, mount(c, c.str(0), c.str(1), c.str(2), "") })
	handle("mount-vfs", func(c *call) (any, error) { return nil, mount(c, c.str(0), c.str(2), c.str(3), c.str(1)) })
	handle("umount", func(c *call) (any, error) {
		return nil, umount(c.str(0), c.optBool("force", false), c.optBool("lazyunmount", false))
	})
	handle("umount-all", func(c *call) (any, error) { return nil, umountAll() })
	handle("mounts", func(c *call) (any, error) {
		out := []string{}
		for _, m := range guestMounts() {
			out = append(out, m.device)
		}
		return out, nil
	})
	handle("mountpoints", func(c *call) (any, error) {
		out := []string{}
		for _, m := range guestMounts() {
			out = append(out, m.device, m.guestPath())
		}
		return out, nil
	})
}

// mountFlags are the options mount(8) turns into flags; everything else
// is passed to the filesystem as data.
var mountFlags = map[string]struct {
	set   bool
	flags uintptr
}{
	"ro": {true, unix.MS_RDONLY}, "rw": {false, unix.MS_RDONLY},
	"nosuid": {true, unix.MS_NOSUID}, "suid": {false, unix.MS_NOSUID},
	"nodev": {true, unix.MS_NODEV}, "dev": {false, unix.MS_NODEV},
	"noexec": {true, unix.MS_NOEXEC}, "exec": {false, unix.MS_NOEXEC},
	"sync": {true, unix.MS_SYNCHRONOUS}, "async": {false, unix.MS_SYNCHRONOUS},
	"dirsync": {true, unix.MS_DIRSYNC}, "mand": {true, unix.MS_MANDLOCK},
	"noatime": {true, unix.MS_NOATIME}, "atime": {false, unix.MS_NOATIME},
	"nodiratime": {true, unix.MS_NODIRATIME}, "diratime": {false, unix.MS_NODIRATIME},
	"relatime": {true, unix.MS_RELATIME}, "norelatime": {false, unix.MS_RELATIME},
	"strictatime": {true, unix.MS_STRICTATIME}, "lazytime": {true, unix.MS_LAZYTIME},
	"silent": {true, unix.MS_SILENT}, "loud": {false, unix.MS_SILENT},
	"defaults": {false, 0}, "auto": {false, 0}, "noauto": {false, 0}, "user": {false, 0},
	"nouser": {false, 0}, "nofail": {false, 0}, "_netdev": {false, 0},
}

func parseMountOptions(opts string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range strings.Split(opts, ",") {
		o = strings.TrimSpace(o)
		if o == "" || strings.HasPrefix(o, "x-") {
			continue
		}
		if f, ok := mountFlags[o]; ok {
			if f.set {
				flags |= f.flags
			} else {
				flags &^= f.flags
			}
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// mount mounts a guest device at a guest path. "/" is the guest root
// (/sysroot); any other mountpoint is resolved inside the guest tree and
// must already exist, as in libguestfs.
func mount(c *call, opts, dev, mountpoint, vfstype string) error {
	if err := checkPath(mountpoint); err != nil {
		return err
	}
	src, subvol, err := resolveMountable(dev)
	if err != nil {
		return err
	}
	if vfstype == "" {
		vfstype, err = vfsType(c.ctx, src)
		if err != nil {
			return err
		}
		if vfstype == "" {
			return &proto.Error{Errno: int(syscall.EINVAL), Message: dev + ": no filesystem found on this device"}
		}
	}
	kernelType := vfstype
	switch vfstype {
	case "ntfs":
		// Kernels without ntfs3 (Debian 12's) read NTFS through ntfs-3g.
		if kmods.loadOne("ntfs3") != nil {
			return mountNTFS3G(c, opts, src, mountpoint)
		}
		kernelType = "ntfs3"
	case "swap", "LVM2_member", "crypto_LUKS", "linux_raid_member":
		return &proto.Error{Errno: int(syscall.EINVAL), Message: dev + ": " + vfstype + " is not a mountable filesystem"}
	}
	if err := kmods.forFS(kernelType); err != nil {
		return err
	}
	flags, data := parseMountOptions(opts)
	if subvol != "" {
		data = strings.TrimPrefix(data+",subvol="+subvol, ",")
	}
	if isReadOnlyDevice(src) {
		flags |= unix.MS_RDONLY
	}
	target := sysroot
	if path.Clean(mountpoint) != "/" {
		fd, err := openIn(mountpoint, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		target = fdPath(fd)
	}
	err = unix.Mount(src, target, kernelType, flags, data)
	if err != nil {
		return &proto.Error{Errno: int(errnoOf(err)), Message: dev + " on " + mountpoint + " (options: '" + opts + "'): " + proto.Strerror(errnoOf(err))}
	}
	return nil
}

// mountNTFS3G mounts NTFS with the ntfs-3g FUSE driver. ntfs-3g takes
// a path, so the mountpoint is resolved safely first and handed over as
// the kernel's own name for it, which holds no symlinks.
func mountNTFS3G(c *call, opts, dev, mountpoint string) error {
	if err := kmods.loadOne("fuse"); err != nil {
		return err
	}
	target := sysroot
	if path.Clean(mountpoint) != "/" {
		fd, err := openIn(mountpoint, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		real, err := os.Readlink(fdPath(fd))
		unix.Close(fd)
		if err != nil || !strings.HasPrefix(real, sysroot+"/") {
			return &proto.Error{Errno: int(syscall.EINVAL), Message: mountpoint + ": cannot resolve mountpoint"}
		}
		target = real
	}
	o := strings.Trim(opts, ",")
	if isReadOnlyDevice(dev) {
		o = strings.TrimPrefix(o+",ro", ",")
	}
	args := []string{dev, target}
	if o != "" {
		args = append([]string{"-o", o}, args...)
	}
	if _, err := run(c.ctx, "ntfs-3g", args...); err != nil {
		return &proto.Error{Errno: int(syscall.EIO), Message: dev + " on " + mountpoint + " (options: '" + opts + "'): " + err.Error()}
	}
	return nil
}

func errnoOf(err error) syscall.Errno {
	if en, ok := err.(syscall.Errno); ok {
		return en
	}
	return syscall.EIO
}

type guestMount struct {
	device, target, fstype string
}

func (m guestMount) guestPath() string {
	rel := strings.TrimPrefix(m.target, sysroot)
	if rel == "" {
		return "/"
	}
	return rel
}

// guestMounts lists the mounts under /sysroot in mount order.
func guestMounts() []guestMount {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []guestMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		target := unescapeMount(fields[1])
		if target != sysroot && !strings.HasPrefix(target, sysroot+"/") {
			continue
		}
		out = append(out, guestMount{device: canonicalDevice(unescapeMount(fields[0])), target: target, fstype: fields[2]})
	}
	return out
}

// unescapeMount undoes the octal escapes /proc/mounts uses for spaces.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var n int
			ok := true
			for _, ch := range s[i+1 : i+4] {
				if ch < '0' || ch > '7' {
					ok = false
					break
				}
				n = n*8 + int(ch-'0')
			}
			if ok {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func umount(target string, force, lazy bool) error {
	var flags int
	if force {
		flags |= unix.MNT_FORCE
	}
	if lazy {
		flags |= unix.MNT_DETACH
	}
	mnt := ""
	if strings.HasPrefix(target, "/dev/") {
		want := canonicalDevice(target)
		ms := guestMounts()
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].device == want {
				mnt = ms[i].target
				break
			}
		}
		if mnt == "" {
			return &proto.Error{Errno: int(syscall.EINVAL), Message: target + ": not mounted"}
		}
	} else {
		if err := checkPath(target); err != nil {
			return err
		}
		mnt = filepath.Join(sysroot, path.Clean(target))
		found := false
		for _, m := range guestMounts() {
			if m.target == mnt {
				found = true
			}
		}
		if !found {
			return &proto.Error{Errno: int(syscall.EINVAL), Message: target + ": not a mountpoint"}
		}
	}
	if err := unix.Unmount(mnt, flags); err != nil {
		return &proto.Error{Errno: int(errnoOf(err)), Message: target + ": " + proto.Strerror(errnoOf(err))}
	}
	return nil
}

// umountAll unmounts every guest filesystem, deepest first.
func umountAll() error {
	unix.Sync()
	ms := guestMounts()
	sort.SliceStable(ms, func(i, j int) bool { return len(ms[i].target) > len(ms[j].target) })
	var first error
	for _, m := range ms {
		if err := unix.Unmount(m.target, 0); err != nil {
			if err2 := unix.Unmount(m.target, unix.MNT_DETACH); err2 != nil && first == nil {
				first = &proto.Error{Errno: int(errnoOf(err)), Message: m.guestPath() + ": " + proto.Strerror(errnoOf(err))}
			}
		}
	}
	return first
}
