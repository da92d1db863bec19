package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// blkidInfo asks the host's libblkid (low-level probe, no cache) about a
// file: the truth Probe must reproduce.
func blkidInfo(t *testing.T, img string) FSInfo {
	out := runIn(t, "", nil, "sh", "-c", "blkid -p -o export "+img+" || true")
	var info FSInfo
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		// export format escapes specials with a backslash
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			b.WriteByte(v[i])
		}
		switch k {
		case "TYPE":
			info.Type = b.String()
		case "LABEL":
			info.Label = b.String()
		case "UUID":
			info.UUID = b.String()
		}
	}
	return info
}

func TestProbeAgainstBlkid(t *testing.T) {
	needTools(t, "blkid", "mkfs.xfs", "mkfs.btrfs", "mkswap", "mkntfs", "genisoimage", "mksquashfs", "cryptsetup", "mkfs.vfat", "mlabel")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "file.txt"), []byte("hello"), 0o644)
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("secret"), 0o600)
	cases := []struct {
		name string
		size int64
		make func(img string)
	}{
		{"empty", 8 << 20, func(string) {}},
		{"ext2", 16 << 20, func(img string) { run(t, "mkfs.ext2", "-q", "-L", "ext2-label", img) }},
		{"ext3", 16 << 20, func(img string) { run(t, "mkfs.ext3", "-q", "-L", "sixteen-chars-ok", img) }},
		{"ext4", 16 << 20, func(img string) { run(t, "mkfs.ext4", "-q", img) }},
		{"ext4-nocsum", 16 << 20, func(img string) { run(t, "mkfs.ext4", "-q", "-O", "^metadata_csum", "-L", "root", img) }},
		{"ext2+extents", 16 << 20, func(img string) { run(t, "mkfs.ext2", "-q", "-O", "extents", img) }},
		{"ext3+huge_file", 16 << 20, func(img string) { run(t, "mkfs.ext3", "-q", "-O", "huge_file", img) }},
		{"xfs", 320 << 20, func(img string) { run(t, "mkfs.xfs", "-q", "-L", "xfslabel", img) }},
		{"xfs-v4", 320 << 20, func(img string) { run(t, "mkfs.xfs", "-q", "-m", "crc=0", "-L", "old", img) }},
		{"btrfs", 128 << 20, func(img string) { run(t, "mkfs.btrfs", "-q", "-L", "my btrfs", img) }},
		{"swap", 16 << 20, func(img string) { run(t, "mkswap", "-L", "swaplabel", img) }},
		{"swap-nolabel", 16 << 20, func(img string) { run(t, "mkswap", img) }},
		{"vfat12", 2 << 20, func(img string) { run(t, "mkfs.vfat", "-F", "12", "-n", "SMALL", img) }},
		{"vfat16", 32 << 20, func(img string) { run(t, "mkfs.vfat", "-F", "16", img) }},
		{"vfat32", 64 << 20, func(img string) { run(t, "mkfs.vfat", "-F", "32", "-n", "EFI", img) }},
		{"vfat-relabel", 64 << 20, func(img string) {
			run(t, "mkfs.vfat", "-F", "32", "-n", "BOOTLABEL", img)
			run(t, "mlabel", "-i", img, "::DIRLABEL")
		}},
		{"ntfs", 32 << 20, func(img string) { run(t, "mkntfs", "-q", "-F", "-Q", "-L", "Windows Disk", img) }},
		{"ntfs-nolabel", 32 << 20, func(img string) { run(t, "mkntfs", "-q", "-F", "-Q", img) }},
		{"iso9660", 0, func(img string) { run(t, "genisoimage", "-quiet", "-V", "CDLABEL", "-o", img, src) }},
		{"iso9660-joliet", 0, func(img string) { run(t, "genisoimage", "-quiet", "-J", "-V", "Mixed Case Label", "-o", img, src) }},
		{"squashfs", 0, func(img string) { run(t, "mksquashfs", src, img, "-quiet", "-noappend") }},
		{"luks2", 32 << 20, func(img string) {
			run(t, "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--label", "crypt", "--pbkdf", "pbkdf2",
				"--pbkdf-force-iterations", "1000", "--key-file", key, img)
		}},
		{"luks1", 32 << 20, func(img string) {
			run(t, "cryptsetup", "luksFormat", "-q", "--type", "luks1", "--pbkdf-force-iterations", "1000", "--key-file", key, img)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".img")
			if c.size > 0 {
				writeFile(t, img, nil)
				os.Truncate(img, c.size)
			}
			c.make(img)
			want := blkidInfo(t, img)
			im := openT(t, img, "raw", false)
			got, err := Probe(im, im.Size())
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if got != want {
				t.Errorf("Probe = %+v\nblkid   %+v", got, want)
			}
		})
	}
}

func TestProbeLVM(t *testing.T) {
	h := newLVMHost(t)
	img := filepath.Join(h.dir, "pv.img")
	writeFile(t, img, nil)
	os.Truncate(img, 16<<20)
	dev := h.attach(img, 0, 0)
	h.lvm("pvcreate", "-q", dev)
	run(t, "losetup", "-d", dev)
	want := blkidInfo(t, img)
	im := openT(t, img, "raw", false)
	got, err := Probe(im, im.Size())
	if err != nil || got != want || want.Type != "LVM2_member" {
		t.Errorf("Probe = %+v, %v; blkid %+v", got, err, want)
	}
}
