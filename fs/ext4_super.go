package fs

// Read-only ext2/ext3/ext4 reader: superblock, group descriptors, block
// cache and statfs. Written here rather than borrowed because neither
// available library reads all three generations correctly with full
// lstat metadata (see /work/shared/reference/dependency-findings.md).

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Feature bits (superblock s_feature_*).
const (
	extCompatSparseSuper2 = 0x0200

	extIncompatCompression = 0x0001
	extIncompatFiletype    = 0x0002
	extIncompatRecover     = 0x0004
	extIncompatJournalDev  = 0x0008
	extIncompatMetaBG      = 0x0010
	extIncompatExtents     = 0x0040
	extIncompat64bit       = 0x0080
	extIncompatMMP         = 0x0100
	extIncompatFlexBG      = 0x0200
	extIncompatEAInode     = 0x0400
	extIncompatDirdata     = 0x1000
	extIncompatCsumSeed    = 0x2000
	extIncompatLargedir    = 0x4000
	extIncompatInlineData  = 0x8000
	extIncompatEncrypt     = 0x10000
	extIncompatCasefold    = 0x20000

	// What this reader understands; anything else is refused.
	extIncompatSupported = extIncompatFiletype | extIncompatMetaBG | extIncompatExtents |
		extIncompat64bit | extIncompatMMP | extIncompatFlexBG | extIncompatEAInode |
		extIncompatCsumSeed | extIncompatLargedir | extIncompatInlineData |
		extIncompatEncrypt | extIncompatCasefold

	extRoCompatSparseSuper = 0x0001
	extRoCompatHugeFile    = 0x0008
	extRoCompatBigalloc    = 0x0200
)

type ext4 struct {
	r    io.ReaderAt
	size int64

	bs             int64 // block size
	blockBits      uint
	clusterBits    uint // log2(blocks per cluster), bigalloc only
	blocksCount    uint64
	rBlocksCount   uint64
	firstDataBlock uint64
	blocksPerGroup uint64
	inodesCount    uint32
	inodesPerGroup uint32
	inodeSize      int64
	groups         uint32
	descSize       int64
	firstMetaBG    uint32
	reservedGDT    uint64
	journalInum    uint32
	backupBGs      [2]uint32
	compat         uint32
	incompat       uint32
	roCompat       uint32

	blocks  *lru[uint64, []byte] // metadata blocks
	dirMaps *lru[Ino, map[string]Ino]
}

func openExt4(r io.ReaderAt, size int64) (*ext4, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, 1024); err != nil {
		return nil, fmt.Errorf("ext4: reading superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != 0xef53 {
		return nil, corruptf("ext4: bad superblock magic")
	}
	e := &ext4{r: r, size: size}
	logBS := le.Uint32(sb[0x18:])
	if logBS > 6 { // 1 KiB .. 64 KiB
		return nil, corruptf("ext4: block size 2^(10+%d)", logBS)
	}
	e.blockBits = uint(10 + logBS)
	e.bs = 1 << e.blockBits
	if e.bs > 4096 {
		// Larger than the page size: the appliance's kernel cannot mount
		// it, so neither do we.
		return nil, unsupportedf("ext4: block size %d", e.bs)
	}
	e.compat, e.incompat, e.roCompat = le.Uint32(sb[0x5c:]), le.Uint32(sb[0x60:]), le.Uint32(sb[0x64:])
	if le.Uint32(sb[0x4c:]) == 0 { // revision 0: fixed inode size, no features
		e.inodeSize = 128
		e.compat, e.incompat, e.roCompat = 0, 0, 0
	} else {
		e.inodeSize = int64(le.Uint16(sb[0x58:]))
	}
	switch {
	case e.incompat&extIncompatJournalDev != 0:
		return nil, unsupportedf("ext4: this is an external journal device")
	case e.incompat&extIncompatRecover != 0:
		// The kernel would replay the journal first; reading around it
		// could return stale metadata.
		return nil, unsupportedf("ext4: the journal needs recovery")
	case e.incompat&^extIncompatSupported != 0:
		return nil, unsupportedf("ext4: incompatible features %#x", e.incompat&^extIncompatSupported)
	}
	if e.roCompat&extRoCompatBigalloc != 0 {
		cl := le.Uint32(sb[0x1c:])
		if cl < logBS || cl-logBS > 16 {
			return nil, corruptf("ext4: cluster size")
		}
		e.clusterBits = uint(cl - logBS)
	}
	e.blocksCount = uint64(le.Uint32(sb[0x04:]))
	e.rBlocksCount = uint64(le.Uint32(sb[0x08:]))
	e.descSize = 32
	if e.incompat&extIncompat64bit != 0 {
		e.blocksCount |= uint64(le.Uint32(sb[0x150:])) << 32
		e.rBlocksCount |= uint64(le.Uint32(sb[0x154:])) << 32
		e.descSize = int64(le.Uint16(sb[0xfe:]))
		if e.descSize < 64 || e.descSize > 1024 || e.descSize&(e.descSize-1) != 0 {
			return nil, corruptf("ext4: group descriptor size %d", e.descSize)
		}
	}
	e.firstDataBlock = uint64(le.Uint32(sb[0x14:]))
	e.blocksPerGroup = uint64(le.Uint32(sb[0x20:]))
	e.inodesCount = le.Uint32(sb[0x00:])
	e.inodesPerGroup = le.Uint32(sb[0x28:])
	e.firstMetaBG = le.Uint32(sb[0x104:])
	e.reservedGDT = uint64(le.Uint16(sb[0xce:]))
	e.journalInum = le.Uint32(sb[0xe0:])
	e.backupBGs = [2]uint32{le.Uint32(sb[0x24c:]), le.Uint32(sb[0x250:])}

	devBlocks := uint64(size) >> e.blockBits
	switch {
	case e.inodeSize < 128 || e.inodeSize > e.bs || e.inodeSize&(e.inodeSize-1) != 0:
		return nil, corruptf("ext4: inode size %d", e.inodeSize)
	case e.blocksCount == 0 || e.blocksCount > devBlocks:
		// The kernel refuses a filesystem larger than its device too.
		return nil, corruptf("ext4: %d blocks but the device has %d", e.blocksCount, devBlocks)
	case e.blocksPerGroup == 0 || e.blocksPerGroup > uint64(8*e.bs)<<e.clusterBits:
		return nil, corruptf("ext4: blocks per group %d", e.blocksPerGroup)
	case e.inodesPerGroup == 0 || int64(e.inodesPerGroup) > 8*e.bs:
		return nil, corruptf("ext4: inodes per group %d", e.inodesPerGroup)
	case e.firstDataBlock >= e.blocksCount:
		return nil, corruptf("ext4: first data block %d", e.firstDataBlock)
	}
	groups := (e.blocksCount - e.firstDataBlock + e.blocksPerGroup - 1) / e.blocksPerGroup
	if groups == 0 || groups > 1<<32-1 || uint64(e.inodesCount) > groups*uint64(e.inodesPerGroup) {
		return nil, corruptf("ext4: %d groups cannot hold %d inodes", groups, e.inodesCount)
	}
	e.groups = uint32(groups)

	e.blocks = newLRU[uint64, []byte](16<<20, bytesLen)
	e.dirMaps = newLRU[Ino, map[string]Ino](64<<20, func(m map[string]Ino) int64 { return int64(len(m)) * 64 })
	return e, nil
}

// block returns a metadata block (cached). Callers must not modify it.
func (e *ext4) block(n uint64) ([]byte, error) {
	if n >= e.blocksCount {
		return nil, corruptf("ext4: block %d beyond the end of the filesystem", n)
	}
	if b, ok := e.blocks.get(n); ok {
		return b, nil
	}
	b := make([]byte, e.bs)
	if _, err := e.r.ReadAt(b, int64(n)<<e.blockBits); err != nil {
		return nil, fmt.Errorf("ext4: reading block %d: %w", n, err)
	}
	e.blocks.put(n, b)
	return b, nil
}

// hasSuper reports whether group g holds a superblock backup (and so the
// old-style group descriptor table copy), as ext4_bg_has_super decides.
func (e *ext4) hasSuper(g uint64) bool {
	switch {
	case g == 0:
		return true
	case e.compat&extCompatSparseSuper2 != 0:
		return g == uint64(e.backupBGs[0]) || g == uint64(e.backupBGs[1])
	case g <= 1 || e.roCompat&extRoCompatSparseSuper == 0:
		return true
	case g&1 == 0:
		return false
	}
	return isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7)
}

func isPowerOf(n, b uint64) bool {
	p := b
	for p < n {
		p *= b
	}
	return p == n
}

func (e *ext4) descPerBlock() uint64 { return uint64(e.bs / e.descSize) }

func (e *ext4) gdtBlocks() uint64 {
	return (uint64(e.groups) + e.descPerBlock() - 1) / e.descPerBlock()
}

// groupDesc returns the descriptor of group g, locating its block the way
// the kernel's descriptor_loc does (meta_bg places each block of
// descriptors in the first group it describes).
func (e *ext4) groupDesc(g uint32) ([]byte, error) {
	if g >= e.groups {
		return nil, corruptf("ext4: group %d of %d", g, e.groups)
	}
	dpb := e.descPerBlock()
	nr := uint64(g) / dpb
	var blk uint64
	if e.incompat&extIncompatMetaBG == 0 || nr < uint64(e.firstMetaBG) {
		// Right after the superblock's block, which is block 1 with 1 KiB
		// blocks even when s_first_data_block is 0 (bigalloc).
		blk = uint64(1024>>e.blockBits) + 1 + nr
	} else {
		bg := dpb * nr
		blk = e.firstDataBlock + bg*e.blocksPerGroup
		if e.hasSuper(bg) {
			blk++
		}
		if e.bs == 1024 && nr == 0 && e.firstDataBlock == 0 {
			blk++
		}
	}
	b, err := e.block(blk)
	if err != nil {
		return nil, err
	}
	off := (uint64(g) % dpb) * uint64(e.descSize)
	return b[off : off+uint64(e.descSize)], nil
}

// descField reads a lo/hi split descriptor field.
func (e *ext4) descField(d []byte, lo, hi int, width int) uint64 {
	le := binary.LittleEndian
	var v uint64
	if width == 4 {
		v = uint64(le.Uint32(d[lo:]))
		if e.descSize >= 64 {
			v |= uint64(le.Uint32(d[hi:])) << 32
		}
	} else {
		v = uint64(le.Uint16(d[lo:]))
		if e.descSize >= 64 {
			v |= uint64(le.Uint16(d[hi:])) << 16
		}
	}
	return v
}

func (e *ext4) Type() string { return "ext4" }

// StatFS computes what ext4_statfs reports: blocks minus the metadata
// overhead (computed per group as the kernel does unless bigalloc), free
// blocks and inodes summed over the group descriptors, and bavail less
// the root reserve and the kernel's own reserve of 2% (at most 4096
// clusters) on extent-based filesystems.
func (e *ext4) StatFS() (st StatVFS, err error) {
	defer guard(&err, "ext4 statfs")
	var freeClusters, freeInodes uint64
	for g := uint32(0); g < e.groups; g++ {
		d, err := e.groupDesc(g)
		if err != nil {
			return st, err
		}
		freeClusters += e.descField(d, 0x0c, 0x2c, 2)
		freeInodes += e.descField(d, 0x0e, 0x2e, 2)
	}
	var overhead uint64
	if e.roCompat&extRoCompatBigalloc != 0 {
		sb := make([]byte, 4)
		if _, err := e.r.ReadAt(sb, 1024+0x248); err != nil {
			return st, err
		}
		overhead = uint64(binary.LittleEndian.Uint32(sb))
		if overhead == 0 {
			return st, unsupportedf("ext4: statfs of a bigalloc filesystem without recorded overhead")
		}
	} else {
		overhead = e.firstDataBlock
		itb := (uint64(e.inodesPerGroup)*uint64(e.inodeSize) + uint64(e.bs) - 1) / uint64(e.bs)
		for g := uint64(0); g < uint64(e.groups); g++ {
			var sup uint64
			if e.hasSuper(g) {
				sup = 1
			}
			overhead += sup + e.numGDB(g) + sup*e.reservedGDT + itb + 2
		}
		if e.compat&extCompatHasJournal != 0 && e.journalInum != 0 {
			in, err := e.inode(Ino(e.journalInum))
			if err != nil {
				return st, err
			}
			overhead += uint64(in.size) >> e.blockBits
		}
	}
	overhead <<= e.clusterBits
	if overhead > e.blocksCount {
		overhead = e.blocksCount
	}
	st = StatVFS{Bsize: e.bs, Frsize: e.bs, Namemax: 255,
		Blocks: e.blocksCount - overhead,
		Bfree:  freeClusters << e.clusterBits,
		Files:  uint64(e.inodesCount), Ffree: freeInodes, Favail: freeInodes}
	var resv uint64
	if e.incompat&extIncompatExtents != 0 {
		resv = min((e.blocksCount>>e.clusterBits)/50, 4096) << e.clusterBits
	}
	if st.Bfree > e.rBlocksCount+resv {
		st.Bavail = st.Bfree - e.rBlocksCount - resv
	}
	return st, nil
}

// numGDB is ext4_bg_num_gdb: descriptor-table blocks stored in group g.
func (e *ext4) numGDB(g uint64) uint64 {
	dpb := e.descPerBlock()
	metagroup := g / dpb
	if e.incompat&extIncompatMetaBG == 0 || metagroup < uint64(e.firstMetaBG) {
		if !e.hasSuper(g) {
			return 0
		}
		if e.incompat&extIncompatMetaBG != 0 {
			return uint64(e.firstMetaBG)
		}
		return e.gdtBlocks()
	}
	first := metagroup * dpb
	if g == first || g == first+1 || g == first+dpb-1 {
		return 1
	}
	return 0
}
