package fs

// ext4 directories: a linear scan of every directory block (which also
// covers htree directories, whose index blocks look like empty entries),
// inline-data directories, and name lookup with a per-directory map.

import (
	"bytes"
	"encoding/binary"
	"syscall"
)

var extFileTypes = [8]uint32{0, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFLNK}

// parseDirBlock appends the entries of one directory block (or inline
// region) to out, validating each record as ext4_check_dir_entry does.
func (e *ext4) parseDirBlock(dir Ino, b []byte, out []DirEntry) ([]DirEntry, error) {
	le := binary.LittleEndian
	for off := 0; off < len(b); {
		if off+8 > len(b) {
			return nil, corruptf("ext4: directory %d: truncated entry", dir)
		}
		ino := le.Uint32(b[off:])
		recLen := int(le.Uint16(b[off+4:]))
		if e.bs >= 65536 && (recLen == 65535 || recLen == 0) {
			recLen = int(e.bs)
		}
		nameLen := int(b[off+6])
		if e.incompat&extIncompatFiletype == 0 && b[off+7] != 0 {
			return nil, corruptf("ext4: directory %d: name too long", dir)
		}
		if recLen < 12 || recLen&3 != 0 || recLen < (8+nameLen+3)&^3 || off+recLen > len(b) || ino > e.inodesCount {
			return nil, corruptf("ext4: directory %d: invalid entry at offset %d (rec_len %d, name_len %d)", dir, off, recLen, nameLen)
		}
		if ino != 0 {
			name := b[off+8 : off+8+nameLen]
			if !(nameLen == 1 && name[0] == '.') && !(nameLen == 2 && name[0] == '.' && name[1] == '.') {
				if nameLen == 0 || bytes.IndexByte(name, '/') >= 0 || bytes.IndexByte(name, 0) >= 0 {
					return nil, corruptf("ext4: directory %d: invalid name %q", dir, name)
				}
				var typ uint32
				if e.incompat&extIncompatFiletype != 0 {
					typ = extFileTypes[b[off+7]&7]
				}
				out = append(out, DirEntry{Name: string(name), Ino: Ino(ino), Type: typ})
				if len(out) > maxDirEntries {
					return nil, unsupportedf("ext4: directory %d has more than %d entries", dir, maxDirEntries)
				}
			}
		}
		off += recLen
	}
	return out, nil
}

// dirInode loads a directory inode and refuses what cannot be listed
// faithfully here.
func (e *ext4) dirInode(dir Ino) (*extInode, error) {
	in, err := e.inode(dir)
	if err != nil {
		return nil, err
	}
	if err := notDir(in.mode); err != nil {
		return nil, err
	}
	if in.flags&extFlagEncrypt != 0 {
		return nil, unsupportedf("ext4: directory %d is encrypted", dir)
	}
	if in.size > maxDirBytes {
		return nil, unsupportedf("ext4: directory %d is %d bytes", dir, in.size)
	}
	return in, nil
}

func (e *ext4) readDir(in *extInode) ([]DirEntry, error) {
	var out []DirEntry
	if in.flags&extFlagInlineData != 0 {
		data, err := e.inlineData(in)
		if err != nil {
			return nil, err
		}
		// i_block starts with the parent's inode number (the ".."
		// entry), then entries fill the rest of i_block and the
		// system.data attribute, as two separate regions.
		if out, err = e.parseDirBlock(in.ino, data[4:60], out); err != nil {
			return nil, err
		}
		if len(data) > 60 {
			return e.parseDirBlock(in.ino, data[60:], out)
		}
		return out, nil
	}
	nblocks := uint64(in.size) >> e.blockBits
	for lblk := uint64(0); lblk < nblocks; {
		run, err := e.mapBlock(in, lblk)
		if err != nil {
			return nil, err
		}
		n := min(run.n, nblocks-lblk)
		if run.kind == mapData {
			for i := uint64(0); i < n; i++ {
				b, err := e.block(run.phys + i)
				if err != nil {
					return nil, err
				}
				if out, err = e.parseDirBlock(in.ino, b, out); err != nil {
					return nil, err
				}
			}
		}
		lblk += n
	}
	return out, nil
}

func (e *ext4) ReadDir(dir Ino) (ents []DirEntry, err error) {
	defer guard(&err, "ext4 readdir")
	in, err := e.dirInode(dir)
	if err != nil {
		return nil, err
	}
	return e.readDir(in)
}

func (e *ext4) Lookup(dir Ino, name string) (ino Ino, err error) {
	defer guard(&err, "ext4 lookup")
	if name == "." || name == ".." || name == "" {
		return 0, syscall.EINVAL
	}
	if len(name) > maxNameLen {
		return 0, syscall.ENAMETOOLONG
	}
	m, ok := e.dirMaps.get(dir)
	var in *extInode
	if !ok {
		if in, err = e.dirInode(dir); err != nil {
			return 0, err
		}
		ents, err := e.readDir(in)
		if err != nil {
			return 0, err
		}
		m = make(map[string]Ino, len(ents))
		for _, d := range ents {
			if _, dup := m[d.Name]; !dup {
				m[d.Name] = d.Ino
			}
		}
		e.dirMaps.put(dir, m)
	}
	if ino, ok := m[name]; ok {
		return ino, nil
	}
	if in == nil {
		if in, err = e.inode(dir); err != nil {
			return 0, err
		}
	}
	if in.flags&extFlagCasefold != 0 {
		// The kernel would match case-insensitively (Unicode folding).
		return 0, unsupportedf("ext4: lookup of %q in case-insensitive directory %d", name, dir)
	}
	return 0, syscall.ENOENT
}
