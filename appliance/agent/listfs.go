package agent

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Partition types that hold no filesystem: MBR extended containers and
// Windows' LDM, reserved and snapshot partitions. libguestfs skips them.
var (
	mbrContainers = map[int]bool{0x05: true, 0x0f: true, 0x85: true}
	gptNoFS       = map[string]bool{
		"5808C8AA-7E8F-42E0-85D2-E1E90434CFB3": true,
		"AF9B60A0-1431-4F62-BC68-3311714A69AD": true,
		"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": true,
		"CADDEBF1-4400-4DE8-B103-12117DCF3CCF": true,
	}
	// Signatures of things that are members of something else, not
	// filesystems: they are not listed.
	containerTypes = map[string]bool{"LVM2_member": true, "linux_raid_member": true}
)

// listFilesystems returns (device, type) pairs flattened, the way
// libguestfs list-filesystems does: unpartitioned disks, partitions that
// can hold a filesystem, then LVs; "unknown" where blkid finds nothing.
func listFilesystems(c *call) ([]string, error) {
	ensureLVM(c.ctx)
	var cands []string
	for _, d := range listDevices() {
		if len(partitionsOf(d)) == 0 {
			cands = append(cands, d)
		}
	}
	for _, p := range listPartitions() {
		if partitionCanHoldFS(p) {
			cands = append(cands, p)
		}
	}
	if haveTool("lvm") {
		lvs, err := listLVs(c)
		if err == nil {
			cands = append(cands, lvs...)
		}
	}
	if len(cands) == 0 {
		return []string{}, nil
	}
	info, err := blkidExport(c.ctx, cands...)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, d := range cands {
		typ := lookupBlkid(info, d)["TYPE"]
		if containerTypes[typ] {
			continue
		}
		if typ == "" {
			typ = "unknown"
		}
		out = append(out, d, typ)
	}
	// Whoever lists filesystems usually mounts them next (inspection
	// mounts every one): start loading their drivers now, in the
	// background, since a big module takes a second under emulation.
	go func() {
		for i := 1; i < len(out); i += 2 {
			kmods.forFS(out[i])
		}
	}()
	return out, nil
}

// lookupBlkid finds a device's entry; blkid reports LVs under the name
// it was given, but be lenient about symlinked names.
func lookupBlkid(info map[string]map[string]string, dev string) map[string]string {
	if m, ok := info[dev]; ok {
		return m
	}
	for name, m := range info {
		if canonicalDevice(name) == canonicalDevice(dev) {
			return m
		}
	}
	return nil
}

// partitionCanHoldFS reads the partition's type from sysfs-free sources:
// the kernel does not export MBR type bytes, so read the table entry.
func partitionCanHoldFS(p string) bool {
	dev, n, err := splitPartition(p)
	if err != nil {
		return true
	}
	typ, gptType := partitionTypeRaw(dev, n)
	if mbrContainers[typ] {
		return false
	}
	return !gptNoFS[strings.ToUpper(gptType)]
}

func sortStrings(s []string) { sort.Strings(s) }

// partitionTypeRaw returns the MBR type byte of primary partition n, or
// the GPT type GUID of entry n, by reading the table directly (cheaper
// than running a partitioning tool per partition).
func partitionTypeRaw(dev string, n int) (mbrType int, gptType string) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, ""
	}
	defer f.Close()
	ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil || ss < 512 {
		ss = 512
	}
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil || mbr[510] != 0x55 || mbr[511] != 0xaa {
		return 0, ""
	}
	if mbr[446+4] != 0xee {
		if n >= 1 && n <= 4 {
			return int(mbr[446+16*(n-1)+4]), ""
		}
		return 0, ""
	}
	hdr := make([]byte, 92)
	if _, err := f.ReadAt(hdr, int64(ss)); err != nil || string(hdr[:8]) != "EFI PART" {
		return 0, ""
	}
	entries := int64(binary.LittleEndian.Uint64(hdr[72:]))
	count := int(binary.LittleEndian.Uint32(hdr[80:]))
	size := int64(binary.LittleEndian.Uint32(hdr[84:]))
	if n < 1 || n > count || size < 128 || size > 4096 {
		return 0, ""
	}
	e := make([]byte, 16)
	if _, err := f.ReadAt(e, entries*int64(ss)+int64(n-1)*size); err != nil {
		return 0, ""
	}
	return 0, guidString(e)
}

// guidString formats a mixed-endian GPT GUID.
func guidString(b []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}
