package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFilesystems builds two disks the way a guest might look:
//
//	sda (MBR): 1 ext4, 2 extended { 5 swap, 6 LVM PV { vg0/root ext4, vg0/empty }, 7 nothing }, 3 vfat
//	sdb: ext2 on the whole disk, no partition table
//
// and checks list-filesystems, vfs-type and reading a file from an LV.
func TestFilesystems(t *testing.T) {
	a, b := buildListfsDisks(t)
	d := openDisksT(t, a, b)
	fss, err := d.Filesystems()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fss {
		got = append(got, f.Device+": "+f.Type)
	}
	want := []string{"/dev/sdb: ext2", "/dev/sda1: ext4", "/dev/sda3: vfat", "/dev/sda5: swap", "/dev/sda7: unknown",
		"/dev/vg0/empty: unknown", "/dev/vg0/root: ext4"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("list-filesystems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for name, typ := range map[string]string{"/dev/sda6": "LVM2_member", "/dev/sda": "", "/dev/sda2": "", "/dev/mapper/vg0-root": "ext4"} {
		if got, err := d.VFSType(name); got != typ || err != nil {
			t.Errorf("vfs-type %s = %q, %v; want %q", name, got, err, typ)
		}
	}
	m := NewMounts(d)
	if err := m.Mount("/dev/mapper/vg0-root", "/"); err != nil {
		t.Fatal(err)
	}
	if b, err := m.ReadFile("/etc/hostname", 100); err != nil || string(b) != "lvmhost\n" {
		t.Errorf("/etc/hostname on an LV: %q %v", b, err)
	}
}

func buildListfsDisks(t *testing.T) (string, string) {
	h := newLVMHost(t)
	a := filepath.Join(h.dir, "a.img")
	writeFile(t, a, nil)
	os.Truncate(a, 200<<20)
	runIn(t, "", []byte(`label: dos
start=2048, size=65536, type=83
start=67584, size=245760, type=5
start=313344, size=65536, type=c
start=69632, size=32768, type=82
start=104448, size=131072, type=8e
start=237568, size=16384, type=83
`), "sfdisk", "-q", a)
	d := openDisksT(t, a)
	parts := map[int]Partition{}
	for _, p := range d.Partitions() {
		parts[p.Number] = p
	}
	put := func(p Partition, mk func(img string)) {
		img := filepath.Join(h.dir, fmt.Sprintf("p%d.img", p.Number))
		writeFile(t, img, nil)
		os.Truncate(img, p.Size)
		mk(img)
		run(t, "dd", "if="+img, "of="+a, "bs=1M", "conv=notrunc", "status=none", "seek="+strconv.FormatInt(p.Start, 10), "oflag=seek_bytes")
	}
	src := filepath.Join(h.dir, "src")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "hostname"), []byte("lvmhost\n"), 0o644)
	put(parts[1], func(img string) { run(t, "mkfs.ext4", "-q", "-F", img) })
	put(parts[3], func(img string) { run(t, "mkfs.vfat", "-F", "16", img) })
	put(parts[5], func(img string) { run(t, "mkswap", "-q", img) })

	// LVM on sda6: a root LV at the start of the PV holding an ext4.
	pv := h.attach(a, parts[6].Start, parts[6].Size)
	h.lvm("pvcreate", "-q", pv)
	h.lvm("vgcreate", "-q", "vg0", pv)
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-L", "24m", "-n", "root", "vg0")
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-L", "8m", "-n", "empty", "vg0")
	peStart, _ := strconv.ParseInt(strings.TrimSpace(h.lvm("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", pv)), 10, 64)
	run(t, "losetup", "-d", pv)
	rootImg := filepath.Join(h.dir, "root.img")
	writeFile(t, rootImg, nil)
	os.Truncate(rootImg, 24<<20)
	run(t, "mkfs.ext4", "-q", "-F", "-d", src, rootImg)
	run(t, "dd", "if="+rootImg, "of="+a, "bs=1M", "conv=notrunc", "status=none", "seek="+strconv.FormatInt(parts[6].Start+peStart, 10), "oflag=seek_bytes")
	// sda7 is zeroed so that no stale signature is found there.
	put(parts[7], func(string) {})

	b := filepath.Join(h.dir, "b.img")
	writeFile(t, b, nil)
	os.Truncate(b, 16<<20)
	run(t, "mkfs.ext2", "-q", "-F", b)

	return a, b
}

// TestFilesystemsIncomplete: btrfs (subvolumes) and Windows LDM make the
// answer incomplete, which must be reported so the caller falls back.
func TestFilesystemsIncomplete(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "d.img")
	writeFile(t, img, nil)
	os.Truncate(img, 300<<20)
	run(t, "sgdisk", "-n", "1:2048:+160M", "-n", "2:0:+16M", "-t", "2:E3C9E316-0B5C-4DB8-817D-F92DF00215AE",
		"-n", "3:0:+16M", "-t", "3:AF9B60A0-1431-4F62-BC68-3311714A69AD", img)
	d := openDisksT(t, img)
	p1 := d.Partitions()[0]
	fsimg := filepath.Join(dir, "btrfs.img")
	writeFile(t, fsimg, nil)
	os.Truncate(fsimg, p1.Size)
	run(t, "mkfs.btrfs", "-q", fsimg)
	run(t, "dd", "if="+fsimg, "of="+img, "bs=1M", "conv=notrunc", "status=none", "seek="+strconv.FormatInt(p1.Start, 10), "oflag=seek_bytes")
	d = openDisksT(t, img)
	fss, err := d.Filesystems()
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "btrfs") || !strings.Contains(err.Error(), "LDM") {
		t.Errorf("err = %v", err)
	}
	if len(fss) != 1 || fss[0] != (Filesystem{"/dev/sda1", "btrfs"}) {
		t.Errorf("partial list %v (the reserved and LDM partitions must be skipped)", fss)
	}
}
