package fs

// FAT boot sector (BPB) parsing, shared by the vfat probe (which must
// report what libblkid reports) and the FAT reader (which must agree with
// the Linux fat driver's geometry).

import (
	"encoding/binary"
	"fmt"
)

type fatBoot struct {
	raw           []byte
	sectorSize    int64
	secPerCluster int64
	reserved      int64
	fats          int64
	rootEntries   int64
	totalSectors  int64
	fatSectors    int64 // per FAT
	fat32         bool
	rootCluster   uint32
	media         byte
}

func parseFATBoot(b []byte) (*fatBoot, bool) {
	if len(b) < 512 {
		return nil, false
	}
	le := binary.LittleEndian
	f := &fatBoot{
		raw:           b,
		sectorSize:    int64(le.Uint16(b[11:])),
		secPerCluster: int64(b[13]),
		reserved:      int64(le.Uint16(b[14:])),
		fats:          int64(b[16]),
		rootEntries:   int64(le.Uint16(b[17:])),
		totalSectors:  int64(le.Uint16(b[19:])),
		media:         b[21],
		fatSectors:    int64(le.Uint16(b[22:])),
	}
	if f.totalSectors == 0 {
		f.totalSectors = int64(le.Uint32(b[32:]))
	}
	if f.fatSectors == 0 {
		f.fatSectors = int64(le.Uint32(b[36:]))
		f.fat32 = true
		f.rootCluster = le.Uint32(b[44:])
	}
	return f, true
}

// clusterCount is libblkid's and the kernel's count of data clusters.
func (f *fatBoot) clusterCount() int64 {
	if f.secPerCluster == 0 || f.sectorSize == 0 {
		return 0
	}
	dirSectors := (f.rootEntries*32 + f.sectorSize - 1) / f.sectorSize
	data := f.totalSectors - (f.reserved + f.fats*f.fatSectors + dirSectors)
	if data < 0 {
		return 0
	}
	return data / f.secPerCluster
}

func isPow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

// probeVFAT follows libblkid's vfat prober: a FAT-like boot sector with
// sane geometry; LABEL from the volume-label entry of the root directory,
// UUID from the volume serial number.
func probeVFAT(p *prober) (FSInfo, bool, error) {
	b := p.read(0, 512)
	if b == nil {
		return FSInfo{}, false, nil
	}
	magic := func(off int, s string) bool { return string(b[off:off+len(s)]) == s }
	named := magic(0x52, "MSWIN") || magic(0x52, "FAT32   ") || magic(0x36, "MSDOS") ||
		magic(0x36, "FAT16   ") || magic(0x36, "FAT12   ") || magic(0x36, "FAT     ")
	le := binary.LittleEndian
	if !named {
		// Only the jump instruction or the 0x55AA signature: libblkid
		// then insists on more FAT-looking fields.
		if !(b[0] == 0xeb || b[0] == 0xe9 || (b[510] == 0x55 && b[511] == 0xaa)) {
			return FSInfo{}, false, nil
		}
		if (b[0] != 0xeb && b[0] != 0xe9) || le.Uint16(b[26:]) == 0 || !isPow2(int64(b[13])) ||
			(b[21] < 0xf8 && b[21] != 0xf0) || b[16] == 0 || magic(0x36, "JFS     ") || magic(0x36, "HPFS    ") {
			return FSInfo{}, false, nil
		}
	}
	f, _ := parseFATBoot(b)
	if b[21] < 0xf8 && b[21] != 0xf0 || f.reserved == 0 || f.fats == 0 || !isPow2(f.secPerCluster) ||
		!isPow2(f.sectorSize) || f.sectorSize < 512 || f.sectorSize > 4096 || f.clusterCount() > 0x0ffffff6 {
		return FSInfo{}, false, nil
	}
	var serial []byte
	var label string
	if le.Uint16(b[22:]) != 0 {
		serial = b[0x27:0x2b]
		rootStart := (f.reserved + f.fats*f.fatSectors) * f.sectorSize
		label = fatSearchLabel(p, rootStart, f.rootEntries)
	} else if f.fat32 {
		serial = b[0x43:0x47]
		label = fatSearchLabelFAT32(p, f)
	} else {
		return FSInfo{}, false, nil
	}
	info := FSInfo{Type: "vfat", Label: label}
	// Printed byte by byte because the field is unaligned.
	info.UUID = fmt.Sprintf("%02X%02X-%02X%02X", serial[3], serial[2], serial[1], serial[0])
	return info, true, nil
}

// fatSearchLabel finds the volume label entry among n directory entries.
func fatSearchLabel(p *prober, off, n int64) string {
	buf := p.read(off, int(min(n, 65536)*32))
	for i := 0; i+32 <= len(buf); i += 32 {
		e := buf[i : i+32]
		if e[0] == 0 {
			break
		}
		if e[0] == 0xe5 || e[11]&0x3f == 0x0f || binary.LittleEndian.Uint16(e[20:]) != 0 || binary.LittleEndian.Uint16(e[26:]) != 0 {
			continue
		}
		if e[11]&(0x08|0x10) == 0x08 {
			return cLabel(e[:11])
		}
	}
	return ""
}

// fatSearchLabelFAT32 walks (at most 100 clusters of) the FAT32 root
// directory chain for the volume label, as libblkid does.
func fatSearchLabelFAT32(p *prober, f *fatBoot) string {
	clusterBytes := f.secPerCluster * f.sectorSize
	dataStart := f.reserved + f.fats*f.fatSectors
	entries := uint32(f.fatSectors * f.sectorSize / 4)
	next := f.rootCluster
	for loop := 0; next != 0 && next < entries && loop < 99; loop++ {
		off := (dataStart + int64(next-2)*f.secPerCluster) * f.sectorSize
		if l := fatSearchLabel(p, off, clusterBytes/32); l != "" {
			return l
		}
		b := p.read(f.reserved*f.sectorSize+int64(next)*4, 4)
		if b == nil {
			break
		}
		next = binary.LittleEndian.Uint32(b) & 0x0fffffff
	}
	return ""
}
