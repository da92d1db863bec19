package fs

// GPT partition tables, validated and numbered as the Linux kernel's
// block/partitions/efi.c does: the protective MBR must be present, the
// primary header (or else the backup at the last LBA) must pass its CRC
// and bounds checks, and partition N is entry N-1, empty entries skipped.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

const (
	gptEntrySize  = 128
	gptMaxEntries = 4096 // far above any real table; bounds the allocation
)

type gptHeader struct {
	myLBA, altLBA, firstUsable, lastUsable uint64
	entriesLBA                             uint64
	numEntries, entrySize, entriesCRC      uint32
}

// readGPTHeader reads and validates the header at lba. It returns nil if
// the header is not valid (not an error: the caller tries the backup).
func readGPTHeader(r io.ReaderAt, lba, lastLBA uint64) *gptHeader {
	sec := make([]byte, sectorSize)
	if _, err := r.ReadAt(sec, int64(lba)*sectorSize); err != nil {
		return nil
	}
	if string(sec[:8]) != "EFI PART" {
		return nil
	}
	le := binary.LittleEndian
	hsize := le.Uint32(sec[12:])
	if hsize < 92 || hsize > sectorSize {
		return nil
	}
	crc := le.Uint32(sec[16:])
	hdr := append([]byte(nil), sec[:hsize]...)
	le.PutUint32(hdr[16:], 0)
	if crc32.ChecksumIEEE(hdr) != crc {
		return nil
	}
	h := &gptHeader{
		myLBA: le.Uint64(sec[24:]), altLBA: le.Uint64(sec[32:]),
		firstUsable: le.Uint64(sec[40:]), lastUsable: le.Uint64(sec[48:]),
		entriesLBA: le.Uint64(sec[72:]), numEntries: le.Uint32(sec[80:]),
		entrySize: le.Uint32(sec[84:]), entriesCRC: le.Uint32(sec[88:]),
	}
	if h.myLBA != lba || h.firstUsable > h.lastUsable || h.lastUsable > lastLBA ||
		h.entrySize != gptEntrySize || h.numEntries > gptMaxEntries || h.entriesLBA > lastLBA {
		return nil
	}
	return h
}

func readGPTEntries(r io.ReaderAt, h *gptHeader) []byte {
	buf := make([]byte, int(h.numEntries)*gptEntrySize)
	if _, err := r.ReadAt(buf, int64(h.entriesLBA)*sectorSize); err != nil {
		return nil
	}
	if crc32.ChecksumIEEE(buf) != h.entriesCRC {
		return nil
	}
	return buf
}

// parseGPT returns the partitions of a GPT disk, or ok=false if there is
// no valid GPT (sector 0 must already be known to be a protective MBR).
func parseGPT(r io.ReaderAt, diskSize int64) (parts []Partition, ok bool) {
	if diskSize < 3*sectorSize {
		return nil, false
	}
	lastLBA := uint64(diskSize/sectorSize) - 1
	var entries []byte
	h := readGPTHeader(r, 1, lastLBA)
	if h != nil {
		entries = readGPTEntries(r, h)
	}
	if entries == nil {
		alt := lastLBA
		if h != nil && h.altLBA <= lastLBA {
			alt = h.altLBA
		}
		if h = readGPTHeader(r, alt, lastLBA); h != nil {
			entries = readGPTEntries(r, h)
		}
	}
	if entries == nil {
		return nil, false
	}
	le := binary.LittleEndian
	for i := 0; i < int(h.numEntries) && i < maxPartitions-1; i++ {
		e := entries[i*gptEntrySize : (i+1)*gptEntrySize]
		typ := e[0:16]
		start, end := le.Uint64(e[32:]), le.Uint64(e[40:])
		if allZero(typ) || start > lastLBA || end > lastLBA || start > end {
			continue
		}
		parts = append(parts, Partition{
			Number: i + 1, Table: "gpt",
			Start: int64(start) * sectorSize, Size: int64(end-start+1) * sectorSize,
			End:     int64(end+1)*sectorSize - 1,
			GPTType: formatGUID(typ), GPTGUID: formatGUID(e[16:32]),
			GPTAttributes: le.Uint64(e[48:]), GPTName: utf16Name(e[56:128]),
		})
	}
	return parts, true
}

// formatGUID prints a GPT GUID (first three fields little-endian) in the
// uppercase form sgdisk and libguestfs print.
func formatGUID(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		le.Uint32(b[0:]), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD")
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
