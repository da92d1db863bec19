// Package api describes the gfs command set: the structs commands return
// and the one table (commands.go) from which the shell, its help and
// completion, the remote protocol and docs/commands.md are all derived.
package api

// Field names follow libguestfs's structs so that guestfish scripts which
// parse `stat` or `part-list` output keep working; the json tags are the
// names printed.

// StatNS is lstat(2)/stat(2) of a guest file, with nanosecond times.
type StatNS struct {
	Dev       int64 `json:"st_dev"`
	Ino       int64 `json:"st_ino"`
	Mode      int64 `json:"st_mode"`
	Nlink     int64 `json:"st_nlink"`
	UID       int64 `json:"st_uid"`
	GID       int64 `json:"st_gid"`
	Rdev      int64 `json:"st_rdev"`
	Size      int64 `json:"st_size"`
	Blksize   int64 `json:"st_blksize"`
	Blocks    int64 `json:"st_blocks"`
	AtimeSec  int64 `json:"st_atime_sec"`
	AtimeNsec int64 `json:"st_atime_nsec"`
	MtimeSec  int64 `json:"st_mtime_sec"`
	MtimeNsec int64 `json:"st_mtime_nsec"`
	CtimeSec  int64 `json:"st_ctime_sec"`
	CtimeNsec int64 `json:"st_ctime_nsec"`
	Spare1    int64 `json:"st_spare1"`
	Spare2    int64 `json:"st_spare2"`
	Spare3    int64 `json:"st_spare3"`
	Spare4    int64 `json:"st_spare4"`
	Spare5    int64 `json:"st_spare5"`
	Spare6    int64 `json:"st_spare6"`
}

// Stat is the older struct returned by `stat` and `lstat` (seconds only).
type Stat struct {
	Dev     int64 `json:"dev"`
	Ino     int64 `json:"ino"`
	Mode    int64 `json:"mode"`
	Nlink   int64 `json:"nlink"`
	UID     int64 `json:"uid"`
	GID     int64 `json:"gid"`
	Rdev    int64 `json:"rdev"`
	Size    int64 `json:"size"`
	Blksize int64 `json:"blksize"`
	Blocks  int64 `json:"blocks"`
	Atime   int64 `json:"atime"`
	Mtime   int64 `json:"mtime"`
	Ctime   int64 `json:"ctime"`
}

// Stat converts to the older struct.
func (s StatNS) Stat() Stat {
	return Stat{s.Dev, s.Ino, s.Mode, s.Nlink, s.UID, s.GID, s.Rdev, s.Size, s.Blksize, s.Blocks, s.AtimeSec, s.MtimeSec, s.CtimeSec}
}

// StatVFS is statvfs(2) of a mounted guest filesystem.
type StatVFS struct {
	Bsize   int64 `json:"bsize"`
	Frsize  int64 `json:"frsize"`
	Blocks  int64 `json:"blocks"`
	Bfree   int64 `json:"bfree"`
	Bavail  int64 `json:"bavail"`
	Files   int64 `json:"files"`
	Ffree   int64 `json:"ffree"`
	Favail  int64 `json:"favail"`
	Fsid    int64 `json:"fsid"`
	Flag    int64 `json:"flag"`
	Namemax int64 `json:"namemax"`
}

// Partition is one row of `part-list`, in bytes.
type Partition struct {
	Num   int32 `json:"part_num"`
	Start int64 `json:"part_start"`
	End   int64 `json:"part_end"`
	Size  int64 `json:"part_size"`
}

// Dirent is one entry of `readdir`. Ftyp is one of b c d f l s u ? as in
// libguestfs.
type Dirent struct {
	Ino  int64  `json:"ino"`
	Ftyp string `json:"ftyp"`
	Name string `json:"name"`
}

// PV, VG and LV are the `pvs-full`, `vgs-full` and `lvs-full` rows.
type PV struct {
	Name         string `json:"pv_name"`
	UUID         string `json:"pv_uuid"`
	Fmt          string `json:"pv_fmt"`
	Size         int64  `json:"pv_size"`
	DevSize      int64  `json:"dev_size"`
	Free         int64  `json:"pv_free"`
	Used         int64  `json:"pv_used"`
	Attr         string `json:"pv_attr"`
	PECount      int64  `json:"pv_pe_count"`
	PEAllocCount int64  `json:"pv_pe_alloc_count"`
	Tags         string `json:"pv_tags"`
	PEStart      int64  `json:"pe_start"`
	MDACount     int64  `json:"pv_mda_count"`
	MDAFree      int64  `json:"pv_mda_free"`
}

type VG struct {
	Name        string `json:"vg_name"`
	UUID        string `json:"vg_uuid"`
	Fmt         string `json:"vg_fmt"`
	Attr        string `json:"vg_attr"`
	Size        int64  `json:"vg_size"`
	Free        int64  `json:"vg_free"`
	Sysid       string `json:"vg_sysid"`
	ExtentSize  int64  `json:"vg_extent_size"`
	ExtentCount int64  `json:"vg_extent_count"`
	FreeCount   int64  `json:"vg_free_count"`
	MaxLV       int64  `json:"max_lv"`
	MaxPV       int64  `json:"max_pv"`
	PVCount     int64  `json:"pv_count"`
	LVCount     int64  `json:"lv_count"`
	SnapCount   int64  `json:"snap_count"`
	Seqno       int64  `json:"vg_seqno"`
	Tags        string `json:"vg_tags"`
	MDACount    int64  `json:"vg_mda_count"`
	MDAFree     int64  `json:"vg_mda_free"`
}

type LV struct {
	Name        string  `json:"lv_name"`
	UUID        string  `json:"lv_uuid"`
	Attr        string  `json:"lv_attr"`
	Major       int64   `json:"lv_major"`
	Minor       int64   `json:"lv_minor"`
	KernelMajor int64   `json:"lv_kernel_major"`
	KernelMinor int64   `json:"lv_kernel_minor"`
	Size        int64   `json:"lv_size"`
	SegCount    int64   `json:"seg_count"`
	Origin      string  `json:"origin"`
	SnapPercent float64 `json:"snap_percent"`
	CopyPercent float64 `json:"copy_percent"`
	MovePV      string  `json:"move_pv"`
	Tags        string  `json:"lv_tags"`
	MirrorLog   string  `json:"mirror_log"`
	Modules     string  `json:"modules"`
}

// FileStat is a name with its lstat, the rows of `lstatnslist`.
type FileStat struct {
	Name string `json:"name"`
	StatNS
	Link string `json:"link,omitempty"` // symlink target, for ll
}

// BTRFSSubvolume is one row of `btrfs-subvolume-list`.
type BTRFSSubvolume struct {
	ID       int64  `json:"btrfssubvolume_id"`
	TopLevel int64  `json:"btrfssubvolume_top_level_id"`
	Path     string `json:"btrfssubvolume_path"`
}

// Application2 is one row of `inspect-list-applications2`.
type Application2 struct {
	Name          string `json:"app2_name"`
	DisplayName   string `json:"app2_display_name"`
	Epoch         int32  `json:"app2_epoch"`
	Version       string `json:"app2_version"`
	Release       string `json:"app2_release"`
	Arch          string `json:"app2_arch"`
	InstallPath   string `json:"app2_install_path"`
	TransPath     string `json:"app2_trans_path"`
	Publisher     string `json:"app2_publisher"`
	URL           string `json:"app2_url"`
	SourcePackage string `json:"app2_source_package"`
	Summary       string `json:"app2_summary"`
	Description   string `json:"app2_description"`
	Spare1        string `json:"app2_spare1"`
	Spare2        string `json:"app2_spare2"`
	Spare3        string `json:"app2_spare3"`
	Spare4        string `json:"app2_spare4"`
}
