package fs

// FAT directories: parsing entries the way the Linux vfat driver does
// (long names, short-name case bits, code page 437), and lookups with
// its case-insensitive matching.

import (
	"encoding/binary"
	"strings"
	"syscall"
	"unicode/utf16"
)

// dirData returns the raw bytes of a directory and, unless it is the
// fixed FAT12/16 root, the clusters they came from.
func (f *fatFS) dirData(ino Ino) ([]byte, []uint32, error) {
	if ino == fatRootIno && f.fatBits != 32 {
		b := make([]byte, f.rootBytes)
		_, err := f.r.ReadAt(b, f.rootOffset)
		return b, nil, err
	}
	first := f.rootCluster
	if ino != fatRootIno {
		d, err := f.dirent(ino)
		if err != nil {
			return nil, nil, err
		}
		if d.attr&fatAttrDir == 0 {
			return nil, nil, syscall.ENOTDIR
		}
		first = d.cluster
		if first == 0 {
			return nil, nil, nil
		}
	}
	cl, err := f.chain(first, fatMaxDirBytes/f.clusterSize+1)
	if err != nil {
		return nil, nil, err
	}
	b := make([]byte, int64(len(cl))*f.clusterSize)
	for i, c := range cl {
		if _, err := f.r.ReadAt(b[int64(i)*f.clusterSize:int64(i+1)*f.clusterSize], f.clusterOffset(c)); err != nil {
			return nil, nil, err
		}
	}
	return b, cl, nil
}

// readDir parses a directory the way the kernel's vfat readdir does:
// free entries are skipped (not treated as the end), a run of long-name
// slots counts only if its sequence and checksum match the short entry
// that follows, and volume labels are not files.
func (f *fatFS) readDir(ino Ino) (*fatDirCache, error) {
	if d, ok := f.dirs.get(ino); ok {
		return d, nil
	}
	data, clusters, err := f.dirData(ino)
	if err != nil {
		return nil, err
	}
	dc := &fatDirCache{bytes: int64(len(data))}
	var lfn []uint16
	var lfnSlots, lfnNext int
	var lfnSum byte
	var found []*fatDirent
	var inos []Ino
	for off := 0; off+32 <= len(data); off += 32 {
		e := data[off : off+32]
		attr := e[11]
		if e[0] == 0xe5 || (attr != fatAttrLFN && (attr&fatAttrVolume != 0 || e[0] == 0)) {
			lfnSlots = 0
			continue
		}
		if attr == fatAttrLFN {
			id := e[0]
			switch {
			case id&0x40 != 0 && id&^0x40 >= 1 && id&^0x40 <= 20:
				lfnSlots = int(id &^ 0x40)
				lfn = make([]uint16, lfnSlots*13+1)
				lfnSum = e[13]
				lfnNext = lfnSlots
			case lfnSlots > 0 && lfnNext > 0 && int(id&^0x40) == lfnNext && e[13] == lfnSum:
			default:
				lfnSlots = 0
				continue
			}
			lfnNext--
			slot := lfn[lfnNext*13:]
			for i, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				slot[i] = binary.LittleEndian.Uint16(e[o:])
			}
			continue
		}
		name := fatShortName(e)
		short := name
		if lfnSlots > 0 && lfnNext == 0 && fatChecksum(e[:11]) == lfnSum {
			u := lfn
			for i, c := range u {
				if c == 0 {
					u = u[:i]
					break
				}
			}
			name = string(utf16.Decode(u))
		}
		lfnSlots = 0
		if attr&fatAttrDir != 0 {
			dc.subdirs++
		}
		if name == "." || name == ".." {
			continue
		}
		if name == "" || strings.ContainsAny(name, "/\x00") {
			return nil, corruptf("fat: directory entry with invalid name %q", name)
		}
		de := &fatDirent{name: name, short: short, attr: attr,
			cluster: uint32(binary.LittleEndian.Uint16(e[26:])),
			size:    binary.LittleEndian.Uint32(e[28:]),
			wtime:   binary.LittleEndian.Uint16(e[22:]), wdate: binary.LittleEndian.Uint16(e[24:]),
			adate: binary.LittleEndian.Uint16(e[18:])}
		if f.fatBits == 32 {
			de.cluster |= uint32(binary.LittleEndian.Uint16(e[20:])) << 16
		}
		// Inode numbers encode where the short entry lives: stable and
		// unique (the kernel's own numbers are allocation order).
		pos := f.rootOffset + int64(off)
		if clusters != nil {
			pos = f.clusterOffset(clusters[int64(off)/f.clusterSize]) + int64(off)%f.clusterSize
		}
		child := Ino(pos/32 + 2)
		typ := uint32(S_IFREG)
		if attr&fatAttrDir != 0 {
			typ = S_IFDIR
		}
		dc.ents = append(dc.ents, DirEntry{Name: name, Ino: child, Type: typ})
		found = append(found, de)
		inos = append(inos, child)
	}
	f.mu.Lock()
	for i, d := range found {
		f.entries[inos[i]] = d
	}
	f.mu.Unlock()
	f.dirs.put(ino, dc)
	return dc, nil
}

// fatChecksum is the long-name checksum of an 11-byte short name.
func fatChecksum(name []byte) byte {
	var s byte
	for _, c := range name {
		s = (s&1)<<7 | (s&0xfe)>>1 + c
	}
	return s
}

// fatShortName formats an 8.3 name as vfat shows it with shortname=mixed:
// trailing spaces dropped, lower-cased where the NT case bits say so,
// code page 437 for bytes above 0x7f.
func fatShortName(e []byte) string {
	part := func(b []byte, lower bool) string {
		var sb strings.Builder
		end := 0
		var runes []rune
		for _, c := range b {
			if c == 0 {
				break
			}
			r := cp437(c)
			if lower && r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			runes = append(runes, r)
			if c != ' ' {
				end = len(runes)
			}
		}
		for _, r := range runes[:end] {
			sb.WriteRune(r)
		}
		return sb.String()
	}
	name := make([]byte, 11)
	copy(name, e[:11])
	if name[0] == 0x05 {
		name[0] = 0xe5
	}
	base := part(name[:8], e[12]&0x08 != 0)
	ext := part(name[8:11], e[12]&0x10 != 0)
	if ext != "" {
		return base + "." + ext
	}
	return base
}

func (f *fatFS) ReadDir(dir Ino) (ents []DirEntry, err error) {
	defer guard(&err, "fat readdir")
	dc, err := f.readDir(dir)
	if err != nil {
		return nil, err
	}
	return append([]DirEntry(nil), dc.ents...), nil
}

// Lookup matches like vfat: ASCII case-insensitively (iocharset ascii
// with utf8), against the long and the short name, ignoring trailing dots.
func (f *fatFS) Lookup(dir Ino, name string) (ino Ino, err error) {
	defer guard(&err, "fat lookup")
	if name == "." || name == ".." || name == "" {
		return 0, syscall.EINVAL
	}
	name = strings.TrimRight(name, ".")
	if name == "" {
		return 0, syscall.ENOENT
	}
	dc, err := f.readDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range dc.ents {
		if asciiEqualFold(e.Name, name) {
			return e.Ino, nil
		}
	}
	for _, e := range dc.ents {
		if d, _ := f.dirent(e.Ino); d != nil && asciiEqualFold(d.short, name) {
			return e.Ino, nil
		}
	}
	return 0, syscall.ENOENT
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// cp437 maps a code page 437 byte to Unicode (the default codepage=437).
func cp437(c byte) rune {
	if c < 0x80 {
		return rune(c)
	}
	return []rune("ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0")[c-0x80]
}
