package fs

// Filesystem detection, reporting TYPE, LABEL and UUID exactly as
// `blkid -o value -s TYPE|LABEL|UUID` (libblkid) prints them, because
// callers show these to users and match fstab entries against them.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// FSInfo is what blkid reports about a device.
type FSInfo struct {
	Type  string // "ext4", "vfat", "LVM2_member" ...; "" when nothing is recognised
	Label string
	UUID  string
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cRaw is the kernel's crc32c(~0, b) (no final inversion), as ext4,
// xfs and btrfs store it.
func crc32cRaw(seed uint32, b []byte) uint32 { return ^crc32.Update(^seed, castagnoli, b) }

// Probe identifies the filesystem or container on a device. Types whose
// signature is recognised but whose label/UUID are not decoded here come
// back with the Type set and an error wrapping ErrUnsupported.
func Probe(dev io.ReaderAt, size int64) (info FSInfo, err error) {
	defer guard(&err, "probe")
	p := &prober{r: dev, size: size}
	for _, f := range []func(*prober) (FSInfo, bool, error){
		probeLUKS, probeLVM, probeRaid, probeSwap, probeXFS, probeExt, probeBtrfs,
		probeSquashfs, probeISO9660, probeNTFS, probeOtherSignatures, probeVFAT,
	} {
		info, ok, err := f(p)
		if ok || err != nil {
			return info, err
		}
	}
	return FSInfo{}, nil
}

// prober reads small pieces of a device, treating reads past the end as
// "no signature" rather than errors.
type prober struct {
	r    io.ReaderAt
	size int64
}

func (p *prober) read(off int64, n int) []byte {
	if off < 0 || n <= 0 || off+int64(n) > p.size {
		return nil
	}
	b := make([]byte, n)
	if m, err := p.r.ReadAt(b, off); m != n && err != nil {
		return nil
	}
	return b
}

func (p *prober) has(off int64, magic string) bool {
	b := p.read(off, len(magic))
	return b != nil && string(b) == magic
}

// formatUUID prints 16 bytes in the standard lowercase dashed form.
func formatUUID(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// cLabel trims a fixed-size label at its first NUL and, like libblkid,
// drops trailing whitespace.
func cLabel(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " \t\n\r")
}

func probeLUKS(p *prober) (FSInfo, bool, error) {
	h := p.read(0, 208)
	if h == nil || string(h[:6]) != "LUKS\xba\xbe" {
		return FSInfo{}, false, nil
	}
	info := FSInfo{Type: "crypto_LUKS", UUID: cLabel(h[168:208])}
	if binary.BigEndian.Uint16(h[6:]) == 2 {
		info.Label = cLabel(h[24:72])
	}
	return info, true, nil
}

func probeLVM(p *prober) (FSInfo, bool, error) {
	l, err := readPVLabel(p.r, p.size)
	if err != nil || l == nil {
		return FSInfo{}, false, nil // blkid ignores labels with bad checksums too
	}
	return FSInfo{Type: "LVM2_member", UUID: formatLVMUUID(l.uuid)}, true, nil
}

// probeRaid detects MD RAID members (superblock 0.90 near the end, 1.x at
// 0, 4 KiB or near the end). The arrays they form are the appliance's
// business; callers must fall back for anything that enumerates them.
func probeRaid(p *prober) (FSInfo, bool, error) {
	const magic = "\xfc\x4e\x2b\xa9"
	offs := []int64{0, 4096, (p.size &^ (8192 - 1)) - 8192}
	if p.size >= 128<<10 {
		offs = append(offs, (p.size&^(64<<10-1))-64<<10)
	}
	for _, off := range offs {
		if off >= 0 && p.has(off, magic) {
			return FSInfo{Type: "linux_raid_member"}, true, unsupportedf("MD RAID member")
		}
	}
	return FSInfo{}, false, nil
}

func probeSwap(p *prober) (FSInfo, bool, error) {
	for _, page := range []int64{4096, 8192, 16384, 32768, 65536} {
		sig := p.read(page-10, 10)
		if sig == nil {
			continue
		}
		switch string(sig) {
		case "SWAP-SPACE":
			return FSInfo{Type: "swap"}, true, nil
		case "SWAPSPACE2":
			h := p.read(1024, 44)
			if h == nil {
				continue
			}
			v := binary.LittleEndian.Uint32(h)
			if v != 1 && binary.BigEndian.Uint32(h) != 1 {
				continue
			}
			info := FSInfo{Type: "swap", Label: cLabel(h[28:44])}
			if !allZero(h[12:28]) {
				info.UUID = formatUUID(h[12:28])
			}
			return info, true, nil
		}
	}
	return FSInfo{}, false, nil
}

func probeXFS(p *prober) (FSInfo, bool, error) {
	sb := p.read(0, 512)
	if sb == nil || string(sb[:4]) != "XFSB" {
		return FSInfo{}, false, nil
	}
	be := binary.BigEndian
	blockSize := be.Uint32(sb[4:])
	sectSize := be.Uint16(sb[102:])
	inodeSize := be.Uint16(sb[104:])
	agCount := be.Uint32(sb[88:])
	if blockSize < 512 || blockSize > 65536 || blockSize&(blockSize-1) != 0 ||
		sectSize < 512 || sectSize > 32768 || sectSize&(sectSize-1) != 0 ||
		inodeSize < 256 || inodeSize > 2048 || agCount == 0 {
		return FSInfo{}, false, nil
	}
	if be.Uint16(sb[100:])&0xf == 5 { // v5 superblocks carry a CRC
		full := p.read(0, int(sectSize))
		if full == nil {
			return FSInfo{}, false, nil
		}
		// The one little-endian field of an xfs superblock: the crc32c
		// (with the usual final inversion) of the sector, sb_crc zeroed.
		sum := binary.LittleEndian.Uint32(full[224:])
		clear(full[224:228])
		if crc32.Checksum(full, castagnoli) != sum {
			return FSInfo{}, false, nil
		}
	}
	return FSInfo{Type: "xfs", Label: cLabel(sb[108:120]), UUID: formatUUID(sb[32:48])}, true, nil
}

// ext feature bits as libblkid's ext2/ext3/ext4 decision uses them.
const (
	extCompatHasJournal  = 0x0004
	extIncompatJournalDv = 0x0008
	ext3IncompatSupp     = 0x0002 | 0x0004 | 0x0010 // filetype, recover, meta_bg
	ext2IncompatSupp     = 0x0002 | 0x0010          // filetype, meta_bg
	ext23RoCompatSupp    = 0x0001 | 0x0002 | 0x0004 // sparse_super, large_file, btree_dir
	extFlagsTestFS       = 0x0004
	extRoCompatCsum      = 0x0400
)

func probeExt(p *prober) (FSInfo, bool, error) {
	sb := p.read(1024, 1024)
	if sb == nil || binary.LittleEndian.Uint16(sb[0x38:]) != 0xef53 {
		return FSInfo{}, false, nil
	}
	le := binary.LittleEndian
	compat, incompat, ro := le.Uint32(sb[0x5c:]), le.Uint32(sb[0x60:]), le.Uint32(sb[0x64:])
	if ro&extRoCompatCsum != 0 && crc32cRaw(0xffffffff, sb[:0x3fc]) != le.Uint32(sb[0x3fc:]) {
		return FSInfo{}, false, nil // libblkid rejects a superblock with a bad checksum
	}
	info := FSInfo{Label: cLabel(sb[0x78:0x88]), UUID: formatUUID(sb[0x68:0x78])}
	switch {
	case incompat&extIncompatJournalDv != 0:
		info.Type = "jbd"
	case compat&extCompatHasJournal == 0 && ro&^ext23RoCompatSupp == 0 && incompat&^ext2IncompatSupp == 0:
		info.Type = "ext2"
	case compat&extCompatHasJournal != 0 && ro&^ext23RoCompatSupp == 0 && incompat&^ext3IncompatSupp == 0:
		info.Type = "ext3"
	case le.Uint32(sb[0x160:])&extFlagsTestFS != 0:
		info.Type = "ext4dev"
	default:
		info.Type = "ext4"
	}
	return info, true, nil
}

func probeBtrfs(p *prober) (FSInfo, bool, error) {
	sb := p.read(64<<10, 4096)
	if sb == nil || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return FSInfo{}, false, nil
	}
	// csum_type 0 is crc32c over the rest of the superblock.
	if binary.LittleEndian.Uint16(sb[0xc4:]) == 0 && crc32.Checksum(sb[0x20:], castagnoli) != binary.LittleEndian.Uint32(sb) {
		return FSInfo{}, false, nil
	}
	return FSInfo{Type: "btrfs", Label: cLabel(sb[0x12b : 0x12b+256]), UUID: formatUUID(sb[0x20:0x30])}, true, nil
}

func probeSquashfs(p *prober) (FSInfo, bool, error) {
	h := p.read(0, 32)
	if h == nil {
		return FSInfo{}, false, nil
	}
	switch string(h[:4]) {
	case "hsqs":
		if binary.LittleEndian.Uint16(h[28:]) >= 4 {
			return FSInfo{Type: "squashfs"}, true, nil
		}
		return FSInfo{Type: "squashfs3"}, true, nil
	case "sqsh":
		return FSInfo{Type: "squashfs3"}, true, nil
	}
	return FSInfo{}, false, nil
}

func probeISO9660(p *prober) (FSInfo, bool, error) {
	pvd := p.read(0x8000, 2048)
	if pvd == nil || pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return FSInfo{}, false, nil
	}
	info := FSInfo{Type: "iso9660"}
	// The UUID is made from the modification date, or else the creation
	// date: "YYYY-MM-DD-HH-MM-SS-hh".
	for _, d := range [][]byte{pvd[830:846], pvd[813:829]} {
		if !allZero(d) && string(d) != "0000000000000000" {
			s := string(d)
			info.UUID = s[0:4] + "-" + s[4:6] + "-" + s[6:8] + "-" + s[8:10] + "-" + s[10:12] + "-" + s[12:14] + "-" + s[14:16]
			break
		}
	}
	label := cLabel(pvd[40:72])
	// A Joliet supplementary descriptor has the label in UCS-2; libblkid
	// prefers it (it keeps lower case and non-ASCII characters).
	for i := int64(1); i < 16; i++ {
		d := p.read(0x8000+i*2048, 2048)
		if d == nil || string(d[1:6]) != "CD001" || d[0] == 255 {
			break
		}
		if d[0] == 2 && d[88] == '%' && d[89] == '/' && (d[90] == '@' || d[90] == 'C' || d[90] == 'E') {
			if j := mergeJolietLabel(d[40:72], pvd[40:72]); j != "" {
				label = j
			}
			break
		}
	}
	info.Label = label
	return info, true, nil
}

// mergeJolietLabel decodes the UCS-2 volume identifier; where it is
// shorter than the ASCII one (Joliet has only 16 characters), libblkid
// appends the rest of the ASCII identifier.
func mergeJolietLabel(joliet, ascii []byte) string {
	var u []uint16
	for i := 0; i+1 < len(joliet); i += 2 {
		u = append(u, binary.BigEndian.Uint16(joliet[i:]))
	}
	s := []rune(string(utf16.Decode(u)))
	// Stop at a NUL.
	for i, r := range s {
		if r == 0 {
			s = s[:i]
			break
		}
	}
	out := string(s)
	if len(s) == 16 && len(ascii) > 16 {
		out += string(ascii[16:])
	}
	return strings.TrimRight(out, " \t\n\r")
}

func probeNTFS(p *prober) (FSInfo, bool, error) {
	b := p.read(0, 512)
	if b == nil || string(b[3:11]) != "NTFS    " {
		return FSInfo{}, false, nil
	}
	le := binary.LittleEndian
	sectorSz := int64(le.Uint16(b[11:]))
	spc := int64(b[13])
	if spc > 0x80 { // negative: 2^-n sectors... i.e. 2^(256-n)
		spc = 1 << (256 - spc)
	}
	if sectorSz < 256 || sectorSz > 4096 || sectorSz&(sectorSz-1) != 0 || spc == 0 || spc&(spc-1) != 0 {
		return FSInfo{}, false, nil
	}
	cluster := sectorSz * spc
	mftLCN := int64(le.Uint64(b[0x30:]))
	recSize := int64(int8(b[0x40]))
	if recSize < 0 {
		recSize = 1 << -recSize
	} else {
		recSize *= cluster
	}
	info := FSInfo{Type: "ntfs", UUID: fmt.Sprintf("%016X", le.Uint64(b[0x48:]))}
	if recSize < 256 || recSize > 65536 || mftLCN <= 0 || mftLCN > p.size/cluster {
		return info, true, nil
	}
	// The label is the $VOLUME_NAME attribute of MFT record 3 ($Volume).
	rec := p.read(mftLCN*cluster+3*recSize, int(recSize))
	if rec == nil || string(rec[:4]) != "FILE" {
		return info, true, nil
	}
	off := int(le.Uint16(rec[0x14:]))
	for steps := 0; off+24 <= len(rec) && steps < 64; steps++ {
		typ, length := le.Uint32(rec[off:]), int(le.Uint32(rec[off+4:]))
		if typ == 0xffffffff || length < 24 || off+length > len(rec) {
			break
		}
		if typ == 0x60 && rec[off+8] == 0 {
			vlen, voff := int(le.Uint32(rec[off+16:])), int(le.Uint16(rec[off+20:]))
			if voff+vlen <= length {
				v := rec[off+voff : off+voff+vlen]
				u := make([]uint16, len(v)/2)
				for i := range u {
					u[i] = le.Uint16(v[2*i:])
				}
				info.Label = string(utf16.Decode(u))
			}
			break
		}
		off += length
	}
	return info, true, nil
}

// probeOtherSignatures recognises filesystems the appliance can mount
// but this package does not decode, so that callers learn the type (and
// fall back for the rest) instead of reporting "unknown".
func probeOtherSignatures(p *prober) (FSInfo, bool, error) {
	sigs := []struct {
		off   int64
		magic string
		typ   string
	}{
		{3, "EXFAT   ", "exfat"},
		{3, "-FVE-FS-", "BitLocker"},
		{3, "ReFS\x00\x00\x00\x00", "ReFS"},
		{1024, "\x10\x20\xf5\xf2", "f2fs"},
		{1024, "\xe2\xe1\xf5\xe0", "erofs"},
		{1024, "H+", "hfsplus"},
		{1024, "HX", "hfsplus"},
		{32768, "JFS1", "jfs"},
		{65536 + 52, "ReIsErFs", "reiserfs"},
		{65536 + 52, "ReIsEr2Fs", "reiserfs"},
		{65536 + 52, "ReIsEr3Fs", "reiserfs"},
		{8192 + 52, "ReIsErFs", "reiserfs"},
		{0x8001, "BEA01", "udf"},
		{4096 + 24, "\xc6\x85\x73\xf6\x4e\x1a\x45\xca\x82\x65\xf5\x7f\x48\xba\x6d\x81", "bcache"},
	}
	for _, s := range sigs {
		if p.has(s.off, s.magic) {
			return FSInfo{Type: s.typ}, true, unsupportedf("label and UUID of %s", s.typ)
		}
	}
	return FSInfo{}, false, nil
}
