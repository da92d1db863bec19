package appliance

// What goes into the appliance besides the kernel and the agent.

// bootModules are loaded at boot; the rest load on demand. Names are as
// in modules.dep (dashes and underscores are interchangeable).
var bootModules = []string{"virtio_pci", "virtio_console", "virtio_scsi", "sd_mod"}

// extraModules are copied in, with their dependencies, when the kernel
// has them: filesystems, device-mapper targets for LVM, md RAID, crypto
// for LUKS, and the softdeps the agent loads by hand.
var extraModules = []string{
	"ext4", "xfs", "btrfs", "vfat", "msdos", "isofs", "udf", "squashfs", "ntfs3",
	"hfsplus", "hfs", "jfs", "f2fs", "exfat", "nilfs2", "minix", "ufs", "reiserfs", "fuse",
	"crc32c_generic", "crc32c_intel", "libcrc32c",
	"nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1",
	"dm_mod", "dm_snapshot", "dm_mirror", "dm_zero", "dm_thin_pool", "dm_crypt", "dm_raid", "dm_cache",
	"raid0", "raid1", "raid10", "raid456", "md_mod", "linear",
	"loop", "virtio_rng", "virtio_blk",
	"aesni_intel", "xts", "cbc", "essiv", "sha256_generic", "sha512_generic", "algif_skcipher", "af_alg",
}

// tools are the host programs the agent runs, looked up in the usual
// sbin/bin directories. A missing tool is recorded, not fatal: the
// commands that need it report it when used.
var tools = []string{
	// util-linux and friends
	"blkid", "sfdisk", "wipefs", "mkswap", "swaplabel", "fstrim", "losetup", "findfs", "lsblk",
	"partx", "blockdev", "mount", "umount", "fsfreeze",
	// partitioning
	"parted", "sgdisk", "gdisk",
	// ext2/3/4
	"mke2fs", "mkfs.ext2", "mkfs.ext3", "mkfs.ext4", "e2fsck", "fsck.ext4", "resize2fs", "tune2fs",
	"e2label", "dumpe2fs", "debugfs", "zerofree",
	// xfs (xfs_admin is a shell script around xfs_db)
	"mkfs.xfs", "xfs_growfs", "xfs_admin", "xfs_db", "xfs_repair", "xfs_info", "xfs_io",
	// btrfs
	"mkfs.btrfs", "btrfs", "btrfstune",
	// fat
	"mkfs.fat", "mkfs.vfat", "fsck.fat", "fsck.vfat", "fatlabel",
	// ntfs
	"ntfs-3g", "mkntfs", "mkfs.ntfs", "ntfsresize", "ntfsfix", "ntfslabel", "ntfsclone",
	// lvm, md, luks
	"lvm", "dmsetup", "mdadm", "cryptsetup",
	// archives and compression, for tar-in/tar-out
	"tar", "gzip", "xz", "zstd", "bzip2", "cpio",
	// coreutils used by commands that mirror them
	"df", "du", "sh", "file", "grep",
	// other filesystems
	"mksquashfs", "mkfs.f2fs", "rsync",
}

// dataFiles are host files tools read at run time, copied when present:
// mke2fs's defaults and file(1)'s compiled magic database.
var dataFiles = []string{"/etc/mke2fs.conf", "/usr/lib/file/magic.mgc", "/usr/share/misc/magic.mgc"}

// lvmConf makes LVM work without udev, lvmetad or a devices file, and
// keeps it from writing backups into the appliance.
const lvmConf = `devices {
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
	scan_lvs = 0
	multipath_component_detection = 0
	md_component_detection = 0
	filter = [ "a|^/dev/sd|", "r|.*|" ]
}
global {
	use_lvmlockd = 0
	event_activation = 0
	locking_dir = "/run/lock/lvm"
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
	verify_udev_operations = 1
}
backup {
	backup = 0
	archive = 0
}
`
