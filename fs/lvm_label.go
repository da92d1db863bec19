package fs

// LVM2 physical volume on-disk structures: the label ("LABELONE" in one
// of sectors 0-3), the PV header with its data and metadata area lists,
// and the metadata area header pointing at the current metadata text in
// a circular buffer. All little-endian; all checksummed with LVM's CRC.

import (
	"encoding/binary"
	"hash/crc32"
	"io"
)

const (
	lvmInitialCRC  = 0xf597a6cf
	lvmMDAMagic    = " LVM2 x[5A%r0N*>"
	lvmMDAHdrSize  = 512
	lvmLabelScan   = 4 // sectors searched for a label
	lvmMaxLocns    = 16
	lvmRawLocnIgn  = 1 // RAW_LOCN_IGNORED: this copy is deliberately unused
	lvmPVUUIDBytes = 32
)

// lvmCRC is LVM's calc_crc: reflected CRC-32 (IEEE polynomial) with no
// final inversion, seeded with lvmInitialCRC.
func lvmCRC(b []byte) uint32 { return ^crc32.Update(^uint32(lvmInitialCRC), crc32.IEEETable, b) }

type diskLocn struct{ offset, size uint64 }

type pvLabel struct {
	uuid    string // 32 characters, no dashes
	devSize uint64
	data    []diskLocn
	mdas    []diskLocn
}

// readPVLabel looks for an LVM2 label. It returns nil, nil when there is
// none, and an error for a label that is present but invalid.
func readPVLabel(r io.ReaderAt, size int64) (*pvLabel, error) {
	buf := make([]byte, lvmLabelScan*sectorSize)
	n, _ := r.ReadAt(buf, 0)
	le := binary.LittleEndian
	for s := 0; s < lvmLabelScan && (s+1)*sectorSize <= n; s++ {
		sec := buf[s*sectorSize : (s+1)*sectorSize]
		if string(sec[:8]) != "LABELONE" || le.Uint64(sec[8:]) != uint64(s) {
			continue
		}
		if lvmCRC(sec[20:]) != le.Uint32(sec[16:]) {
			return nil, corruptf("LVM label in sector %d has a bad checksum", s)
		}
		if string(sec[24:32]) != "LVM2 001" {
			return nil, unsupportedf("LVM label type %q", sec[24:32])
		}
		off := int(le.Uint32(sec[20:]))
		if off < 32 || off+lvmPVUUIDBytes+8 > sectorSize {
			return nil, corruptf("LVM PV header offset %d", off)
		}
		h := sec[off:]
		l := &pvLabel{uuid: string(h[:lvmPVUUIDBytes]), devSize: le.Uint64(h[32:])}
		if !validLVMUUID(l.uuid) {
			return nil, corruptf("LVM PV UUID %q", l.uuid)
		}
		// Two lists of (offset, size) pairs, each ended by a zero pair,
		// packed after the header; stay inside the sector.
		pos := off + 40
		for list := 0; list < 2; list++ {
			for i := 0; ; i++ {
				if pos+16 > sectorSize || i > lvmMaxLocns {
					return nil, corruptf("LVM PV header area list overruns the label sector")
				}
				d := diskLocn{le.Uint64(sec[pos:]), le.Uint64(sec[pos+8:])}
				pos += 16
				if d.offset == 0 {
					break
				}
				if list == 0 {
					l.data = append(l.data, d)
				} else {
					l.mdas = append(l.mdas, d)
				}
			}
		}
		return l, nil
	}
	return nil, nil
}

func validLVMUUID(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '!' || c == '#') {
			return false
		}
	}
	return len(s) == lvmPVUUIDBytes
}

// formatLVMUUID inserts dashes the way LVM and blkid print UUIDs:
// 6-4-4-4-4-4-6.
func formatLVMUUID(s string) string {
	if len(s) != 32 {
		return s
	}
	return s[0:6] + "-" + s[6:10] + "-" + s[10:14] + "-" + s[14:18] + "-" + s[18:22] + "-" + s[22:26] + "-" + s[26:32]
}

// readMDAText returns the current metadata text from one metadata area,
// or nil if the area holds none (or is marked ignored).
func readMDAText(r io.ReaderAt, devSize int64, mda diskLocn) ([]byte, error) {
	if mda.size < lvmMDAHdrSize || mda.offset > uint64(devSize) || mda.size > uint64(devSize)-mda.offset {
		return nil, corruptf("LVM metadata area at %d (%d bytes) is outside the device", mda.offset, mda.size)
	}
	hdr := make([]byte, lvmMDAHdrSize)
	if _, err := r.ReadAt(hdr, int64(mda.offset)); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if lvmCRC(hdr[4:]) != le.Uint32(hdr) {
		return nil, corruptf("LVM metadata area header checksum")
	}
	if string(hdr[4:20]) != lvmMDAMagic || le.Uint32(hdr[20:]) != 1 {
		return nil, corruptf("LVM metadata area header magic/version")
	}
	if le.Uint64(hdr[24:]) != mda.offset || le.Uint64(hdr[32:]) != mda.size {
		return nil, corruptf("LVM metadata area header does not describe its own area")
	}
	loc := hdr[40:]
	off, size, sum, flags := le.Uint64(loc), le.Uint64(loc[8:]), le.Uint32(loc[16:]), le.Uint32(loc[20:])
	if off == 0 || flags&lvmRawLocnIgn != 0 {
		return nil, nil
	}
	// The text lives in the circular buffer after the header; it may wrap
	// around from the end of the area back to just after the header.
	area := mda.size - lvmMDAHdrSize
	if off < lvmMDAHdrSize || off >= mda.size || size == 0 || size > area || size > lvmMaxText {
		return nil, corruptf("LVM metadata text at %d (%d bytes) does not fit its area", off, size)
	}
	text := make([]byte, size)
	first := min(size, mda.size-off)
	if _, err := r.ReadAt(text[:first], int64(mda.offset+off)); err != nil {
		return nil, err
	}
	if first < size {
		if _, err := r.ReadAt(text[first:], int64(mda.offset+lvmMDAHdrSize)); err != nil {
			return nil, err
		}
	}
	if lvmCRC(text) != sum {
		return nil, corruptf("LVM metadata text checksum")
	}
	return text, nil
}
