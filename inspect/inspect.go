// Package inspect finds the operating systems on a set of disks and
// describes them with libguestfs' inspection names and values: type,
// distro, product name, version, arch, hostname, package format and
// manager, osinfo id, mountpoints from /etc/fstab, filesystems and
// installed applications.
//
// The rules are written once against Source, a small read-only view of
// the disks with two implementations: the VM-less reader of package fs
// (milliseconds, ext2/3/4 and FAT on MBR/GPT/linear LVM) and the
// appliance (every filesystem the kernel reads). Auto tries the first
// and falls back to the second when it cannot answer.
//
// Everything read from the guest is untrusted: reads are size-bounded,
// loops are bounded, and no guest data can make the package panic.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
)

// OS is one operating system found, with libguestfs' names and values.
// Empty strings (and "unknown") are what libguestfs reports as unknown.
type OS struct {
	Root              string `json:"root"`
	Type              string `json:"type"`
	Distro            string `json:"distro"`
	ProductName       string `json:"product_name"`
	ProductVariant    string `json:"product_variant"`
	MajorVersion      int    `json:"major_version"`
	MinorVersion      int    `json:"minor_version"`
	Arch              string `json:"arch"`
	Hostname          string `json:"hostname"`
	PackageFormat     string `json:"package_format"`
	PackageManagement string `json:"package_management"`
	OSInfo            string `json:"osinfo"`
	BuildID           string `json:"build_id,omitempty"`
	WindowsSystemroot string `json:"windows_systemroot,omitempty"`
	// WindowsCurrentControlSet is e.g. ControlSet001.
	WindowsCurrentControlSet string `json:"windows_current_control_set,omitempty"`
	// Mountpoints are sorted as virt-inspector prints them: shortest
	// mountpoint first, then by name.
	Mountpoints []Mountpoint `json:"mountpoints"`
	// Filesystems are the filesystems of this OS, sorted by device.
	Filesystems   []Filesystem   `json:"filesystems"`
	DriveMappings []DriveMapping `json:"drive_mappings,omitempty"`
	// Applications are sorted by name; nil when not listed.
	Applications []Application `json:"applications,omitempty"`
}

// Mountpoint maps a guest mountpoint to the device mounted there.
type Mountpoint struct {
	Device     string `json:"device"`
	Mountpoint string `json:"mountpoint"`
}

// DriveMapping maps a Windows drive letter to a device.
type DriveMapping struct {
	Name   string `json:"name"`
	Device string `json:"device"`
}

// Application is one installed package (libguestfs' application2).
type Application struct {
	Name          string `json:"name"`
	DisplayName   string `json:"display_name,omitempty"`
	Epoch         int    `json:"epoch,omitempty"`
	Version       string `json:"version,omitempty"`
	Release       string `json:"release,omitempty"`
	Arch          string `json:"arch,omitempty"`
	InstallPath   string `json:"install_path,omitempty"`
	Publisher     string `json:"publisher,omitempty"`
	URL           string `json:"url,omitempty"`
	SourcePackage string `json:"source_package,omitempty"`
	Summary       string `json:"summary,omitempty"`
	Description   string `json:"description,omitempty"`
}

// Options tune an inspection.
type Options struct {
	// Applications lists installed applications (it mounts every
	// filesystem of each OS and reads the package database).
	Applications bool
	// Log receives debugging messages (-v); nil for none.
	Log io.Writer
}

func (o *Options) logf(format string, args ...any) {
	if o != nil && o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// role of a filesystem after classification.
type role int

const (
	roleOther role = iota
	roleRoot
	roleUsr
)

// data is what classification finds out (libguestfs' inspection_data).
// Empty strings and hasVersion=false mean "not known".
type data struct {
	osType, distro, productName, productVariant string
	hasVersion                                  bool
	major, minor                                int
	arch, hostname, buildID                     string
	systemroot, controlSet                      string
	softwareHive, systemHive                    string
	fstab                                       []fstabEntry
	driveMappings                               []DriveMapping
	packageFormat, packageManagement            string
}

type fstabEntry struct {
	mountable, mountpoint string
}

type classified struct {
	fs   Filesystem
	role role
	d    *data
}

// Inspect finds the operating systems on src: every filesystem is mounted
// read-only and classified by the files it holds (libguestfs' rules).
// An empty result with no error means no OS was found.
func Inspect(ctx context.Context, src Source, opts Options) (oses []OS, err error) {
	defer func() {
		// Guest data must never crash gfs: a parser bug becomes an error.
		if r := recover(); r != nil {
			oses, err = nil, fmt.Errorf("inspect: internal error on guest data: %v", r)
		}
	}()
	fss, err := src.Filesystems(ctx)
	if err != nil {
		return nil, err
	}
	layout, err := src.Layout(ctx)
	if err != nil {
		return nil, err
	}
	byDev := map[string]Filesystem{}
	for _, f := range fss {
		byDev[normMountable(f.Device)] = f
	}
	res := &resolver{layout: layout, fss: fss}
	if d, ok := src.(interface {
		partitionDetails(context.Context, *Layout)
	}); ok {
		res.details = func(l *Layout) { d.partitionDetails(ctx, l) }
	}
	var all []classified
	for _, f := range fss {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if f.Type == "swap" {
			continue
		}
		c, err := classifyOne(ctx, src, f, res, &opts)
		if err != nil {
			return nil, err
		}
		if c != nil {
			all = append(all, *c)
		}
	}
	mergeUsr(all)

	var out []OS
	for _, c := range all {
		if c.role != roleRoot {
			continue
		}
		o := buildOS(c, byDev)
		if opts.Applications {
			apps, err := listApplications(ctx, src, c, &opts)
			if err != nil {
				return nil, err
			}
			o.Applications = apps
		}
		out = append(out, o)
	}
	return out, nil
}

func classifyOne(ctx context.Context, src Source, f Filesystem, res *resolver, opts *Options) (*classified, error) {
	t, err := src.Mount(ctx, []Mount{{f.Device, "/"}})
	if err != nil {
		if isNotMountable(err) {
			opts.logf("inspect: %s (%s): not mountable: %v", f.Device, f.Type, err)
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", f.Device, err)
	}
	defer t.Close()
	v := &fsView{ctx: ctx, t: t}
	d := &data{}
	r, what := classify(v, d, f, res)
	if v.err != nil {
		return nil, fmt.Errorf("%s: %w", f.Device, v.err)
	}
	opts.logf("inspect: %s (%s): %s", f.Device, f.Type, what)
	d.packageFormat = packageFormat(d.distro)
	d.packageManagement = packageManagement(v, d)
	if v.err != nil {
		return nil, fmt.Errorf("%s: %w", f.Device, v.err)
	}
	return &classified{fs: f, role: r, d: d}, nil
}

// classify applies libguestfs' tests in their order to the filesystem
// mounted on "/".
func classify(v *fsView, d *data, f Filesystem, res *resolver) (role, string) {
	switch {
	case v.isFile("/grub/menu.lst") || v.isFile("/grub/grub.conf") || v.isFile("/grub2/grub.cfg"):
		return roleOther, "Grub /boot"
	case v.isDir("/etc") && v.isDir("/bin") && v.isFile("/etc/freebsd-update.conf") && v.isFile("/etc/fstab"):
		checkBSDRoot(v, d, f, res, "freebsd", "/etc/motd", nil)
		return roleRoot, "FreeBSD root"
	case v.isDir("/etc") && v.isDir("/bin") && v.isFile("/netbsd") && v.isFile("/etc/fstab") && v.isFile("/etc/release"):
		checkBSDRoot(v, d, f, res, "netbsd", "/etc/release", reNetBSD)
		return roleRoot, "NetBSD root"
	case v.isDir("/etc") && v.isDir("/bin") && v.isFile("/bsd") && v.isFile("/etc/fstab") && v.isFile("/etc/motd"):
		checkBSDRoot(v, d, f, res, "openbsd", "/etc/motd", nil)
		return roleRoot, "OpenBSD root"
	case v.isFile("/hurd/console") && v.isFile("/hurd/hello") && v.isFile("/hurd/null"):
		d.osType = "hurd"
		runReleaseTests(v, d, hurdTests)
		d.arch = checkArch(v)
		d.fstab = checkFstab(v, f, res, d.osType)
		d.hostname = hostnameLinux(v)
		return roleRoot, "Hurd root"
	case v.isDir("/etc") && v.isDir("/bin") && v.isFile("/service/vm") && v.isFile("/etc/fstab") && v.isFile("/etc/version"):
		d.osType = "minix"
		if v.isFileFollow("/etc/version") {
			parseGeneric(v, d, "/etc/version", "", reMinix)
			d.distro = ""
		}
		d.arch = checkArch(v)
		d.hostname = hostnameFromFile(v, "/etc/hostname.file")
		return roleRoot, "Minix root"
	case v.isDir("/etc") && (v.isDir("/bin") || v.isSymlinkTo("/bin", "usr/bin")) &&
		(v.isFile("/etc/fstab") || v.isFile("/etc/hosts")):
		d.osType = "linux"
		runReleaseTests(v, d, linuxTests)
		d.arch = checkArch(v)
		d.fstab = checkFstab(v, f, res, d.osType)
		d.hostname = hostnameLinux(v)
		return roleRoot, "Linux root"
	case v.isDir("/etc") && v.isDir("/root") && v.isDir("/home") && v.isDir("/usr") && v.isFile("/etc/coreos/update.conf"):
		d.osType, d.distro = "linux", "coreos"
		d.hostname = hostnameLinux(v)
		d.fstab = []fstabEntry{{f.Device, "/"}}
		return roleRoot, "CoreOS root"
	case v.isDir("/etc") && v.isDir("/bin") && v.isDir("/share") && !v.isDir("/local") && !v.isFile("/etc/fstab"):
		return roleOther, "Linux /usr/local"
	case v.isDir("/etc") && v.isDir("/bin") && v.isDir("/share") && v.isDir("/local") && !v.isFile("/etc/fstab"):
		d.osType = "linux"
		if v.isFileFollow("/lib/os-release") {
			parseOSRelease(v, d, "/lib/os-release")
		}
		if a := checkArch(v); a != "" {
			d.arch = a
		}
		return roleUsr, "Linux /usr"
	case v.isDir("/bin") && v.isDir("/share") && v.isDir("/local") && v.isDir("/share/coreos"):
		d.osType, d.distro = "linux", "coreos"
		if v.isFileFollow("/lib/os-release") {
			parseOSRelease(v, d, "/lib/os-release")
		} else if v.isFileFollow("/share/coreos/lsb-release") {
			parseLSBRelease(v, d, "/share/coreos/lsb-release")
		}
		if a := checkArch(v); a != "" {
			d.arch = a
		}
		d.fstab = []fstabEntry{{f.Device, "/usr"}}
		return roleUsr, "CoreOS /usr"
	case v.isDir("/log") && v.isDir("/run") && v.isDir("/spool"):
		return roleOther, "Linux /var"
	}
	if sr := windowsSystemroot(v); sr != "" {
		checkWindowsRoot(v, d, sr, res)
		return roleRoot, "Windows root"
	}
	switch {
	case v.isDirNoCase("/System Volume Information") && v.isDirNoCase("/Program Files"):
		return roleOther, "Windows volume with installed applications"
	case v.isDirNoCase("/System Volume Information"):
		return roleOther, "Windows volume"
	case v.isDirNoCase("/FDOS") && v.isFileNoCase("/FDOS/FREEDOS.BSS"):
		d.osType, d.distro, d.arch = "dos", "freedos", "i386"
		return roleRoot, "FreeDOS"
	case v.isDirNoCase("/DOS") && v.isFileNoCase("/DOS/COMMAND.COM"):
		d.osType, d.distro, d.arch = "dos", "msdos", "i386"
		return roleRoot, "MS-DOS"
	}
	return roleOther, "no known OS partition"
}

func checkBSDRoot(v *fsView, d *data, f Filesystem, res *resolver, distro, release string, rex *regexp.Regexp) {
	// libguestfs reports OpenBSD with the FreeBSD type and distro.
	if distro == "openbsd" {
		distro = "freebsd"
	}
	d.osType, d.distro = distro, distro
	if v.isFileFollow(release) {
		parseGeneric(v, d, release, distro, rex)
	}
	d.arch = checkArch(v)
	d.fstab = checkFstab(v, f, res, d.osType)
	d.hostname = hostnameBSD(v)
}

// mergeUsr copies what a separate /usr found into the root whose fstab
// mounts it, where the root did not find it itself.
func mergeUsr(all []classified) {
	for i := range all {
		root := &all[i]
		if root.role != roleRoot || root.d.distro == "coreos" {
			continue
		}
		for _, u := range all {
			if u.role != roleUsr {
				continue
			}
			inFstab := false
			for _, e := range root.d.fstab {
				if normMountable(e.mountable) == normMountable(u.fs.Device) {
					inFstab = true
				}
			}
			if !inFstab {
				continue
			}
			mergeData(u.d, root.d)
			break
		}
	}
	// CoreOS: the root takes the newest /usr's version information.
	var croot *classified
	var best *classified
	for i := range all {
		c := &all[i]
		if c.d.distro != "coreos" {
			continue
		}
		if c.role == roleRoot && croot == nil {
			croot = c
		}
		if c.role == roleUsr && (best == nil || c.d.major > best.d.major ||
			(c.d.major == best.d.major && c.d.minor > best.d.minor)) {
			best = c
		}
	}
	if croot != nil && best != nil {
		mergeData(best.d, croot.d)
	}
}

// mergeData merges a /usr filesystem's findings into its root: the
// root's own values take precedence (libguestfs' merge_inspection_data).
func mergeData(src, dst *data) {
	set := func(d *string, s string) {
		if *d == "" {
			*d = s
		}
	}
	set(&dst.osType, src.osType)
	set(&dst.distro, src.distro)
	set(&dst.packageFormat, src.packageFormat)
	set(&dst.packageManagement, src.packageManagement)
	set(&dst.productName, src.productName)
	set(&dst.productVariant, src.productVariant)
	if !dst.hasVersion && src.hasVersion {
		dst.hasVersion, dst.major, dst.minor = true, src.major, src.minor
	}
	set(&dst.arch, src.arch)
	set(&dst.hostname, src.hostname)
	set(&dst.buildID, src.buildID)
	dst.fstab = append(append([]fstabEntry(nil), src.fstab...), dst.fstab...)
	set(&dst.systemroot, src.systemroot)
	set(&dst.controlSet, src.controlSet)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// buildOS turns a classified root into the public description.
func buildOS(c classified, byDev map[string]Filesystem) OS {
	d := c.d
	o := OS{
		Root:                     CanonicalDevice(c.fs.Device),
		Type:                     orUnknown(d.osType),
		Distro:                   orUnknown(d.distro),
		ProductName:              orUnknown(d.productName),
		ProductVariant:           orUnknown(d.productVariant),
		Arch:                     orUnknown(d.arch),
		Hostname:                 orUnknown(d.hostname),
		PackageFormat:            orUnknown(d.packageFormat),
		PackageManagement:        orUnknown(d.packageManagement),
		BuildID:                  d.buildID,
		WindowsSystemroot:        d.systemroot,
		WindowsCurrentControlSet: d.controlSet,
	}
	if d.hasVersion {
		o.MajorVersion, o.MinorVersion = d.major, d.minor
	}
	o.OSInfo = osinfo(o)

	// Mountpoints and filesystems come from fstab; without one (Windows)
	// the root alone.
	fstab := d.fstab
	if len(fstab) == 0 {
		fstab = []fstabEntry{{c.fs.Device, "/"}}
	}
	var fsNames []string
	for _, e := range fstab {
		if strings.HasPrefix(e.mountpoint, "/") {
			o.Mountpoints = append(o.Mountpoints, Mountpoint{Device: CanonicalDevice(e.mountable), Mountpoint: e.mountpoint})
		}
		fsNames = append(fsNames, e.mountable)
	}
	sort.SliceStable(o.Mountpoints, func(i, j int) bool {
		a, b := o.Mountpoints[i].Mountpoint, o.Mountpoints[j].Mountpoint
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
	sort.Strings(fsNames)
	for _, n := range fsNames {
		f, ok := byDev[normMountable(n)]
		if !ok {
			f = Filesystem{}
		}
		f.Device = CanonicalDevice(n)
		f.PartUUID, f.PartLabel = "", ""
		if f.Type == "unknown" {
			f.Type = ""
		}
		o.Filesystems = append(o.Filesystems, f)
	}
	for _, m := range d.driveMappings {
		o.DriveMappings = append(o.DriveMappings, DriveMapping{m.Name, CanonicalDevice(m.Device)})
	}
	sort.SliceStable(o.DriveMappings, func(i, j int) bool {
		return strings.ToLower(o.DriveMappings[i].Name) < strings.ToLower(o.DriveMappings[j].Name)
	})
	return o
}

// CanonicalDevice names a device as libguestfs' canonical-device-name
// does: /dev/hdX and /dev/vdX become /dev/sdX.
func CanonicalDevice(dev string) string {
	for _, p := range []string{"/dev/hd", "/dev/vd"} {
		if strings.HasPrefix(dev, p) && len(dev) > len(p) && dev[len(p)] >= 'a' && dev[len(p)] <= 'z' {
			return "/dev/sd" + dev[len(p):]
		}
	}
	return dev
}

// mountsForRoot returns the mounts of an OS in the order they must be
// made: by mountpoint length, shortest first (guestfish's order). The
// inspected root is always what goes on "/", whatever fstab says.
func mountsForRoot(d *data, root string) []Mount {
	ms := []Mount{{root, "/"}}
	for _, e := range d.fstab {
		if mp := path.Clean(e.mountpoint); strings.HasPrefix(mp, "/") && mp != "/" {
			ms = append(ms, Mount{e.mountable, mp})
		}
	}
	sortMounts(ms)
	return ms
}

func sortMounts(ms []Mount) {
	sort.SliceStable(ms, func(i, j int) bool {
		return len(ms[i].Mountpoint) < len(ms[j].Mountpoint)
	})
}

func isNotMountable(err error) bool { return errors.Is(err, ErrNotMountable) }
