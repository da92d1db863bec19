package fs

// The disk layout as the appliance's kernel would present it: whole
// devices /dev/sda, /dev/sdb ... in the order the images were given,
// their partitions, and LVM logical volumes.

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Partition describes one partition as the kernel numbers it.
type Partition struct {
	Name     string // "/dev/sda1"
	Device   string // "/dev/sda"
	Number   int
	Table    string // "msdos" or "gpt"
	Start    int64  // bytes from the start of the device
	Size     int64  // bytes
	End      int64  // last byte (inclusive), as part-list reports part_end
	MBRType  byte   // MBR partition type byte (0 on GPT)
	Bootable bool   // MBR active flag
	Extended bool   // MBR extended partition (a container, holds no filesystem)
	Logical  bool   // MBR logical partition (number >= 5)

	GPTType       string // partition type GUID, uppercase
	GPTGUID       string // unique partition GUID, uppercase
	GPTName       string
	GPTAttributes uint64
}

type blockDev struct {
	name string
	r    io.ReaderAt
	size int64
}

// Disks is the block-device view of a set of images.
type Disks struct {
	images  []Image
	devices []blockDev
	tables  map[string]string // device -> "msdos"/"gpt" when partitioned
	parts   []Partition
	byName  map[string]blockDev
	lvm     *lvmState
}

// OpenDisks builds the device view of the images: /dev/sda is images[0]
// and so on. Partition tables and LVM are read immediately; problems that
// make the view incomplete (e.g. a thin LV) do not fail OpenDisks but are
// reported by Unsupported. The images stay owned by the caller.
func OpenDisks(images []Image) (d *Disks, err error) {
	defer guard(&err, "reading disk layout")
	d = &Disks{images: images, tables: map[string]string{}, byName: map[string]blockDev{}}
	var lvmCands []blockDev
	for i, img := range images {
		dev := blockDev{name: "/dev/" + driveName(i), r: img, size: img.Size()}
		d.devices = append(d.devices, dev)
		d.byName[dev.name] = dev
		parts, table, err := readPartitionTable(img, dev.size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dev.name, err)
		}
		if len(parts) == 0 {
			lvmCands = append(lvmCands, dev)
			continue
		}
		d.tables[dev.name] = table
		sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
		for _, p := range parts {
			p.Device = dev.name
			p.Name = dev.name + strconv.Itoa(p.Number)
			size := p.Size
			if p.Extended {
				// The kernel exposes an extended partition as a 1 KiB
				// device (room for a boot loader, nothing else).
				size = min(size, 2*sectorSize)
			}
			pd := blockDev{name: p.Name, r: io.NewSectionReader(img, p.Start, size), size: size}
			d.byName[p.Name] = pd
			d.parts = append(d.parts, p)
			if !p.Extended {
				lvmCands = append(lvmCands, pd)
			}
		}
	}
	d.lvm = scanLVM(lvmCands)
	return d, nil
}

// readPartitionTable returns the partitions (unsorted) and table type of
// a device, or none when it is not partitioned.
func readPartitionTable(r io.ReaderAt, size int64) ([]Partition, string, error) {
	sec := make([]byte, sectorSize)
	if size < sectorSize {
		return nil, "", nil
	}
	if _, err := r.ReadAt(sec, 0); err != nil {
		return nil, "", err
	}
	if mbrProtective(sec) {
		if parts, ok := parseGPT(r, size); ok {
			return parts, "gpt", nil
		}
	}
	parts, ok, err := parseMBR(r, size, sec)
	if err != nil || !ok {
		return nil, "", err
	}
	return parts, "msdos", nil
}

// driveName returns Linux's name for the i-th SCSI disk: sda..sdz, sdaa...
func driveName(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return "sd" + name
}

// Devices returns the whole-device names in order: /dev/sda, /dev/sdb ...
func (d *Disks) Devices() []string {
	var out []string
	for _, dev := range d.devices {
		out = append(out, dev.name)
	}
	return out
}

// Partitions returns every partition (including MBR extended containers),
// sorted by device and then partition number as list-partitions does.
func (d *Disks) Partitions() []Partition { return append([]Partition(nil), d.parts...) }

// PartitionTable returns "msdos" or "gpt" for a partitioned device and ""
// otherwise.
func (d *Disks) PartitionTable(device string) string { return d.tables[canonicalDiskName(device)] }

// PVs returns the LVM physical volumes found.
func (d *Disks) PVs() []PV { return append([]PV(nil), d.lvm.pvs...) }

// VGs returns the LVM volume groups found, sorted by name.
func (d *Disks) VGs() []VG { return append([]VG(nil), d.lvm.vgs...) }

// LVs returns the readable visible logical volumes, sorted by name.
// LVs that exist but cannot be read here are reported by Unsupported.
func (d *Disks) LVs() []LV { return append([]LV(nil), d.lvm.lvs...) }

// Unsupported lists everything present on the disks that this reader
// cannot represent (thin/raid/mirror/snapshot/cache LVs, PVs that fail
// validation, missing PVs ...). Each error wraps ErrUnsupported. When it
// is non-empty, answers that enumerate storage (list-filesystems, lvs)
// are incomplete and should come from the appliance.
func (d *Disks) Unsupported() []error { return append([]error(nil), d.lvm.problems...) }

// Device resolves a device name (/dev/sda, /dev/sda1, /dev/VG/LV,
// /dev/mapper/VG-LV; /dev/vdX, /dev/hdX and /dev/xvdX are accepted as
// aliases of /dev/sdX as libguestfs does) to a reader and its size.
func (d *Disks) Device(name string) (r io.ReaderAt, size int64, err error) {
	defer guard(&err, "device "+name)
	canon, err := d.Canonical(name)
	if err != nil {
		return nil, 0, err
	}
	if dev, ok := d.byName[canon]; ok {
		return dev.r, dev.size, nil
	}
	lv := d.lvm.readers[canon]
	return lv, lv.size, nil
}

// Canonical returns the canonical name of a device (/dev/sdXN or
// /dev/VG/LV), or an error if there is no such device.
func (d *Disks) Canonical(name string) (string, error) {
	n := canonicalDiskName(name)
	if _, ok := d.byName[n]; ok {
		return n, nil
	}
	if strings.HasPrefix(name, "/dev/mapper/") {
		if vg, lv, ok := SplitMapperName(strings.TrimPrefix(name, "/dev/mapper/")); ok {
			n = "/dev/" + vg + "/" + lv
		}
	}
	if _, ok := d.lvm.readers[n]; ok {
		return n, nil
	}
	if err, ok := d.lvm.badLVs[n]; ok {
		return "", err
	}
	return "", fmt.Errorf("%s: no such device", name)
}

// canonicalDiskName maps /dev/vdX, /dev/hdX and /dev/xvdX to /dev/sdX.
func canonicalDiskName(name string) string {
	for _, prefix := range []string{"/dev/vd", "/dev/hd", "/dev/xvd"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" && rest[0] >= 'a' && rest[0] <= 'z' {
			return "/dev/sd" + rest
		}
	}
	return name
}

// SplitMapperName splits a device-mapper LV name "VG-LV", where dashes
// inside either name are doubled. The agent, inspection and this package
// all parse /dev/mapper names with it.
func SplitMapperName(s string) (vg, lv string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '-' {
			i++
			continue
		}
		if i == 0 || i == len(s)-1 {
			return "", "", false
		}
		return strings.ReplaceAll(s[:i], "--", "-"), strings.ReplaceAll(s[i+1:], "--", "-"), true
	}
	return "", "", false
}
