package fs

// ext4 block mapping: extent trees (depth-limited, every node checked)
// and ext2/ext3 indirect blocks, plus the File reader built on them.
// Holes and unwritten (fallocated) extents read as zeros.

import (
	"encoding/binary"
	"io"
)

const (
	mapHole      = iota // nothing allocated: zeros
	mapData             // allocated and written
	mapUnwritten        // allocated by fallocate, never written: zeros
)

// blockRun is the mapping of a run of logical blocks.
type blockRun struct {
	kind int
	phys uint64 // first physical block (mapData)
	n    uint64 // number of blocks in the run (>= 1)
}

const extentMagic = 0xf30a

// mapBlock maps logical block lblk of an inode.
func (e *ext4) mapBlock(in *extInode, lblk uint64) (blockRun, error) {
	if in.flags&extFlagExtents != 0 {
		return e.mapExtent(in, lblk)
	}
	return e.mapIndirect(in, lblk)
}

// mapExtent walks the extent tree from the root in i_block down to the
// leaf covering lblk. bound tracks the first logical block mapped by a
// later entry, so a hole's run extends to it in a single step.
func (e *ext4) mapExtent(in *extInode, lblk uint64) (blockRun, error) {
	le := binary.LittleEndian
	node := in.raw[0x28 : 0x28+60]
	bound := uint64(1) << 32
	if lblk >= bound {
		return blockRun{kind: mapHole, n: 1}, nil // unreachable for a valid i_size
	}
	wantDepth := -1
	for level := 0; ; level++ {
		if len(node) < 12 || le.Uint16(node) != extentMagic {
			return blockRun{}, corruptf("ext4: inode %d: bad extent header", in.ino)
		}
		entries, max, depth := int(le.Uint16(node[2:])), int(le.Uint16(node[4:])), int(le.Uint16(node[6:]))
		if entries > max || 12+12*max > len(node) || depth > maxExtentDepth || (wantDepth >= 0 && depth != wantDepth) || level > maxExtentDepth {
			return blockRun{}, corruptf("ext4: inode %d: invalid extent node (entries %d max %d depth %d)", in.ino, entries, max, depth)
		}
		// Last entry whose first block is <= lblk.
		i := -1
		for j := 0; j < entries; j++ {
			if uint64(le.Uint32(node[12+12*j:])) > lblk {
				bound = min(bound, uint64(le.Uint32(node[12+12*j:])))
				break
			}
			i = j
		}
		if i < 0 {
			return blockRun{kind: mapHole, n: bound - lblk}, nil
		}
		ent := node[12+12*i:]
		if depth == 0 {
			start := uint64(le.Uint32(ent))
			length := uint64(le.Uint16(ent[4:]))
			unwritten := length > 32768
			if unwritten {
				length -= 32768
			}
			phys := uint64(le.Uint16(ent[6:]))<<32 | uint64(le.Uint32(ent[8:]))
			if lblk >= start+length {
				return blockRun{kind: mapHole, n: bound - lblk}, nil
			}
			if phys+length > e.blocksCount || phys < e.firstDataBlock {
				return blockRun{}, corruptf("ext4: inode %d: extent points outside the filesystem", in.ino)
			}
			if unwritten {
				return blockRun{kind: mapUnwritten, n: start + length - lblk}, nil
			}
			return blockRun{kind: mapData, phys: phys + (lblk - start), n: start + length - lblk}, nil
		}
		child := uint64(le.Uint16(ent[8:]))<<32 | uint64(le.Uint32(ent[4:]))
		b, err := e.block(child)
		if err != nil {
			return blockRun{}, err
		}
		node, wantDepth = b, depth-1
	}
}

// mapIndirect follows ext2/ext3 block pointers: 12 direct, then single,
// double and triple indirect blocks. A zero pointer is a hole covering
// everything beneath it. Consecutive data blocks form one run.
func (e *ext4) mapIndirect(in *extInode, lblk uint64) (blockRun, error) {
	le := binary.LittleEndian
	per := uint64(e.bs / 4)
	ptrs := in.raw[0x28 : 0x28+60]
	// Locate lblk: index path and the span each pointer at each level covers.
	var path []uint64
	var spans []uint64
	switch l := lblk; {
	case l < 12:
		path, spans = []uint64{l}, []uint64{1}
	case l-12 < per:
		path, spans = []uint64{12, l - 12}, []uint64{per, 1}
	case l-12-per < per*per:
		l -= 12 + per
		path, spans = []uint64{13, l / per, l % per}, []uint64{per * per, per, 1}
	case l-12-per-per*per < per*per*per:
		l -= 12 + per + per*per
		path, spans = []uint64{14, l / (per * per), (l / per) % per, l % per}, []uint64{per * per * per, per * per, per, 1}
	default:
		return blockRun{kind: mapHole, n: 1}, nil
	}
	for level, idx := range path {
		p := uint64(le.Uint32(ptrs[4*idx:]))
		if p == 0 {
			// The hole spans the rest of this pointer's subtree.
			covered := spans[level]
			var into uint64
			for l2 := level + 1; l2 < len(path); l2++ {
				into += path[l2] * spans[l2]
			}
			return blockRun{kind: mapHole, n: covered - into}, nil
		}
		if p >= e.blocksCount || p < e.firstDataBlock {
			return blockRun{}, corruptf("ext4: inode %d: block pointer %d outside the filesystem", in.ino, p)
		}
		if level == len(path)-1 {
			run := uint64(1)
			limit := uint64(len(ptrs) / 4)
			if level == 0 {
				limit = 12
			}
			for j := idx + 1; j < limit && uint64(le.Uint32(ptrs[4*j:])) == p+run && p+run < e.blocksCount; j++ {
				run++
			}
			return blockRun{kind: mapData, phys: p, n: run}, nil
		}
		b, err := e.block(p)
		if err != nil {
			return blockRun{}, err
		}
		ptrs = b
	}
	panic("unreachable")
}

// extFile reads an inode's data.
type extFile struct {
	e    *ext4
	in   *extInode
	size int64
	data []byte // inline data, when the inode has it
}

func (f *extFile) Size() int64 { return f.size }

func (f *extFile) ReadAt(p []byte, off int64) (n int, err error) {
	defer guard(&err, "ext4 read")
	if off < 0 {
		return 0, corruptf("negative offset")
	}
	if off >= f.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > f.size-off {
		p = p[:f.size-off]
	}
	if f.data != nil {
		if off < int64(len(f.data)) {
			n = copy(p, f.data[off:])
		}
		clear(p[n:])
		n = len(p)
	} else {
		e := f.e
		for n < len(p) {
			lblk := uint64(off) >> e.blockBits
			run, err := e.mapBlock(f.in, lblk)
			if err != nil {
				return n, err
			}
			in := off & (e.bs - 1)
			m := int64(run.n)<<e.blockBits - in
			if m <= 0 || run.n > 1<<40 {
				m = e.bs - in
			}
			m = min(m, int64(len(p)-n))
			chunk := p[n : n+int(m)]
			if run.kind != mapData {
				clear(chunk)
			} else if _, err := e.r.ReadAt(chunk, int64(run.phys)<<e.blockBits+in); err != nil {
				return n, err
			}
			n += int(m)
			off += m
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}
