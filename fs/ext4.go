package fs

// The FS methods of the ext4 reader that are not about directories.

import (
	"bytes"
	"syscall"
)

func (e *ext4) Root() Ino { return 2 }

func (e *ext4) Stat(ino Ino) (st Stat, err error) {
	defer guard(&err, "ext4 stat")
	in, err := e.inode(ino)
	if err != nil {
		return Stat{}, err
	}
	return e.stat(in), nil
}

// maxFileBlocks is the largest logical block count a file can map.
func (e *ext4) maxFileBlocks(in *extInode) uint64 {
	if in.flags&extFlagExtents != 0 {
		return 1 << 32
	}
	per := uint64(e.bs / 4)
	return 12 + per + per*per + per*per*per
}

func (e *ext4) Open(ino Ino) (f File, err error) {
	defer guard(&err, "ext4 open")
	in, err := e.inode(ino)
	if err != nil {
		return nil, err
	}
	switch in.mode & S_IFMT {
	case S_IFDIR:
		return nil, syscall.EISDIR
	case S_IFREG:
	default:
		return nil, unsupportedf("ext4: inode %d is not a regular file", ino)
	}
	return e.open(in)
}

// open returns a reader of an inode's data (regular files and slow
// symlinks).
func (e *ext4) open(in *extInode) (File, error) {
	ino := in.ino
	if in.flags&extFlagEncrypt != 0 {
		return nil, unsupportedf("ext4: inode %d is encrypted", ino)
	}
	// A size beyond what the inode can map is corruption; one beyond the
	// device (possible for sparse files) is left to the appliance so a
	// crafted size cannot make a read stream for ever.
	if uint64(in.size)>>e.blockBits > e.maxFileBlocks(in) {
		return nil, corruptf("ext4: inode %d: size %d exceeds the maximum file size", ino, in.size)
	}
	if in.size > e.size {
		return nil, unsupportedf("ext4: inode %d: sparse file of %d bytes is larger than the device", ino, in.size)
	}
	f2 := &extFile{e: e, in: in, size: in.size}
	if in.flags&extFlagInlineData != 0 {
		data, err := e.inlineData(in)
		if err != nil {
			return nil, err
		}
		// Past the inline bytes the kernel reads zeros (ext4_readpage_inline).
		if int64(len(data)) > in.size {
			data = data[:in.size]
		}
		f2.data = data
	}
	return f2, nil
}

// isFastSymlink is ext4_inode_is_fast_symlink: the target lives in
// i_block when the inode owns no blocks besides an xattr block.
func (e *ext4) isFastSymlink(in *extInode) bool {
	if in.flags&extFlagEAInode != 0 {
		return in.size > 0 && in.size < 60
	}
	if in.flags&extFlagInlineData != 0 {
		return false
	}
	var ea int64
	if in.fileACL != 0 {
		ea = (e.bs << e.clusterBits) >> 9
	}
	return in.blocks-ea == 0
}

func (e *ext4) Readlink(ino Ino) (target string, err error) {
	defer guard(&err, "ext4 readlink")
	in, err := e.inode(ino)
	if err != nil {
		return "", err
	}
	if in.mode&S_IFMT != S_IFLNK {
		return "", syscall.EINVAL
	}
	if in.flags&extFlagEncrypt != 0 {
		return "", unsupportedf("ext4: symlink %d is encrypted", ino)
	}
	if in.size <= 0 || in.size >= maxSymlinkLen {
		return "", corruptf("ext4: symlink %d has length %d", ino, in.size)
	}
	var b []byte
	if e.isFastSymlink(in) {
		if in.size >= 60 {
			return "", corruptf("ext4: fast symlink %d has length %d", ino, in.size)
		}
		b = in.raw[0x28 : 0x28+in.size]
	} else {
		f, err := e.open(in)
		if err != nil {
			return "", err
		}
		b = make([]byte, in.size)
		if _, err := f.ReadAt(b, 0); err != nil {
			return "", err
		}
	}
	// readlink(2) copies up to the first NUL.
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}
