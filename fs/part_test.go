package fs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sfdiskTruth is what `sfdisk -J` says about an image: the kernel-style
// numbering comes from the node names (image1, image5 ...).
type sfdiskTruth struct {
	PartitionTable struct {
		Label      string `json:"label"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
			Boot  bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func sfdiskJSON(t *testing.T, img string) sfdiskTruth {
	var s sfdiskTruth
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "-J", img)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func openDisksT(t *testing.T, paths ...string) *Disks {
	t.Helper()
	var imgs []Image
	for _, p := range paths {
		imgs = append(imgs, openT(t, p, "", false))
	}
	d, err := OpenDisks(imgs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// comparePartitions checks our partitions of /dev/sda against sfdisk.
func comparePartitions(t *testing.T, d *Disks, img string) {
	t.Helper()
	truth := sfdiskJSON(t, img)
	parts := d.Partitions()
	if len(parts) != len(truth.PartitionTable.Partitions) {
		t.Fatalf("got %d partitions %+v, sfdisk shows %d", len(parts), parts, len(truth.PartitionTable.Partitions))
	}
	if tab := d.PartitionTable("/dev/sda"); tab != truth.PartitionTable.Label && !(tab == "msdos" && truth.PartitionTable.Label == "dos") {
		t.Errorf("table %q, sfdisk %q", tab, truth.PartitionTable.Label)
	}
	for i, tp := range truth.PartitionTable.Partitions {
		p := parts[i]
		num, _ := strconv.Atoi(strings.TrimPrefix(tp.Node, img))
		if p.Number != num || p.Name != fmt.Sprintf("/dev/sda%d", num) || p.Device != "/dev/sda" {
			t.Errorf("partition %d: got %s number %d, sfdisk node %s", i, p.Name, p.Number, tp.Node)
		}
		if p.Start != tp.Start*512 || p.Size != tp.Size*512 || p.End != p.Start+p.Size-1 {
			t.Errorf("%s: start %d size %d end %d; sfdisk start %d size %d", p.Name, p.Start, p.Size, p.End, tp.Start*512, tp.Size*512)
		}
		if p.Table == "msdos" {
			if fmt.Sprintf("%x", p.MBRType) != tp.Type || p.Bootable != tp.Boot {
				t.Errorf("%s: type %x boot %v; sfdisk %s %v", p.Name, p.MBRType, p.Bootable, tp.Type, tp.Boot)
			}
			if p.Extended != (tp.Type == "5" || tp.Type == "f" || tp.Type == "85") || p.Logical != (num >= 5) {
				t.Errorf("%s: extended %v logical %v", p.Name, p.Extended, p.Logical)
			}
		} else if p.GPTType != tp.Type || p.GPTGUID != tp.UUID || p.GPTName != tp.Name {
			t.Errorf("%s: gpt %s %s %q; sfdisk %s %s %q", p.Name, p.GPTType, p.GPTGUID, p.GPTName, tp.Type, tp.UUID, tp.Name)
		}
	}
}

func TestMBRLogical(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "mbr.img")
	if err := os.Truncate(img, 0); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	writeFile(t, img, nil)
	os.Truncate(img, 128<<20)
	runIn(t, "", []byte(`label: dos
start=2048, size=16M, type=83, bootable
size=8M, type=c
size=80M, type=f
size=8M, type=83
size=4M, type=82
size=4M, type=8e
size=6M, type=7
`), "sfdisk", "-q", img)
	d := openDisksT(t, img)
	comparePartitions(t, d, img)
	if got := len(d.Partitions()); got != 7 {
		t.Fatalf("%d partitions, want 7 (4 primary incl. extended + 3 logical)", got)
	}
	// The extended container is a 1 KiB device, like the kernel's.
	if _, size, err := d.Device("/dev/sda3"); err != nil || size != 1024 {
		t.Errorf("extended /dev/sda3: size %d err %v", size, err)
	}
	// Logical partition data comes from the right place.
	r, size, err := d.Device("/dev/vda6") // alias of /dev/sda6
	if err != nil || size != 4<<20 {
		t.Fatalf("/dev/vda6: size %d err %v", size, err)
	}
	var p6 Partition
	for _, p := range d.Partitions() {
		if p.Name == "/dev/sda6" {
			p6 = p
		}
	}
	buf := make([]byte, 512)
	raw, _ := os.ReadFile(img)
	copy(raw[p6.Start+512:], "hello from sda6")
	writeFile(t, img, raw)
	if _, err := r.ReadAt(buf, 512); err != nil || !strings.HasPrefix(string(buf), "hello from sda6") {
		t.Errorf("reading /dev/sda6 at 512: %q %v", buf[:20], err)
	}
	if _, _, err := d.Device("/dev/sda9"); err == nil {
		t.Errorf("/dev/sda9 exists")
	}
}

// TestMBRHostileEBR: EBR chains that loop or run on forever terminate.
func TestMBRHostileEBR(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "loop.img")
	writeFile(t, img, nil)
	os.Truncate(img, 64<<20)
	runIn(t, "", []byte("label: dos\nstart=2048, size=60M, type=5\nstart=4096, size=4M, type=83\nstart=16384, size=4M, type=83\n"), "sfdisk", "-q", img)
	raw, _ := os.ReadFile(img)
	// Point the second EBR's link back at the first EBR (offset 0 in the
	// extended partition): a loop.
	ext := int64(2048 * 512)
	first := raw[ext : ext+512]
	linkLBA := int64(le32(first[0x1be+16+8:]))
	second := raw[ext+linkLBA*512:]
	copy(second[0x1be+16:0x1be+32], first[0x1be+16:0x1be+32])
	putLE32(second[0x1be+16+8:], 0)
	writeFile(t, img, raw)
	d := openDisksT(t, img)
	if n := len(d.Partitions()); n != 3 {
		t.Errorf("looping EBR chain: %d partitions %+v, want 3", n, d.Partitions())
	}
}

func TestGPT(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "gpt.img")
	writeFile(t, img, nil)
	os.Truncate(img, 64<<20)
	run(t, "sgdisk",
		"-n", "1:2048:+8M", "-t", "1:EF00", "-c", "1:EFI System",
		"-n", "3:0:+16M", "-t", "3:8300", "-c", "3:root fs ünïcode",
		"-n", "4:0:+4M", "-t", "4:8E00",
		"-n", "7:0:+4M", "-t", "7:0C01", // Microsoft reserved
		img)
	d := openDisksT(t, img)
	comparePartitions(t, d, img)
	nums := []int{}
	for _, p := range d.Partitions() {
		nums = append(nums, p.Number)
	}
	if fmt.Sprint(nums) != "[1 3 4 7]" {
		t.Errorf("GPT numbering %v, want [1 3 4 7] (entry index + 1)", nums)
	}

	// Primary header destroyed: the backup at the end of the disk is used.
	raw, _ := os.ReadFile(img)
	clear(raw[512:1024])
	writeFile(t, img, raw)
	d = openDisksT(t, img)
	if n := len(d.Partitions()); n != 4 {
		t.Errorf("with only the backup GPT: %d partitions", n)
	}
	// Both destroyed: no partitions (and the protective MBR entry is not
	// shown as a partition either).
	clear(raw[len(raw)-512:])
	writeFile(t, img, raw)
	d = openDisksT(t, img)
	if n := len(d.Partitions()); n != 0 {
		t.Errorf("with no valid GPT: %d partitions %+v", n, d.Partitions())
	}
}

func TestDriveNames(t *testing.T) {
	for i, want := range map[int]string{0: "sda", 25: "sdz", 26: "sdaa", 27: "sdab", 701: "sdzz", 702: "sdaaa"} {
		if got := driveName(i); got != want {
			t.Errorf("driveName(%d) = %s, want %s", i, got, want)
		}
	}
	for s, want := range map[string][2]string{"vg-lv": {"vg", "lv"}, "my--vg-lv--1": {"my-vg", "lv-1"}, "a---b": {"a-", "b"}} {
		vg, lv, ok := SplitMapperName(s)
		if !ok || vg != want[0] || lv != want[1] {
			t.Errorf("SplitMapperName(%q) = %q %q %v", s, vg, lv, ok)
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
