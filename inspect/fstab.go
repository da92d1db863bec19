package inspect

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gfs/fs"
)

// resolver maps fstab device specs to the mountables of the disks.
type resolver struct {
	layout Layout
	fss    []Filesystem
	// details completes layout with partition offsets, GUIDs and MBR
	// signatures when a source computes them on demand.
	details func(*Layout)
	done    bool
}

func (r *resolver) full() {
	if r.details != nil && !r.done {
		r.details(&r.layout)
	}
	r.done = true
}

var (
	reXdev        = regexp.MustCompile(`^/dev/(h|s|v|xv)d([a-z]+)(\d*)$`)
	reDiskByID    = regexp.MustCompile(`^/dev/disk/by-id/.*-part(\d+)$`)
	reFreeBSDGPT  = regexp.MustCompile(`^/dev/(ada{0,1}|vtbd)(\d+)p(\d+)$`)
	reFreeBSDMBR  = regexp.MustCompile(`^/dev/(ada{0,1}|vtbd)(\d+)s(\d+)([a-z])$`)
	reNetBSDDev   = regexp.MustCompile(`^/dev/(l|s)d([0-9])([a-z])$`)
	reOpenBSDDev  = regexp.MustCompile(`^/dev/(s|w)d([0-9])([a-z])$`)
	reOpenBSDDUID = regexp.MustCompile(`^[0-9a-f]{16}\.[a-z]`)
	reHurdDev     = regexp.MustCompile(`^/dev/(h)d(\d+)s(\d+)$`)
)

const maxFstabEntries = 1000

// checkFstab reads /etc/fstab of the filesystem mounted on "/" and
// returns (mountable, mountpoint) pairs. Swap entries are kept (their
// mountpoint is not absolute, so they are filesystems but not
// mountpoints); pseudo filesystems and unresolvable specs are dropped.
func checkFstab(v *fsView, root Filesystem, r *resolver, osType string) []fstabEntry {
	b, ok := v.read("/etc/fstab", 100*1000)
	if !ok {
		return nil
	}
	var out []fstabEntry
	for _, line := range lines(b) {
		if len(out) >= maxFstabEntries {
			break
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		opts := ""
		if len(f) >= 4 {
			opts = f[3]
		}
		if e, ok := r.fstabEntry(f[0], f[1], f[2], opts, root, osType); ok {
			out = append(out, e)
		}
	}
	return out
}

func (r *resolver) fstabEntry(spec, mp, vfstype, opts string, root Filesystem, osType string) (fstabEntry, bool) {
	isBSD := osType == "freebsd" || osType == "netbsd" || osType == "openbsd"
	if (strings.HasPrefix(spec, "/dev/fd") && len(spec) >= 8 && isDigit(spec[7])) ||
		(strings.HasPrefix(spec, "/dev/cd") && len(spec) >= 8 && isDigit(spec[7])) ||
		spec == "/dev/floppy" || spec == "/dev/cdrom" || strings.HasPrefix(spec, "/dev/iso9660/") {
		return fstabEntry{}, false
	}
	mp = canonicalPath(mp)
	for _, p := range []string{"/dev", "/media", "/proc", "/selinux", "/sys"} {
		if mp == p && p != "/media" || strings.HasPrefix(mp, p+"/") {
			return fstabEntry{}, false
		}
	}
	var dev string
	switch {
	case strings.HasPrefix(spec, "UUID="):
		dev = r.byTag(shellUnquote(spec[5:]), func(f Filesystem) string { return f.UUID }, true)
	case strings.HasPrefix(spec, "LABEL="):
		dev = r.byTag(shellUnquote(spec[6:]), func(f Filesystem) string { return f.Label }, false)
	case strings.HasPrefix(spec, "PARTUUID="):
		dev = r.byTag(shellUnquote(spec[9:]), func(f Filesystem) string { return f.PartUUID }, true)
	case strings.HasPrefix(spec, "PARTLABEL="):
		dev = r.byTag(shellUnquote(spec[10:]), func(f Filesystem) string { return f.PartLabel }, false)
	case strings.HasPrefix(spec, "/dev/disk/by-uuid/"):
		dev = r.byTag(spec[18:], func(f Filesystem) string { return f.UUID }, true)
	case strings.HasPrefix(spec, "/dev/disk/by-label/"):
		dev = r.byTag(unescapeUdev(spec[19:]), func(f Filesystem) string { return f.Label }, false)
	case strings.HasPrefix(spec, "/dev/disk/by-partuuid/"):
		dev = r.byTag(spec[22:], func(f Filesystem) string { return f.PartUUID }, true)
	case spec == "/dev/root" || (isBSD && mp == "/"):
		dev = root.Device
	case strings.HasPrefix(spec, "/dev/"):
		dev = r.resolveDevice(spec, osType)
	case reOpenBSDDUID.MatchString(spec) && len(spec) > 17:
		dev = r.resolveDevice(fmt.Sprintf("/dev/sd0%c", spec[17]), osType)
	}
	if dev == "" {
		return fstabEntry{}, false
	}
	// Device names are translated as libguestfs translates every device
	// argument (/dev/vdX and /dev/hdX are /dev/sdX).
	dev = CanonicalDevice(dev)
	if vfstype == "btrfs" && !strings.HasPrefix(dev, "btrfsvol:") {
		for _, o := range strings.Split(opts, ",") {
			if sv, ok := strings.CutPrefix(o, "subvol="); ok {
				// Kept as written, as libguestfs does: subvol=/home
				// gives btrfsvol:/dev/sda1//home.
				if sv != "" {
					dev = "btrfsvol:" + dev + "/" + sv
				}
				break
			}
		}
	}
	return fstabEntry{dev, mp}, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// canonicalPath turns "///usr//local//" into "/usr/local".
func canonicalPath(p string) string {
	abs := strings.HasPrefix(p, "/")
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			parts = append(parts, c)
		}
	}
	s := strings.Join(parts, "/")
	if abs {
		return "/" + s
	}
	return s
}

// unescapeUdev undoes udev's \x2f escapes in by-label names.
func unescapeUdev(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// byTag is findfs: the first device (not subvolume) whose tag matches.
func (r *resolver) byTag(want string, get func(Filesystem) string, fold bool) string {
	if want == "" {
		return ""
	}
	for _, f := range r.fss {
		if strings.HasPrefix(f.Device, "btrfsvol:") {
			continue
		}
		got := get(f)
		if got == want || (fold && strings.EqualFold(got, want)) {
			return f.Device
		}
	}
	// PARTUUID/PARTLABEL may name a partition that holds no listed
	// filesystem (swap is listed, so this is rare); nothing to map to.
	return ""
}

func (r *resolver) isPartition(dev string) bool {
	for _, p := range r.layout.Partitions {
		if p.Name == dev {
			return true
		}
	}
	return false
}

// partitionByGUID finds a GPT partition by its unique GUID.
func (r *resolver) partitionByGUID(guid string) string {
	r.full()
	for _, p := range r.layout.Partitions {
		if p.GUID != "" && strings.EqualFold(p.GUID, guid) {
			return p.Name
		}
	}
	return ""
}

// partitionByMBR finds a partition by MBR disk signature and byte offset.
func (r *resolver) partitionByMBR(sig []byte, start uint64) string {
	r.full()
	for _, p := range r.layout.Partitions {
		s, ok := r.layout.MBRSignatures[p.Device]
		if ok && string(s[:]) == string(sig) && uint64(p.Start) == start {
			return p.Name
		}
	}
	return ""
}

// driveIndex turns "a" into 0, "z" into 25, "aa" into 26.
func driveIndex(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' || n > 1<<20 {
			return -1
		}
		n = n*26 + int(s[i]-'a'+1)
	}
	return n - 1
}

// resolveDevice maps a guest block device name to the name the disks
// have here, assuming the disks were added in the guest's order.
// Anything not recognised is returned unchanged.
func (r *resolver) resolveDevice(spec, osType string) string {
	sdN := func(disk, part int) string {
		if disk < 0 || disk >= 26 {
			return spec
		}
		return fmt.Sprintf("/dev/sd%c%d", 'a'+disk, part)
	}
	if strings.HasPrefix(spec, "/dev/mapper/") {
		if vg, lv, ok := fs.SplitMapperName(spec[len("/dev/mapper/"):]); ok {
			name := "/dev/" + vg + "/" + lv
			for _, l := range r.layout.LVs {
				if l == name {
					return name
				}
			}
		}
		return spec
	}
	if m := reXdev.FindStringSubmatch(spec); m != nil {
		return r.resolveXdev(m[2], m[3], spec)
	}
	if m := reDiskByID.FindStringSubmatch(spec); m != nil {
		if len(r.layout.Devices) == 1 {
			dev := "/dev/sda" + m[1]
			if r.isPartition(dev) {
				return dev
			}
		}
		return spec
	}
	if m := reFreeBSDGPT.FindStringSubmatch(spec); m != nil {
		disk, _ := strconv.Atoi(m[2])
		part, _ := strconv.Atoi(m[3])
		if part <= 128 {
			return sdN(disk, part)
		}
		return spec
	}
	if m := reFreeBSDMBR.FindStringSubmatch(spec); m != nil {
		disk, _ := strconv.Atoi(m[2])
		slice, _ := strconv.Atoi(m[3])
		part := int(m[4][0] - 'a')
		if part > 2 {
			part--
		}
		if slice == 1 && part < 25 {
			return sdN(disk, part+5)
		}
		return spec
	}
	if m := reNetBSDDev.FindStringSubmatch(spec); m != nil && osType == "netbsd" {
		disk, _ := strconv.Atoi(m[2])
		part := int(m[3][0] - 'a')
		if part > 3 {
			part -= 2
		}
		if part < 24 {
			return sdN(disk, part+5)
		}
		return spec
	}
	if m := reOpenBSDDev.FindStringSubmatch(spec); m != nil && osType == "openbsd" {
		disk, _ := strconv.Atoi(m[2])
		part := int(m[3][0] - 'a')
		if part > 2 {
			part--
		}
		if part < 15 {
			return sdN(disk, part+5)
		}
		return spec
	}
	if m := reHurdDev.FindStringSubmatch(spec); m != nil {
		disk, _ := strconv.Atoi(m[2])
		if disk < 26 {
			return r.resolveXdev(string(rune('a'+disk)), m[3], spec)
		}
	}
	return spec
}

func (r *resolver) resolveXdev(disk, part, def string) string {
	i := driveIndex(disk)
	if i >= 0 && i < len(r.layout.Devices) {
		dev := r.layout.Devices[i] + part
		if r.isPartition(dev) {
			return dev
		}
	}
	return def
}

// normMountable names mountables the way the kernel would see them:
// btrfs subvolume paths ignore repeated and trailing slashes.
func normMountable(m string) string {
	rest, ok := strings.CutPrefix(m, "btrfsvol:")
	if !ok {
		return CanonicalDevice(m)
	}
	dev, sv, _ := strings.Cut(strings.TrimPrefix(rest, "/dev/"), "/")
	return "btrfsvol:/dev/" + dev + "/" + strings.Trim(canonicalPath(sv), "/")
}
