package fs

// Read-only FAT12/16/32 reader with VFAT long names, reporting metadata
// the way the Linux vfat driver does with default mount options as root
// with umask 022 (uid 0, gid 0, directories 0755, files 0755 or 0555 when
// read-only, ctime = mtime, root directory times 0, blksize = cluster).

import (
	"encoding/binary"
	"io"
	"sync"
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
