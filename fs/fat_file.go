package fs

// FAT inodes and data: lstat(2) fields as the Linux vfat driver reports
// them, file reads along cluster chains, and statfs.

import (
	"encoding/binary"
	"io"
	"syscall"
)

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
