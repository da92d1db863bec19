package fs

// MBR partition tables, parsed the way the Linux kernel's
// block/partitions/msdos.c does, because the appliance's device names
// (/dev/sda5 ...) come from it: primaries are numbered by slot 1..4,
// logical partitions from 5 in EBR chain order. go-diskfs does not list
// logical partitions, hence this small walker.

import (
	"encoding/binary"
	"io"
)

const sectorSize = 512

// Limits for walking the EBR chain of a hostile image: Linux allows at
// most 256 partitions per disk and gives up after 100 empty EBRs.
const (
	maxPartitions = 256
	maxEBRHops    = 100
)

type mbrEntry struct {
	boot  byte
	typ   byte
	start uint32 // LBA
	count uint32 // sectors
}

func parseMBREntries(sec []byte) [4]mbrEntry {
	var e [4]mbrEntry
	for i := range e {
		p := sec[0x1be+16*i:]
		e[i] = mbrEntry{boot: p[0], typ: p[4], start: binary.LittleEndian.Uint32(p[8:]), count: binary.LittleEndian.Uint32(p[12:])}
	}
	return e
}

func isExtendedType(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

func hasMBRSignature(sec []byte) bool { return len(sec) >= 512 && sec[510] == 0x55 && sec[511] == 0xaa }

// mbrProtective reports whether sector 0 is a GPT protective (or hybrid)
// MBR: an entry of type 0xEE starting at LBA 1, as Linux requires.
func mbrProtective(sec []byte) bool {
	if !hasMBRSignature(sec) {
		return false
	}
	for _, e := range parseMBREntries(sec) {
		if e.typ == 0xee && e.start == 1 {
			return true
		}
	}
	return false
}

// parseMBR returns the partitions of a disk of diskSize bytes with an MBR
// in sector 0 (sec), or ok=false if sector 0 is not an MBR (or is a
// filesystem boot sector, which Linux also treats as "no partitions").
func parseMBR(r io.ReaderAt, diskSize int64, sec []byte) (parts []Partition, ok bool, err error) {
	if !hasMBRSignature(sec) {
		return nil, false, nil
	}
	entries := parseMBREntries(sec)
	// Linux: a boot indicator other than 0/0x80 means this is not a
	// partition table (typically a FAT boot sector on a whole disk).
	for _, e := range entries {
		if e.boot != 0 && e.boot != 0x80 {
			return nil, false, nil
		}
	}
	for _, e := range entries {
		if e.typ == 0xee {
			// A GPT disk whose GPT did not validate: Linux then shows
			// no partitions at all rather than the protective entry.
			return nil, false, nil
		}
	}
	sectors := diskSize / sectorSize
	add := func(p Partition) {
		// Linux skips partitions starting beyond the end of the disk and
		// truncates those that run past it.
		start := p.Start / sectorSize
		if start >= sectors {
			return
		}
		if start+p.Size/sectorSize > sectors {
			p.Size = (sectors - start) * sectorSize
		}
		p.End = p.Start + p.Size - 1
		parts = append(parts, p)
	}
	for i, e := range entries {
		if e.count == 0 {
			continue
		}
		p := Partition{Number: i + 1, Table: "msdos", MBRType: e.typ, Bootable: e.boot == 0x80,
			Start: int64(e.start) * sectorSize, Size: int64(e.count) * sectorSize}
		if isExtendedType(e.typ) {
			p.Extended = true
			add(p)
			logical, err := walkEBR(r, sectors, int64(e.start), int64(e.count), 5+countLogical(parts))
			if err != nil {
				return nil, true, err
			}
			for _, l := range logical {
				add(l)
			}
		} else {
			add(p)
		}
	}
	return parts, true, nil
}

func countLogical(parts []Partition) int {
	n := 0
	for _, p := range parts {
		if p.Logical {
			n++
		}
	}
	return n
}

// walkEBR follows the chain of extended boot records inside the extended
// partition [extStart, extStart+extSize) (in sectors). Each EBR holds one
// data partition relative to itself and a link relative to extStart.
// The walk stops at a missing signature, at maxEBRHops records without a
// partition, at the partition limit, or on revisiting an EBR (a loop).
func walkEBR(r io.ReaderAt, diskSectors, extStart, extSize int64, next int) ([]Partition, error) {
	var parts []Partition
	seen := map[int64]bool{}
	this, thisSize := extStart, extSize
	sec := make([]byte, sectorSize)
	for hops := 0; hops < maxEBRHops && next < maxPartitions; hops++ {
		if this >= diskSectors || seen[this] {
			break
		}
		seen[this] = true
		if _, err := r.ReadAt(sec, this*sectorSize); err != nil {
			break // Linux silently ends the chain on an unreadable EBR
		}
		if !hasMBRSignature(sec) {
			break
		}
		entries := parseMBREntries(sec)
		for i, e := range entries {
			if e.count == 0 || isExtendedType(e.typ) {
				continue
			}
			offs, size := int64(e.start), int64(e.count)
			start := this + offs
			// Entries 3 and 4 often hold garbage: Linux only accepts
			// them when they lie inside the current EBR's area and the
			// extended partition.
			if i >= 2 && (offs+size > thisSize || start < extStart || start+size > extStart+extSize) {
				continue
			}
			parts = append(parts, Partition{Number: next, Table: "msdos", MBRType: e.typ, Logical: true,
				Bootable: e.boot == 0x80, Start: start * sectorSize, Size: size * sectorSize})
			next++
			hops = -1 // like Linux, only runs of empty EBRs count towards the limit
			if next >= maxPartitions {
				return parts, nil
			}
		}
		link := -1
		for i, e := range entries {
			if e.count != 0 && isExtendedType(e.typ) {
				link = i
				break
			}
		}
		if link < 0 {
			break
		}
		this, thisSize = extStart+int64(entries[link].start), int64(entries[link].count)
	}
	return parts, nil
}
