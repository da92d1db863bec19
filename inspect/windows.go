package inspect

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	systemrootPaths = []string{"/windows", "/winnt", "/win32", "/win", "/reactos"}
	reBootIniOS     = regexp.MustCompile(`^(multi|scsi)\((\d+)\)disk\((\d+)\)rdisk\((\d+)\)partition\((\d+)\)([^=]+)=`)
)

// windowsSystemroot finds %SYSTEMROOT% on the filesystem mounted on "/",
// as the real-case path (e.g. /Windows), or "".
func windowsSystemroot(v *fsView) string {
	for _, p := range systemrootPaths {
		if rp, ok := v.caseSensitivePath(p); ok && isSystemroot(v, rp) {
			return rp
		}
	}
	// boot.ini may name a non-standard location.
	bi, ok := v.caseSensitivePath("/boot.ini")
	if !ok {
		return ""
	}
	b, ok := v.readSmall(bi)
	if !ok {
		return ""
	}
	ls := lines(b)
	for i, l := range ls {
		if !strings.HasPrefix(l, "[operating systems]") {
			continue
		}
		for _, os := range ls[i+1:] {
			if !strings.HasPrefix(os, "multi(") && !strings.HasPrefix(os, "scsi(") {
				break
			}
			m := reBootIniOS.FindStringSubmatch(os)
			if m == nil {
				continue
			}
			p := strings.ReplaceAll(m[6], `\`, "/")
			if rp, ok := v.caseSensitivePath(p); ok && isSystemroot(v, rp) {
				return rp
			}
		}
		break
	}
	return ""
}

func isSystemroot(v *fsView, sr string) bool {
	return v.isDirNoCase(sr+"/system32") && v.isDirNoCase(sr+"/system32/config") &&
		v.isFileNoCase(sr+"/system32/cmd.exe")
}

func checkWindowsRoot(v *fsView, d *data, systemroot string, res *resolver) {
	d.osType, d.distro, d.systemroot = "windows", "windows", systemroot
	if cmd, ok := v.caseSensitivePath(systemroot + "/system32/cmd.exe"); ok {
		if b, err := readHead(v, cmd, 4096); err == nil {
			d.arch = binaryArch(b)
		} else {
			v.fail(err)
		}
	}
	if p, ok := v.caseSensitivePath(systemroot + "/system32/config/software"); ok && v.isFile(p) {
		d.softwareHive = p
	}
	if p, ok := v.caseSensitivePath(systemroot + "/system32/config/system"); ok && v.isFile(p) {
		d.systemHive = p
	}
	if d.softwareHive == "" || d.systemHive == "" {
		return
	}
	if b, ok := v.read(d.softwareHive, maxHiveSize); ok {
		if h, err := openHive(b); err == nil {
			windowsSoftware(h, d)
		}
	}
	if b, ok := v.read(d.systemHive, maxHiveSize); ok {
		if h, err := openHive(b); err == nil {
			windowsSystem(h, d, res)
		}
	}
}

func windowsSoftware(h *hive, d *data) {
	n, ok := h.path("Microsoft", "Windows NT", "CurrentVersion")
	if !ok {
		return
	}
	if s, ok := h.stringValue(n, "ProductName"); ok {
		d.productName = s
	}
	maj, ok1 := h.dwordValue(n, "CurrentMajorVersionNumber")
	min, ok2 := h.dwordValue(n, "CurrentMinorVersionNumber")
	if ok1 && ok2 {
		d.hasVersion, d.major, d.minor = true, int(int32(maj)), int(int32(min))
	} else if s, ok := h.stringValue(n, "CurrentVersion"); ok {
		parseVersion(s, d)
	}
	if s, ok := h.stringValue(n, "InstallationType"); ok {
		d.productVariant = s
	}
	if s, ok := h.stringValue(n, "CurrentBuildNumber"); ok {
		d.buildID = s
	}
}

func windowsSystem(h *hive, d *data, res *resolver) {
	d.driveMappings = driveMappings(h, res)
	sel, ok := h.path("Select")
	if !ok {
		return
	}
	cur, ok := h.dwordValue(sel, "Current")
	if !ok {
		return
	}
	d.controlSet = "ControlSet" + pad3(cur)
	if n, ok := h.path(d.controlSet, "Services", "Tcpip", "Parameters"); ok {
		if s, ok := h.stringValue(n, "Hostname"); ok {
			d.hostname = s
		}
	}
}

func pad3(n uint32) string {
	s := strconv.FormatUint(uint64(n), 10)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

// driveMappings reads HKLM\SYSTEM\MountedDevices: \DosDevices\C: values
// hold an MBR disk signature and partition offset, or a GPT partition
// GUID after "DMIO:ID:".
func driveMappings(h *hive, res *resolver) []DriveMapping {
	n, ok := h.path("MountedDevices")
	if !ok {
		return nil
	}
	var out []DriveMapping
	for _, val := range h.values(n) {
		k := val.name
		if len(k) < 14 || !strings.EqualFold(k[:12], `\DosDevices\`) || !isAlpha(k[12]) || k[13] != ':' {
			continue
		}
		if val.typ != regBinary {
			continue
		}
		blob, ok := h.valueData(val)
		if !ok {
			continue
		}
		dev := ""
		switch {
		case len(blob) >= 24 && string(blob[:8]) == "DMIO:ID:":
			dev = res.partitionByGUID(guidFromRegistry(blob[8:24]))
		case len(blob) == 12:
			dev = res.partitionByMBR(blob[:4], le64(blob[4:12]))
		}
		if dev != "" {
			out = append(out, DriveMapping{Name: k[12:13], Device: dev})
		}
	}
	return out
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func le64(b []byte) uint64 {
	var n uint64
	for i := 7; i >= 0; i-- {
		n = n<<8 | uint64(b[i])
	}
	return n
}

// guidFromRegistry formats a little-endian binary GUID.
func guidFromRegistry(b []byte) string {
	return strings.ToUpper(strings.Join([]string{
		hexLE(b[0:4]), hexLE(b[4:6]), hexLE(b[6:8]), hexBE(b[8:10]), hexBE(b[10:16])}, "-"))
}

func hexLE(b []byte) string {
	r := make([]byte, len(b))
	for i := range b {
		r[i] = b[len(b)-1-i]
	}
	return hexBE(r)
}

func hexBE(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// windowsApplications lists Uninstall keys that have a DisplayName.
func windowsApplications(v *fsView, d *data) ([]Application, error) {
	if d.softwareHive == "" {
		return nil, nil
	}
	b, ok := v.read(d.softwareHive, maxHiveSize)
	if !ok {
		return nil, nil
	}
	h, err := openHive(b)
	if err != nil {
		return nil, err
	}
	var apps []Application
	for _, p := range [][]string{
		{"Microsoft", "Windows", "CurrentVersion", "Uninstall"},
		{"WOW6432node", "Microsoft", "Windows", "CurrentVersion", "Uninstall"},
	} {
		n, ok := h.path(p...)
		if !ok {
			continue
		}
		for _, c := range h.children(n) {
			if len(apps) >= maxApps {
				break
			}
			name := h.keyName(c)
			dn, ok := h.stringValue(c, "DisplayName")
			if name == "" || !ok {
				continue
			}
			a := Application{Name: name, DisplayName: dn}
			a.Version, _ = h.stringValue(c, "DisplayVersion")
			a.InstallPath, _ = h.stringValue(c, "InstallLocation")
			a.Publisher, _ = h.stringValue(c, "Publisher")
			a.URL, _ = h.stringValue(c, "URLInfoAbout")
			a.Description, _ = h.stringValue(c, "Comments")
			apps = append(apps, a)
		}
	}
	return apps, nil
}
