package inspect

import (
	"fmt"
	"strconv"
	"strings"
)

// osinfo computes the libosinfo short id as libguestfs'
// inspect-get-osinfo does, or "unknown".
func osinfo(o OS) string {
	major, minor := o.MajorVersion, o.MinorVersion
	distro := o.Distro
	switch o.Type {
	case "linux":
		switch distro {
		case "centos":
			switch {
			case major >= 8:
				return fmt.Sprintf("%s%d", distro, major)
			case major == 7:
				return fmt.Sprintf("%s%d.0", distro, major)
			case major == 6:
				return fmt.Sprintf("%s%d.%d", distro, major, minor)
			}
		case "circle", "rocky":
			if major >= 8 {
				return fmt.Sprintf("%s%d", distro, major)
			}
		case "debian":
			if major >= 4 {
				return fmt.Sprintf("%s%d", distro, major)
			}
		case "fedora", "mageia":
			return fmt.Sprintf("%s%d", distro, major)
		case "sles":
			if minor == 0 {
				return fmt.Sprintf("%s%d", distro, major)
			}
			return fmt.Sprintf("%s%dsp%d", distro, major, minor)
		case "ubuntu":
			return fmt.Sprintf("%s%d.%02d", distro, major, minor)
		case "archlinux", "gentoo", "voidlinux":
			return distro
		case "altlinux":
			if major >= 8 {
				return fmt.Sprintf("alt%d.%d", major, minor)
			}
			return fmt.Sprintf("%s%d.%d", distro, major, minor)
		}
		if distro != "unknown" && (major > 0 || minor > 0) {
			return fmt.Sprintf("%s%d.%d", distro, major, minor)
		}
	case "freebsd", "netbsd", "openbsd":
		return fmt.Sprintf("%s%d.%d", distro, major, minor)
	case "dos":
		if distro == "msdos" {
			return "msdos6.22"
		}
	case "windows":
		name, variant := o.ProductName, o.ProductVariant
		switch {
		case major == 5 && minor == 1:
			return "winxp"
		case major == 5 && minor == 2:
			switch {
			case strings.Contains(name, "XP"):
				return "winxp"
			case strings.Contains(name, "R2"):
				return "win2k3r2"
			}
			return "win2k3"
		case major == 6 && minor <= 3:
			server := strings.Contains(variant, "Server")
			ids := [4][2]string{{"winvista", "win2k8"}, {"win7", "win2k8r2"}, {"win8", "win2k12"}, {"win8.1", "win2k12r2"}}
			if server {
				return ids[minor][1]
			}
			return ids[minor][0]
		case major == 10 && minor == 0:
			if strings.Contains(variant, "Server") {
				switch {
				case strings.Contains(name, "2025"):
					return "win2k25"
				case strings.Contains(name, "2022"):
					return "win2k22"
				case strings.Contains(name, "2019"):
					return "win2k19"
				}
				return "win2k16"
			}
			build, err := strconv.Atoi(o.BuildID)
			if err != nil || build < 0 {
				return "unknown"
			}
			if build >= 22000 {
				return "win11"
			}
			return "win10"
		}
	}
	return "unknown"
}
