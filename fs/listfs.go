package fs

// list-filesystems, as libguestfs' daemon/listfs.ml computes it: whole
// devices without partitions, then partitions (minus MBR extended
// containers and Windows LDM/reserved/snapshot partitions), then LVs,
// each with its blkid type or "unknown"; containers (*_member, LUKS) are
// left out.

import (
	"errors"
	"fmt"
)

// Filesystem is one line of list-filesystems.
type Filesystem struct {
	Device string
	Type   string // blkid TYPE, or "unknown"
}

// GPT partition types that list-filesystems skips.
var skippedGPTTypes = map[string]bool{
	"5808C8AA-7E8F-42E0-85D2-E1E90434CFB3": true, // Windows LDM metadata
	"AF9B60A0-1431-4F62-BC68-3311714A69AD": true, // Windows LDM data
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": true, // Microsoft reserved
	"CADDEBF1-4400-4DE8-B103-12117DCF3CCF": true, // Windows snapshot
}

// Filesystems returns what libguestfs list-filesystems returns. When the
// answer would be incomplete here (btrfs subvolumes, MD arrays, Windows
// LDM volumes, LVs this package cannot read), it returns the partial list
// and an error wrapping ErrUnsupported: ask the appliance.
func (d *Disks) Filesystems() (out []Filesystem, err error) {
	defer guard(&err, "list-filesystems")
	var incomplete []string
	check := func(name string) error {
		r, size, err := d.Device(name)
		if err != nil {
			return err
		}
		info, err := Probe(r, size)
		switch {
		case info.Type == "linux_raid_member":
			incomplete = append(incomplete, name+" is an MD RAID member")
			return nil
		case info.Type == "btrfs":
			incomplete = append(incomplete, name+" is btrfs (subvolumes)")
		case err != nil && !errors.Is(err, ErrUnsupported):
			return err
		}
		switch {
		case info.Type == "":
			out = append(out, Filesystem{name, "unknown"})
		case len(info.Type) > 7 && info.Type[len(info.Type)-7:] == "_member", info.Type == "crypto_LUKS":
		default:
			out = append(out, Filesystem{name, info.Type})
		}
		return nil
	}
	for _, dev := range d.Devices() {
		if d.tables[dev] == "" {
			if err := check(dev); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range d.parts {
		if p.Extended {
			continue
		}
		if skippedGPTTypes[p.GPTType] || (p.Table == "msdos" && p.MBRType == 0x42) {
			if p.GPTType != "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" && p.GPTType != "CADDEBF1-4400-4DE8-B103-12117DCF3CCF" {
				incomplete = append(incomplete, p.Name+" is a Windows LDM partition")
			}
			continue
		}
		if err := check(p.Name); err != nil {
			return nil, err
		}
	}
	for _, lv := range d.lvm.lvs {
		if err := check(lv.Name); err != nil {
			return nil, err
		}
	}
	for _, p := range d.lvm.problems {
		incomplete = append(incomplete, p.Error())
	}
	if len(incomplete) > 0 {
		return out, unsupportedf("list-filesystems would be incomplete: %v", incomplete)
	}
	return out, nil
}

// VFSType is vfs-type: the blkid TYPE of a device ("" when unknown).
func (d *Disks) VFSType(name string) (string, error) {
	info, err := d.Probe(name)
	return info.Type, err
}

// Probe runs Probe on a named device.
func (d *Disks) Probe(name string) (FSInfo, error) {
	r, size, err := d.Device(name)
	if err != nil {
		return FSInfo{}, fmt.Errorf("%s: %w", name, err)
	}
	return Probe(r, size)
}

// MountDevice opens the filesystem on a named device (see Mount).
func (d *Disks) MountDevice(name string) (FS, error) {
	r, size, err := d.Device(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return Mount(r, size)
}
