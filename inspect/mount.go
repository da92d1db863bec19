package inspect

import (
	"errors"
	"sort"
	"strings"
)

// ErrNoOS is returned by PlanMount when no operating system was found;
// its text is guestfish's. Print "PROG: " + ErrNoOS.Error(), a blank
// line and NoOSHint to stderr, and exit 1.
var ErrNoOS = errors.New("no operating system was found on this disk")

// ErrMultiBoot is returned by PlanMount for disks with several
// operating systems, which -i does not handle.
var ErrMultiBoot = errors.New("multi-boot operating systems are not supported by the -i option")

// NoOSHint is the advice printed after ErrNoOS.
const NoOSHint = `With the shell's ‘-i’ option: drop it, ‘run’, look at
‘list-filesystems’ and mount what you need with ‘mount’ or
‘mount-ro’.

With ‘-i’ of the mount tool: drop it and name the filesystems
with ‘-m’ options instead (‘gfs filesystems’ lists them).

The other tools need an operating system on the disk: use the
equivalent shell commands instead.
`

// MountPlan is what the -i option of the shell and the other tools
// does with an inspection result.
type MountPlan struct {
	OS *OS
	// Mounts are in the order to mount them (parents before children:
	// shortest mountpoint first). Mount each read-only or read-write as
	// the tool was asked; a failure is a warning, not an error (print
	// "PROG: some filesystems could not be mounted (ignored)" once).
	Mounts []Mountpoint
}

// PlanMount picks the single root of oses and the order to mount its
// filesystems. It returns ErrNoOS or ErrMultiBoot as guestfish would.
//
// Shell usage for -i:
//
//	oses, err := inspect.InspectDisks(ctx, disks, inspect.Options{})   // or InspectAppliance / Auto
//	plan, err := inspect.PlanMount(oses)
//	if errors.Is(err, inspect.ErrNoOS) { fmt.Fprintf(os.Stderr, "gfs: %v\n\n%s", err, inspect.NoOSHint); exit 1 }
//	for _, m := range plan.Mounts { mount-ro m.Device m.Mountpoint (or mount) }
//	fmt.Print(plan.Banner())   // "Operating system: …" and "DEV mounted on MP" lines, then a blank line when interactive
func PlanMount(oses []OS) (*MountPlan, error) {
	switch len(oses) {
	case 0:
		return nil, ErrNoOS
	case 1:
	default:
		return nil, ErrMultiBoot
	}
	o := &oses[0]
	p := &MountPlan{OS: o, Mounts: append([]Mountpoint(nil), o.Mountpoints...)}
	sort.SliceStable(p.Mounts, func(i, j int) bool {
		a, b := p.Mounts[i].Mountpoint, p.Mounts[j].Mountpoint
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
	return p, nil
}

// Banner is what guestfish -i prints once the guest is mounted:
// "Operating system: PRODUCT" (when the product name is known), then one
// "DEVICE mounted on MOUNTPOINT" line per mount, by mountpoint.
func (p *MountPlan) Banner() string {
	var b strings.Builder
	if n := p.OS.ProductName; n != "" && n != "unknown" {
		b.WriteString("Operating system: " + n + "\n")
	}
	ms := append([]Mountpoint(nil), p.Mounts...)
	sort.SliceStable(ms, func(i, j int) bool {
		return strings.ToLower(ms[i].Mountpoint) < strings.ToLower(ms[j].Mountpoint)
	})
	for _, m := range ms {
		b.WriteString(m.Device + " mounted on " + m.Mountpoint + "\n")
	}
	return b.String()
}
