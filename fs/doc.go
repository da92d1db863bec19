// Package fs is gfs's VM-less read path: memory-safe pure-Go readers that
// answer read-only questions about a guest disk image in milliseconds,
// without booting the appliance.
//
// The layers are:
//
//   - images (OpenImage): raw files and a read-only qcow2 reader;
//   - disk layout (OpenDisks): MBR (with logical partitions), GPT and
//     LVM2 linear/striped logical volumes, named as the appliance's Linux
//     kernel would name them (/dev/sda1, /dev/VG/LV, /dev/mapper/VG-LV);
//   - filesystem detection (Probe), reporting what blkid reports;
//   - filesystem readers (Mount) for ext2/ext3/ext4 and FAT, exposing an
//     inode-level FS interface with lstat(2)-exact metadata;
//   - a guest mount table (Mounts) resolving paths component by component
//     with chroot semantics across nested mounts.
//
// Images are untrusted: a hostile guest may have crafted them. Every
// public entry point recovers panics into errors, every on-disk offset and
// size is validated, and every loop is bounded. Any error that is not an
// authoritative POSIX answer (see NeedsFallback) means "ask the
// appliance instead".
package fs
