package fs

// ext4 inodes: locating them through the group descriptors, decoding the
// fields lstat(2) reports exactly as ext4_iget/ext4_getattr compute them,
// and the in-inode extended attributes that inline data lives in.

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"
)

// Inode flags (i_flags).
const (
	extFlagEncrypt    = 0x00000800
	extFlagIndex      = 0x00001000
	extFlagHugeFile   = 0x00040000
	extFlagExtents    = 0x00080000
	extFlagEAInode    = 0x00200000
	extFlagInlineData = 0x10000000
	extFlagCasefold   = 0x40000000
)

type extInode struct {
	ino   Ino
	raw   []byte // the on-disk inode (inodeSize bytes), a private copy
	mode  uint32
	flags uint32
	size  int64
	// blocks in 512-byte units, as the kernel's inode->i_blocks
	blocks  int64
	fileACL uint64
}

// extraFits reports whether the large-inode field ending at byte end
// (offset from the start of the inode) is covered by i_extra_isize.
func (in *extInode) extraFits(end int) bool {
	if len(in.raw) <= 128 {
		return false
	}
	return end <= 128+int(binary.LittleEndian.Uint16(in.raw[0x80:]))
}

func (e *ext4) inode(ino Ino) (*extInode, error) {
	if ino < 1 || uint64(ino) > uint64(e.inodesCount) {
		return nil, corruptf("ext4: inode number %d out of range", ino)
	}
	g := uint32((uint64(ino) - 1) / uint64(e.inodesPerGroup))
	idx := (uint64(ino) - 1) % uint64(e.inodesPerGroup)
	d, err := e.groupDesc(g)
	if err != nil {
		return nil, err
	}
	table := e.descField(d, 0x08, 0x28, 4)
	byteOff := idx * uint64(e.inodeSize)
	b, err := e.block(table + byteOff>>e.blockBits)
	if err != nil {
		return nil, err
	}
	off := byteOff & uint64(e.bs-1)
	in := &extInode{ino: ino, raw: append([]byte(nil), b[off:off+uint64(e.inodeSize)]...)}
	le := binary.LittleEndian
	raw := in.raw
	in.mode = uint32(le.Uint16(raw[0:]))
	in.flags = le.Uint32(raw[0x20:])
	in.size = int64(le.Uint32(raw[0x04:]))
	if e.incompat&extIncompatLargedir != 0 || in.mode&S_IFMT == S_IFREG {
		in.size |= int64(le.Uint32(raw[0x6c:])) << 32
	}
	if in.size < 0 {
		return nil, corruptf("ext4: inode %d has a negative size", ino)
	}
	in.fileACL = uint64(le.Uint32(raw[0x68:])) | uint64(le.Uint16(raw[0x76:]))<<32
	in.blocks = int64(le.Uint32(raw[0x1c:]))
	if e.roCompat&extRoCompatHugeFile != 0 {
		in.blocks |= int64(le.Uint16(raw[0x74:])) << 32
		if in.flags&extFlagHugeFile != 0 {
			in.blocks <<= e.blockBits - 9
		}
	}
	if e.inodeSize > 128 {
		extra := int64(le.Uint16(raw[0x80:]))
		if extra > e.inodeSize-128 || extra&3 != 0 {
			return nil, corruptf("ext4: inode %d has i_extra_isize %d", ino, extra)
		}
	}
	if le.Uint16(raw[0x1a:]) == 0 && ino != 5 {
		// What the kernel calls a stale reference to a deleted inode
		// (inode 5, the boot loader inode, is exempt there too).
		return nil, corruptf("ext4: inode %d is not in use", ino)
	}
	switch in.mode & S_IFMT {
	case S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
	default:
		return nil, corruptf("ext4: inode %d has bogus mode %#o", ino, in.mode)
	}
	if in.flags&extFlagInlineData != 0 && e.incompat&extIncompatInlineData == 0 {
		return nil, corruptf("ext4: inode %d has inline data on a filesystem without inline_data", ino)
	}
	if in.flags&extFlagExtents != 0 && e.incompat&extIncompatExtents == 0 {
		return nil, corruptf("ext4: inode %d uses extents on a filesystem without extents", ino)
	}
	return in, nil
}

// decodeTime is ext4_decode_extra_time: a signed 32-bit seconds field,
// extended by two epoch bits and nanoseconds in the *_extra field when
// the inode is large enough to have it.
func (in *extInode) decodeTime(base, extra int) Timespec {
	le := binary.LittleEndian
	t := Timespec{Sec: int64(int32(le.Uint32(in.raw[base:])))}
	if in.extraFits(extra + 4) {
		x := le.Uint32(in.raw[extra:])
		t.Sec += int64(x&3) << 32
		t.Nsec = int64(x >> 2)
	}
	return t
}

func (e *ext4) stat(in *extInode) Stat {
	le := binary.LittleEndian
	raw := in.raw
	st := Stat{
		Ino:     uint64(in.ino),
		Mode:    in.mode,
		Nlink:   uint64(le.Uint16(raw[0x1a:])),
		Uid:     uint32(le.Uint16(raw[0x02:])) | uint32(le.Uint16(raw[0x78:]))<<16,
		Gid:     uint32(le.Uint16(raw[0x18:])) | uint32(le.Uint16(raw[0x7a:]))<<16,
		Size:    in.size,
		Blksize: e.bs,
		Blocks:  in.blocks,
		Atime:   in.decodeTime(0x08, 0x8c),
		Ctime:   in.decodeTime(0x0c, 0x84),
		Mtime:   in.decodeTime(0x10, 0x88),
	}
	switch in.mode & S_IFMT {
	case S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
		// Old-style device numbers in i_block[0], else new-style in
		// i_block[1] (ext4_iget).
		if old := le.Uint32(raw[0x28:]); old != 0 {
			st.Rdev = unix.Mkdev((old>>8)&0xff, old&0xff)
		} else {
			n := le.Uint32(raw[0x2c:])
			st.Rdev = unix.Mkdev((n&0xfff00)>>8, (n&0xff)|((n>>12)&0xfff00))
		}
	case S_IFREG:
		if in.flags&extFlagInlineData != 0 {
			// ext4_file_getattr reports at least a sector for inline
			// files so that tools do not think they are sparse.
			st.Blocks += (st.Size + 511) >> 9
		}
	}
	return st
}

// inlineXattr returns the value of an in-inode extended attribute
// (name index + name), or nil if absent.
func (e *ext4) inlineXattr(in *extInode, index byte, name string) ([]byte, error) {
	if len(in.raw) <= 128 {
		return nil, nil
	}
	le := binary.LittleEndian
	start := 128 + int(le.Uint16(in.raw[0x80:]))
	if start+4 > len(in.raw) || le.Uint32(in.raw[start:]) != 0xea020000 {
		return nil, nil
	}
	area := in.raw[start+4:]
	for off := 0; off+16 <= len(area); {
		if le.Uint32(area[off:]) == 0 {
			break
		}
		nameLen := int(area[off])
		idx := area[off+1]
		voff := int(le.Uint16(area[off+2:]))
		vinum := le.Uint32(area[off+4:])
		vsize := int(le.Uint32(area[off+8:]))
		if off+16+nameLen > len(area) {
			return nil, corruptf("ext4: inode %d: xattr entry overruns the inode", in.ino)
		}
		if idx == index && string(area[off+16:off+16+nameLen]) == name {
			if vinum != 0 {
				return nil, unsupportedf("ext4: inode %d: xattr value in an EA inode", in.ino)
			}
			if voff < 0 || vsize < 0 || voff+vsize > len(area) {
				return nil, corruptf("ext4: inode %d: xattr value overruns the inode", in.ino)
			}
			return area[voff : voff+vsize], nil
		}
		off += (16 + nameLen + 3) &^ 3
	}
	return nil, nil
}

// inlineData returns the contents of an inline-data inode: the 60 bytes
// of i_block followed by the "system.data" attribute.
func (e *ext4) inlineData(in *extInode) ([]byte, error) {
	extra, err := e.inlineXattr(in, 7, "data")
	if err != nil {
		return nil, err
	}
	data := append(append([]byte(nil), in.raw[0x28:0x28+60]...), extra...)
	return data, nil
}

// errnoFor maps file types to the errno an operation on the wrong type
// gets from the kernel.
func notDir(st uint32) error {
	if st&S_IFMT != S_IFDIR {
		return syscall.ENOTDIR
	}
	return nil
}
