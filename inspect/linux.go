package inspect

import (
	"regexp"
	"strconv"
	"strings"
)

// Release-file rules: which file, which parser, in libguestfs' order.
// The first parser that succeeds ends the search; a failing parser may
// still have set fields, which later ones overwrite.
type releaseTest struct {
	file  string
	parse func(v *fsView, d *data, file string) bool
}

var (
	reFedora            = regexp.MustCompile(`Fedora release (\d+)`)
	reRHELOld           = regexp.MustCompile(`Red Hat.*release (\d+).*Update (\d+)`)
	reRHEL              = regexp.MustCompile(`Red Hat.*release (\d+)\.(\d+)`)
	reRHELNoMinor       = regexp.MustCompile(`Red Hat.*release (\d+)`)
	reCentOSOld         = regexp.MustCompile(`CentOS.*release (\d+).*Update (\d+)`)
	reCentOS            = regexp.MustCompile(`CentOS.*release (\d+)\.(\d+)`)
	reCentOSNoMinor     = regexp.MustCompile(`CentOS.*release (\d+)`)
	reRocky             = regexp.MustCompile(`Rocky Linux.*release (\d+)\.(\d+)`)
	reRockyNoMinor      = regexp.MustCompile(`Rocky Linux.*release (\d+)`)
	reScientificOld     = regexp.MustCompile(`Scientific Linux.*release (\d+).*Update (\d+)`)
	reScientific        = regexp.MustCompile(`Scientific Linux.*release (\d+)\.(\d+)`)
	reScientificNoMinor = regexp.MustCompile(`Scientific Linux.*release (\d+)`)
	reOracleOld         = regexp.MustCompile(`Oracle Linux.*release (\d+).*Update (\d+)`)
	reOracle            = regexp.MustCompile(`Oracle Linux.*release (\d+)\.(\d+)`)
	reOracleNoMinor     = regexp.MustCompile(`Oracle Linux.*release (\d+)`)
	reNetBSD            = regexp.MustCompile(`^NetBSD (\d+)\.(\d+)`)
	reOpenSUSE          = regexp.MustCompile(`^(openSUSE|SuSE Linux|SUSE LINUX) `)
	reSLES              = regexp.MustCompile(`^SUSE (Linux|LINUX) Enterprise `)
	reNLD               = regexp.MustCompile(`^Novell Linux Desktop `)
	reSLESVersion       = regexp.MustCompile(`^VERSION = (\d+)`)
	reSLESPatchlevel    = regexp.MustCompile(`^PATCHLEVEL = (\d+)`)
	reMinix             = regexp.MustCompile(`^(\d+)\.(\d+)(\.(\d+))?`)
	reFrugalware        = regexp.MustCompile(`Frugalware (\d+)\.(\d+)`)
	rePLD               = regexp.MustCompile(`(\d+)\.(\d+) PLD Linux`)
	reNeoKylinVersion   = regexp.MustCompile(`^V(\d+)Update(\d+)$`)
	reOpenMandriva      = regexp.MustCompile(`OpenMandriva.*release (\d+)\.(\d+)\.?(\d+)? .*`)
	reMajorMinor        = regexp.MustCompile(`(\d+)\.(\d+)`)
	reMajor             = regexp.MustCompile(`(\d+)`)
	rollingDistros      = map[string]bool{"archlinux": true, "gentoo": true, "voidlinux": true}
	osReleaseIDs        = map[string]string{"alpine": "alpinelinux", "altlinux": "altlinux", "arch": "archlinux", "centos": "centos", "coreos": "coreos", "debian": "debian", "fedora": "fedora", "frugalware": "frugalware", "gentoo": "gentoo", "kali": "kalilinux", "kylin": "kylin", "mageia": "mageia", "neokylin": "neokylin", "openmandriva": "openmandriva", "opensuse": "opensuse", "pardus": "pardus", "pld": "pldlinux", "rhel": "rhel", "rocky": "rocky", "sles": "sles", "sled": "sles", "ubuntu": "ubuntu", "void": "voidlinux"}
	lsbDistribIDs       = map[string]string{"CoreOS": "coreos", "LinuxMint": "linuxmint", "Mageia": "mageia", "Ubuntu": "ubuntu"}
	archBinaries        = []string{"/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh"}
	hostnameFiles       = []string{"/etc/HOSTNAME", "/etc/hostname"}
	generic             = func(distro string, rex *regexp.Regexp) func(*fsView, *data, string) bool {
		return func(v *fsView, d *data, file string) bool { return parseGeneric(v, d, file, distro, rex) }
	}
	setDistro = func(distro string) func(*fsView, *data, string) bool {
		return func(_ *fsView, d *data, _ string) bool { d.distro = distro; return true }
	}
)

var linuxTests = []releaseTest{
	{"/etc/os-release", parseOSRelease},
	{"/etc/lsb-release", parseLSBRelease},
	{"/etc/openmandriva-release", generic("openmandriva", reOpenMandriva)},
	{"/etc/oracle-release", generic("oraclelinux", reOracleOld)},
	{"/etc/oracle-release", generic("oraclelinux", reOracle)},
	{"/etc/oracle-release", generic("oraclelinux", reOracleNoMinor)},
	{"/etc/centos-release", generic("centos", reCentOSOld)},
	{"/etc/centos-release", generic("centos", reCentOS)},
	{"/etc/centos-release", generic("centos", reCentOSNoMinor)},
	{"/etc/rocky-release", generic("rocky", reRocky)},
	{"/etc/rocky-release", generic("rocky", reRockyNoMinor)},
	{"/etc/altlinux-release", generic("altlinux", nil)},
	{"/etc/redhat-release", generic("fedora", reFedora)},
	{"/etc/redhat-release", generic("rhel", reRHELOld)},
	{"/etc/redhat-release", generic("rhel", reRHEL)},
	{"/etc/redhat-release", generic("rhel", reRHELNoMinor)},
	{"/etc/redhat-release", generic("centos", reCentOSOld)},
	{"/etc/redhat-release", generic("centos", reCentOS)},
	{"/etc/redhat-release", generic("centos", reCentOSNoMinor)},
	{"/etc/redhat-release", generic("rocky", reRocky)},
	{"/etc/redhat-release", generic("rocky", reRockyNoMinor)},
	{"/etc/redhat-release", generic("scientificlinux", reScientificOld)},
	{"/etc/redhat-release", generic("scientificlinux", reScientific)},
	{"/etc/redhat-release", generic("scientificlinux", reScientificNoMinor)},
	{"/etc/redhat-release", generic("redhat-based", nil)},
	{"/etc/redhat-release", setDistro("redhat-based")},
	{"/etc/debian_version", generic("debian", nil)},
	{"/etc/pardus-release", generic("pardus", nil)},
	{"/etc/arch-release", setDistro("archlinux")},
	{"/etc/gentoo-release", generic("gentoo", nil)},
	{"/etc/meego-release", generic("meego", nil)},
	{"/etc/slackware-version", generic("slackware", nil)},
	{"/etc/ttylinux-target", generic("ttylinux", nil)},
	{"/etc/SuSE-release", parseSUSERelease},
	{"/etc/SuSE-release", setDistro("suse-based")},
	{"/etc/cirros/version", generic("cirros", nil)},
	{"/etc/br-version", func(v *fsView, d *data, file string) bool {
		distro := "buildroot"
		if v.isFileFollow("/usr/share/cirros/logo") {
			distro = "cirros"
		}
		return parseGeneric(v, d, file, distro, nil)
	}},
	{"/etc/alpine-release", generic("alpinelinux", nil)},
	{"/etc/frugalware-release", generic("frugalware", reFrugalware)},
	{"/etc/pld-release", generic("pldlinux", rePLD)},
}

var hurdTests = []releaseTest{
	{"/etc/os-release", parseOSRelease},
	{"/etc/debian_version", generic("debian", nil)},
}

func runReleaseTests(v *fsView, d *data, tests []releaseTest) {
	for _, t := range tests {
		if v.err != nil {
			return
		}
		if v.isFileFollow(t.file) && t.parse(v, d, t.file) {
			return
		}
	}
}

// lines splits a file as libguestfs does (on \n, keeping a trailing
// empty string).
func lines(b []byte) []string { return strings.Split(string(b), "\n") }

func atoiSafe(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// parseVersion is parse_version_from_major_minor.
func parseVersion(s string, d *data) {
	if m := reMajorMinor.FindStringSubmatch(s); m != nil {
		a, ok1 := atoiSafe(m[1])
		b, ok2 := atoiSafe(m[2])
		if ok1 && ok2 {
			d.hasVersion, d.major, d.minor = true, a, b
		}
		return
	}
	if m := reMajor.FindStringSubmatch(s); m != nil {
		if a, ok := atoiSafe(m[1]); ok {
			d.hasVersion, d.major, d.minor = true, a, 0
		}
	}
}

// keyValues parses KEY=value lines, skipping blanks and comments.
func keyValues(ls []string, unquote func(string) string) [][2]string {
	var out [][2]string
	for _, l := range ls {
		if l == "" || l[0] == '#' {
			continue
		}
		k, val, _ := strings.Cut(l, "=")
		out = append(out, [2]string{k, unquote(val)})
	}
	return out
}

func simpleUnquote(s string) string {
	if n := len(s); n >= 2 && ((s[0] == '"' && s[n-1] == '"') || (s[0] == '\'' && s[n-1] == '\'')) {
		return s[1 : n-1]
	}
	return s
}

// shellUnquote undoes shell quoting as os-release allows it: "…" with
// backslash escapes of $ ` " \, or '…' verbatim.
func shellUnquote(s string) string {
	n := len(s)
	if n >= 2 && s[0] == '\'' && s[n-1] == '\'' {
		return s[1 : n-1]
	}
	if n >= 2 && s[0] == '"' && s[n-1] == '"' {
		in := s[1 : n-1]
		var b strings.Builder
		for i := 0; i < len(in); i++ {
			if in[i] == '\\' && i+1 < len(in) && strings.IndexByte("$`\"\\\n", in[i+1]) >= 0 {
				i++
			}
			b.WriteByte(in[i])
		}
		return b.String()
	}
	return s
}

func parseOSRelease(v *fsView, d *data, file string) bool {
	b, ok := v.readSmall(file)
	if !ok {
		return false
	}
	for _, kv := range keyValues(lines(b), shellUnquote) {
		switch kv[0] {
		case "ID":
			if distro, ok := osReleaseIDs[kv[1]]; ok {
				d.distro = distro
			} else if strings.HasPrefix(kv[1], "opensuse-") {
				d.distro = "opensuse"
			}
		case "PRETTY_NAME":
			d.productName = kv[1]
		case "VERSION_ID":
			if m := reNeoKylinVersion.FindStringSubmatch(kv[1]); m != nil {
				a, _ := atoiSafe(m[1])
				c, _ := atoiSafe(m[2])
				d.hasVersion, d.major, d.minor = true, a, c
			} else {
				parseVersion(kv[1], d)
			}
		case "BUILD_ID":
			d.buildID = kv[1]
		}
	}
	if d.distro == "" || d.productName == "" {
		return false
	}
	switch {
	case (d.distro == "debian" || d.distro == "centos" || d.distro == "rocky") && d.hasVersion && d.minor == 0:
		// Their VERSION_ID has the major number only: the other
		// release files say more.
		return false
	case !d.hasVersion && rollingDistros[d.distro]:
		d.hasVersion, d.major, d.minor = true, 0, 0
		return true
	case !d.hasVersion:
		return false
	}
	return true
}

func parseLSBRelease(v *fsView, d *data, file string) bool {
	b, ok := v.readSmall(file)
	if !ok {
		return false
	}
	found := false
	for _, kv := range keyValues(lines(b), simpleUnquote) {
		switch kv[0] {
		case "DISTRIB_ID":
			if distro, ok := lsbDistribIDs[kv[1]]; ok {
				d.distro = distro
				found = true
			}
		case "DISTRIB_RELEASE":
			parseVersion(kv[1], d)
		case "DISTRIB_DESCRIPTION":
			d.productName = kv[1]
			found = true
		}
	}
	return found
}

func parseSUSERelease(v *fsView, d *data, file string) bool {
	b, ok := v.readSmall(file)
	if !ok {
		return false
	}
	ls := lines(b)
	if len(ls) == 0 {
		return false
	}
	d.productName = ls[0]
	switch {
	case reSLES.MatchString(ls[0]) || reNLD.MatchString(ls[0]):
		d.distro = "sles"
		d.hasVersion = false
		if len(ls) >= 2 {
			if m := reSLESVersion.FindStringSubmatch(ls[1]); m != nil {
				if a, ok := atoiSafe(m[1]); ok {
					d.hasVersion, d.major, d.minor = true, a, 0
				}
			}
		}
		if d.hasVersion && len(ls) >= 3 {
			if m := reSLESPatchlevel.FindStringSubmatch(ls[2]); m != nil {
				d.minor, _ = atoiSafe(m[1])
			}
		}
	case reOpenSUSE.MatchString(ls[0]):
		if len(ls) >= 2 {
			parseVersion(ls[1], d)
		}
		d.distro = "opensuse"
	}
	return true
}

// parseGeneric takes the first line as the product name; with rex the
// line must match and gives the version, else a version is guessed.
func parseGeneric(v *fsView, d *data, file, distro string, rex *regexp.Regexp) bool {
	b, ok := v.readSmall(file)
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if first == "" {
		return false
	}
	d.productName = first
	d.distro = distro
	if rex == nil {
		parseVersion(first, d)
		return true
	}
	m := rex.FindStringSubmatch(first)
	if m == nil {
		return false
	}
	var major, minor int
	haveMajor, haveMinor := false, false
	if len(m) > 1 && m[1] != "" {
		major, haveMajor = atoiSafe(m[1])
	}
	if len(m) > 2 && m[2] != "" {
		minor, haveMinor = atoiSafe(m[2])
	}
	switch {
	case haveMajor && haveMinor:
		d.hasVersion, d.major, d.minor = true, major, minor
	case haveMajor:
		d.hasVersion, d.major, d.minor = true, major, 0
	}
	return true
}

// checkArch reads the ELF header of the first of the usual binaries.
func checkArch(v *fsView) string {
	for _, bin := range archBinaries {
		if !v.isFileFollow(bin) {
			continue
		}
		b, err := readHead(v, bin, 4096)
		if err != nil {
			v.fail(err)
			continue
		}
		if a := binaryArch(b); a != "" {
			return a
		}
	}
	return ""
}

func hostnameLinux(v *fsView) string {
	for _, f := range hostnameFiles {
		if h := hostnameFromFile(v, f); h != "" {
			return h
		}
	}
	if v.isFile("/etc/sysconfig/network") {
		if b, ok := v.readSmall("/etc/sysconfig/network"); ok {
			for _, kv := range keyValues(lines(b), shellUnquote) {
				if strings.TrimSpace(kv[0]) == "HOSTNAME" {
					return strings.TrimSpace(kv[1])
				}
			}
		}
	}
	return ""
}

// hostnameFromFile returns the first line that is not empty or a comment.
func hostnameFromFile(v *fsView, file string) string {
	b, ok := v.readSmall(file)
	if !ok {
		return ""
	}
	for _, l := range lines(b) {
		if l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// hostnameBSD reads hostname= from /etc/rc.conf.
func hostnameBSD(v *fsView) string {
	b, ok := v.readSmall("/etc/rc.conf")
	if !ok {
		return ""
	}
	for _, l := range lines(b) {
		if strings.HasPrefix(l, `hostname="`) || strings.HasPrefix(l, `hostname='`) {
			if len(l) >= 11 {
				return l[10 : len(l)-1]
			}
			return ""
		}
		if strings.HasPrefix(l, "hostname=") {
			return l[9:]
		}
	}
	return ""
}

// packageFormat follows the distro (check_package_format).
func packageFormat(distro string) string {
	switch distro {
	case "altlinux", "centos", "fedora", "mageia", "mandriva", "meego", "neokylin", "opensuse",
		"oraclelinux", "redhat-based", "rhel", "scientificlinux", "sles", "suse-based", "rocky", "openmandriva", "kylin":
		return "rpm"
	case "debian", "kalilinux", "linuxmint", "ubuntu":
		return "deb"
	case "archlinux":
		return "pacman"
	case "gentoo":
		return "ebuild"
	case "pardus":
		return "pisi"
	case "alpinelinux":
		return "apk"
	case "voidlinux":
		return "xbps"
	}
	return ""
}

// packageManagement follows the distro and major version.
func packageManagement(v *fsView, d *data) string {
	major := 0
	if d.hasVersion {
		major = d.major
	}
	switch d.distro {
	case "meego":
		return "yum"
	case "fedora":
		if major >= 22 && v.isFileFollow("/usr/bin/dnf") {
			return "dnf"
		} else if major >= 1 {
			return "yum"
		}
	case "neokylin", "kylin", "openmandriva":
		return "dnf"
	case "centos", "oraclelinux", "redhat-based", "rhel", "scientificlinux", "rocky":
		switch {
		case major >= 8:
			return "dnf"
		case major >= 5:
			return "yum"
		case major >= 2:
			return "up2date"
		}
	case "altlinux", "debian", "kalilinux", "linuxmint", "ubuntu":
		return "apt"
	case "archlinux":
		return "pacman"
	case "gentoo":
		return "portage"
	case "pardus":
		return "pisi"
	case "mageia", "mandriva":
		return "urpmi"
	case "opensuse", "sles", "suse-based":
		return "zypper"
	case "alpinelinux":
		return "apk"
	case "voidlinux":
		return "xbps"
	}
	return ""
}
