package fs

// Read-only FAT12/16/32 reader with VFAT long names, reporting metadata
// the way the Linux vfat driver does with default mount options as root
// with umask 022 (uid 0, gid 0, directories 0755, files 0755 or 0555 when
// read-only, ctime = mtime, root directory times 0, blksize = cluster).

import (
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"syscall"
	"unicode/utf16"
)

const (
	fatAttrRO     = 0x01
	fatAttrVolume = 0x08
	fatAttrDir    = 0x10
	fatAttrLFN    = 0x0f

	fatRootIno = 1 // MSDOS_ROOT_INO

	// The kernel's FAT_MAX_DIR_SIZE: 65536 entries.
	fatMaxDirBytes = 2 << 20

	// Default mount: fmask = dmask = umask of the mounting process.
	fatUmask = 0o022
)

type fatFS struct {
	r           io.ReaderAt
	size        int64
	sectorSize  int64
	clusterSize int64
	fatBits     int
	fatOffset   int64
	fatBytes    int64
	rootOffset  int64 // FAT12/16 fixed root directory
	rootBytes   int64
	rootCluster uint32 // FAT32
	dataOffset  int64
	maxCluster  uint32 // valid clusters are 2 .. maxCluster-1

	cache *lru[int64, []byte] // FAT chunks

	mu      sync.Mutex
	entries map[Ino]*fatDirent      // every inode handed out so far
	dirs    *lru[Ino, *fatDirCache] // parsed directories
}

type fatDirent struct {
	name    string // long name, else the displayed short name
	short   string // displayed short name
	attr    byte
	cluster uint32
	size    uint32
	wtime   uint16
	wdate   uint16
	adate   uint16
}

type fatDirCache struct {
	ents    []DirEntry
	subdirs int // entries with the directory attribute, dot entries included
	bytes   int64
}

func openFAT(r io.ReaderAt, size int64) (*fatFS, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, err
	}
	bs, _ := parseFATBoot(b)
	if !isPow2(bs.sectorSize) || bs.sectorSize < 512 || bs.sectorSize > 4096 || !isPow2(bs.secPerCluster) ||
		bs.reserved == 0 || bs.fats == 0 || bs.fatSectors == 0 || (bs.media < 0xf8 && bs.media != 0xf0) {
		return nil, corruptf("fat: invalid boot sector")
	}
	f := &fatFS{r: r, size: size, sectorSize: bs.sectorSize, clusterSize: bs.sectorSize * bs.secPerCluster,
		entries: map[Ino]*fatDirent{}}
	if f.clusterSize > 64<<10 {
		return nil, corruptf("fat: cluster size %d", f.clusterSize)
	}
	f.fatOffset = bs.reserved * bs.sectorSize
	f.fatBytes = bs.fatSectors * bs.sectorSize
	rootSectors := (bs.rootEntries*32 + bs.sectorSize - 1) / bs.sectorSize
	f.rootOffset = f.fatOffset + bs.fats*f.fatBytes
	f.rootBytes = bs.rootEntries * 32
	dataSector := bs.reserved + bs.fats*bs.fatSectors + rootSectors
	f.dataOffset = dataSector * bs.sectorSize
	clusters := bs.clusterCount()
	switch {
	case bs.fat32:
		f.fatBits = 32
		f.rootCluster = bs.rootCluster
	case clusters > 0xff4: // MAX_FAT12
		f.fatBits = 16
	default:
		f.fatBits = 12
	}
	if !bs.fat32 && (bs.rootEntries == 0 || (bs.rootEntries*32)%bs.sectorSize != 0) {
		return nil, corruptf("fat: bogus number of root directory entries %d", bs.rootEntries)
	}
	// As the kernel does, never use more clusters than the FAT can map.
	if fatClusters := f.fatBytes * 8 / int64(f.fatBits); clusters > fatClusters-2 {
		clusters = fatClusters - 2
	}
	if clusters <= 0 || clusters > 0x0ffffff5 || f.dataOffset+clusters*f.clusterSize > size+f.clusterSize {
		return nil, corruptf("fat: %d clusters do not fit the device", clusters)
	}
	f.maxCluster = uint32(clusters) + 2
	if bs.fat32 && (f.rootCluster < 2 || f.rootCluster >= f.maxCluster) {
		return nil, corruptf("fat: root cluster %d", f.rootCluster)
	}
	f.cache = newLRU[int64, []byte](8<<20, bytesLen)
	f.dirs = newLRU[Ino, *fatDirCache](32<<20, func(d *fatDirCache) int64 { return int64(len(d.ents))*96 + 64 })
	return f, nil
}

const fatChunk = 64 << 10

// fatChunkAt returns the cached 64 KiB chunk of the first FAT at base.
func (f *fatFS) fatChunkAt(base int64) ([]byte, error) {
	if c, ok := f.cache.get(base); ok {
		return c, nil
	}
	c := make([]byte, min(fatChunk, f.fatBytes-base))
	if _, err := f.r.ReadAt(c, f.fatOffset+base); err != nil {
		return nil, err
	}
	f.cache.put(base, c)
	return c, nil
}

// entry returns the raw FAT entry of cluster c (12, 16 or 28 bits).
func (f *fatFS) entry(c uint32) (uint32, error) {
	var off int64
	switch f.fatBits {
	case 12:
		off = int64(c) + int64(c)/2
	case 16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	width := int64(f.fatBits+7) / 8
	if f.fatBits == 12 {
		width = 2
	}
	if off+width > f.fatBytes {
		return 0, corruptf("fat: cluster %#x beyond the FAT", c)
	}
	var b [4]byte
	base := off &^ (fatChunk - 1)
	chunk, err := f.fatChunkAt(base)
	if err != nil {
		return 0, err
	}
	n := copy(b[:width], chunk[off-base:])
	if int64(n) < width { // an entry straddling two chunks (FAT12 only)
		next, err := f.fatChunkAt(base + fatChunk)
		if err != nil {
			return 0, err
		}
		copy(b[n:width], next)
	}
	v := binary.LittleEndian.Uint32(b[:])
	switch f.fatBits {
	case 12:
		if c&1 != 0 {
			v >>= 4
		}
		return v & 0xfff, nil
	case 16:
		return v & 0xffff, nil
	}
	return v & 0x0fffffff, nil
}

// next returns the FAT entry of cluster c, mapping bad-cluster and end of
// chain markers to 0xffffffff as the kernel maps them to FAT_ENT_EOF.
func (f *fatFS) next(c uint32) (uint32, error) {
	if c < 2 || c >= f.maxCluster {
		return 0, corruptf("fat: invalid access to FAT (entry %#x)", c)
	}
	v, err := f.entry(c)
	if err != nil {
		return 0, err
	}
	bad := uint32(0x0ffffff7)
	switch f.fatBits {
	case 12:
		bad = 0xff7
	case 16:
		bad = 0xfff7
	}
	if v >= bad {
		return 0xffffffff, nil
	}
	if v == 0 {
		return 0, corruptf("fat: invalid cluster chain (free cluster after %#x)", c)
	}
	return v, nil
}

// chain follows a cluster chain, at most limit clusters long.
func (f *fatFS) chain(first uint32, limit int64) ([]uint32, error) {
	var out []uint32
	for c := first; c != 0xffffffff; {
		if int64(len(out)) >= limit {
			return nil, corruptf("fat: cluster chain from %#x is longer than %d clusters (a loop?)", first, limit)
		}
		if c < 2 || c >= f.maxCluster {
			return nil, corruptf("fat: invalid cluster %#x in chain", c)
		}
		out = append(out, c)
		var err error
		if c, err = f.next(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (f *fatFS) clusterOffset(c uint32) int64 { return f.dataOffset + int64(c-2)*f.clusterSize }

func (f *fatFS) Type() string { return "vfat" }
func (f *fatFS) Root() Ino    { return fatRootIno }

// dirent returns the directory entry behind an inode number handed out
// earlier (nil for the root).
func (f *fatFS) dirent(ino Ino) (*fatDirent, error) {
	if ino == fatRootIno {
		return nil, nil
	}
	f.mu.Lock()
	d := f.entries[ino]
	f.mu.Unlock()
	if d == nil {
		return nil, corruptf("fat: unknown inode %d", ino)
	}
	return d, nil
}

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

// chainPrefix returns the first n clusters of a chain (which must have
// at least that many).
func (f *fatFS) chainPrefix(first uint32, n int64) ([]uint32, error) {
	var out []uint32
	for c := first; int64(len(out)) < n; {
		if c < 2 || c >= f.maxCluster {
			return nil, corruptf("fat: invalid cluster %#x in chain", c)
		}
		out = append(out, c)
		var err error
		if c, err = f.next(c); err != nil {
			return nil, err
		}
	}
	return out, nil
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

func (f *fatFS) Stat(ino Ino) (st Stat, err error) {
	defer guard(&err, "fat stat")
	d, err := f.dirent(ino)
	if err != nil {
		return Stat{}, err
	}
	st = Stat{Ino: uint64(ino), Nlink: 1, Blksize: f.clusterSize}
	if d == nil || d.attr&fatAttrDir != 0 {
		dc, err := f.readDir(ino)
		if err != nil {
			return Stat{}, err
		}
		st.Mode = S_IFDIR | 0o777&^fatUmask
		st.Nlink = uint64(dc.subdirs)
		if ino == fatRootIno {
			st.Nlink += 2 // the root has no dot entries on disk
		}
		st.Size = dc.bytes
	} else {
		st.Mode = S_IFREG | 0o777&^fatUmask
		if d.attr&fatAttrRO != 0 {
			st.Mode &^= 0o222
		}
		st.Size = int64(d.size)
	}
	st.Blocks = ((st.Size + f.clusterSize - 1) &^ (f.clusterSize - 1)) >> 9
	if d != nil {
		st.Mtime = Timespec{Sec: fatTime(d.wtime, d.wdate)}
		st.Ctime = st.Mtime
		st.Atime = Timespec{Sec: fatTime(0, d.adate)}
	}
	return st, nil
}

// fatTime is the kernel's fat_time_fat2unix with a zero time zone
// offset, including its treatment of out-of-range fields.
func fatTime(t, d uint16) int64 {
	daysInYear := [16]int64{0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 0, 0, 0}
	year := int64(d >> 9)
	month := max(1, int64(d>>5)&0xf)
	day := max(1, int64(d&0x1f)) - 1
	leap := (year + 3) / 4
	if year > 120 { // 2100 is not a leap year
		leap--
	}
	if year&3 == 0 && year != 120 && month > 2 {
		leap++
	}
	sec := int64(t&0x1f) << 1
	sec += int64(t>>5&0x3f) * 60
	sec += int64(t>>11) * 3600
	sec += (year*365 + leap + daysInYear[month] + day + 3652) * 86400
	return sec
}

func (f *fatFS) Readlink(ino Ino) (string, error) { return "", syscall.EINVAL }

func (f *fatFS) Open(ino Ino) (file File, err error) {
	defer guard(&err, "fat open")
	d, err := f.dirent(ino)
	if err != nil {
		return nil, err
	}
	if d == nil || d.attr&fatAttrDir != 0 {
		return nil, syscall.EISDIR
	}
	ff := &fatFile{f: f, size: int64(d.size)}
	if ff.size > int64(f.maxCluster-2)*f.clusterSize {
		return nil, corruptf("fat: file of %d bytes is larger than the filesystem", ff.size)
	}
	if d.size > 0 {
		need := (ff.size + f.clusterSize - 1) / f.clusterSize
		if ff.clusters, err = f.chainPrefix(d.cluster, need); err != nil {
			return nil, err
		}
	}
	return ff, nil
}

type fatFile struct {
	f        *fatFS
	size     int64
	clusters []uint32
}

func (ff *fatFile) Size() int64 { return ff.size }

func (ff *fatFile) ReadAt(p []byte, off int64) (n int, err error) {
	defer guard(&err, "fat read")
	if off < 0 {
		return 0, corruptf("negative offset")
	}
	if off >= ff.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > ff.size-off {
		p = p[:ff.size-off]
	}
	cs := ff.f.clusterSize
	for n < len(p) {
		i := off / cs
		in := off % cs
		// Merge physically consecutive clusters into one read.
		run := int64(1)
		for i+run < int64(len(ff.clusters)) && ff.clusters[i+run] == ff.clusters[i]+uint32(run) && run*cs-in < int64(len(p)-n) {
			run++
		}
		m := min(run*cs-in, int64(len(p)-n))
		if _, err := ff.f.r.ReadAt(p[n:n+int(m)], ff.f.clusterOffset(ff.clusters[i])+in); err != nil {
			return n, err
		}
		n += int(m)
		off += m
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// StatFS is fat_statfs: cluster-sized blocks, free clusters counted in
// the FAT (the FSInfo hint is not trusted by default), no inode counts.
func (f *fatFS) StatFS() (st StatVFS, err error) {
	defer guard(&err, "fat statfs")
	// Decode whole cached chunks at a time: a big FAT32 has millions of
	// entries. Only a FAT12 entry can straddle two chunks.
	var free uint64
	entryOff := func(c uint32) int64 {
		switch f.fatBits {
		case 12:
			return int64(c) + int64(c)/2
		case 16:
			return int64(c) * 2
		}
		return int64(c) * 4
	}
	width := int64(f.fatBits / 8)
	if f.fatBits == 12 {
		width = 2
	}
	le := binary.LittleEndian
	for c := uint32(2); c < f.maxCluster; {
		base := entryOff(c) &^ (fatChunk - 1)
		chunk, err := f.fatChunkAt(base)
		if err != nil {
			return st, err
		}
		for ; c < f.maxCluster; c++ {
			o := entryOff(c) - base
			if o+width > int64(len(chunk)) {
				break
			}
			var v uint32
			switch f.fatBits {
			case 12:
				v = uint32(le.Uint16(chunk[o:]))
				if c&1 != 0 {
					v >>= 4
				}
				v &= 0xfff
			case 16:
				v = uint32(le.Uint16(chunk[o:]))
			default:
				v = le.Uint32(chunk[o:]) & 0x0fffffff
			}
			if v == 0 {
				free++
			}
		}
		if c < f.maxCluster && entryOff(c) < base+int64(len(chunk)) {
			v, err := f.entry(c) // straddles two chunks
			if err != nil {
				return st, err
			}
			if v == 0 {
				free++
			}
			c++
		}
	}
	return StatVFS{Bsize: f.clusterSize, Frsize: f.clusterSize, Blocks: uint64(f.maxCluster - 2),
		Bfree: free, Bavail: free, Namemax: 1530}, nil
}

// cp437 maps a code page 437 byte to Unicode (the default codepage=437).
func cp437(c byte) rune {
	if c < 0x80 {
		return rune(c)
	}
	return []rune("ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0")[c-0x80]
}
