package inspect

import (
	"errors"
	"fmt"

	"gfs/appliance/api"
)

// ErrNotInspected is returned by Command before any inspect-os.
var ErrNotInspected = errors.New("no inspection data: call inspect-os first")

// Command answers the inspect-* commands of the table (area
// "Inspection") from the result of the last inspection, shaped for the
// command's return kind:
//
//	inspect-os, inspect-get-roots, inspect-get-filesystems → []string
//	inspect-get-type, -distro, -product-name, -arch, -hostname,
//	  -package-format, -package-management, -osinfo → string
//	inspect-get-major-version, -minor-version → int
//	inspect-get-mountpoints → [][2]string (mountpoint, device)
//	inspect-list-applications2 → []api.Application2
//
// The shell runs the inspection itself for inspect-os (Auto, or
// InspectDisks / InspectAppliance on the session's reader), keeps the
// []OS, and calls Command("inspect-os", oses, nil) to get the roots. oses
// is nil when no inspect-os ran yet. inspect-list-applications2 returns
// what the inspection read (it lists applications when run with
// Options.Applications).
func Command(name string, oses []OS, args []string) (any, error) {
	if oses == nil {
		return nil, ErrNotInspected
	}
	if name == "inspect-os" || name == "inspect-get-roots" {
		roots := []string{}
		for _, o := range oses {
			roots = append(roots, o.Root)
		}
		return roots, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("%s: expects a root device", name)
	}
	o, err := Find(oses, args[0])
	if err != nil {
		return nil, err
	}
	switch name {
	case "inspect-get-type":
		return o.Type, nil
	case "inspect-get-distro":
		return o.Distro, nil
	case "inspect-get-product-name":
		return o.ProductName, nil
	case "inspect-get-product-variant":
		return o.ProductVariant, nil
	case "inspect-get-major-version":
		return o.MajorVersion, nil
	case "inspect-get-minor-version":
		return o.MinorVersion, nil
	case "inspect-get-arch":
		return o.Arch, nil
	case "inspect-get-hostname":
		return o.Hostname, nil
	case "inspect-get-package-format":
		return o.PackageFormat, nil
	case "inspect-get-package-management":
		return o.PackageManagement, nil
	case "inspect-get-osinfo":
		return o.OSInfo, nil
	case "inspect-get-windows-systemroot":
		if o.WindowsSystemroot == "" {
			return nil, errors.New("not a Windows guest, or systemroot could not be determined")
		}
		return o.WindowsSystemroot, nil
	case "inspect-get-mountpoints":
		out := [][2]string{}
		for _, m := range o.Mountpoints {
			out = append(out, [2]string{m.Mountpoint, m.Device})
		}
		return out, nil
	case "inspect-get-filesystems":
		out := []string{}
		for _, f := range o.Filesystems {
			out = append(out, f.Device)
		}
		return out, nil
	case "inspect-list-applications2":
		out := []api.Application2{}
		for _, a := range o.Applications {
			out = append(out, api.Application2{Name: a.Name, DisplayName: a.DisplayName, Epoch: int32(a.Epoch),
				Version: a.Version, Release: a.Release, Arch: a.Arch, InstallPath: a.InstallPath, Publisher: a.Publisher,
				URL: a.URL, SourcePackage: a.SourcePackage, Summary: a.Summary, Description: a.Description})
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: not an inspection command", name)
}

// Find returns the OS whose root is root (any name of the device).
func Find(oses []OS, root string) (*OS, error) {
	if oses == nil {
		return nil, ErrNotInspected
	}
	c := CanonicalDevice(root)
	for i := range oses {
		if oses[i].Root == c || oses[i].Root == root {
			return &oses[i], nil
		}
	}
	return nil, fmt.Errorf("%s: root device not found: only call this function with a root device previously returned by inspect-os", root)
}
