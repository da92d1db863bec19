package fs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// lvmHost runs the host's LVM tools against loop devices of test images.
// The host kernel has no device-mapper, so activation is disabled: the
// tools still write real on-disk labels and metadata, which is what the
// reader consumes. A private LVM_SYSTEM_DIR keeps /etc/lvm untouched and
// a filter keeps LVM away from every other device.
type lvmHost struct {
	t     *testing.T
	dir   string
	loops map[string]string // loop device -> image file
	offs  map[string]int64  // loop device -> offset in the image file
}

func newLVMHost(t *testing.T) *lvmHost {
	needTools(t, "lvm", "losetup")
	if os.Geteuid() != 0 {
		t.Fatalf("LVM tests need root (loop devices)")
	}
	h := &lvmHost{t: t, dir: t.TempDir(), loops: map[string]string{}, offs: map[string]int64{}}
	return h
}

// attach makes a loop device for [off, off+size) of file.
func (h *lvmHost) attach(file string, off, size int64) string {
	args := []string{"-f", "--show", "-o", strconv.FormatInt(off, 10)}
	if size > 0 {
		args = append(args, "--sizelimit", strconv.FormatInt(size, 10))
	}
	dev := strings.TrimSpace(run(h.t, "losetup", append(args, file)...))
	h.t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	h.loops[dev], h.offs[dev] = file, off
	var filter []string
	for d := range h.loops {
		filter = append(filter, fmt.Sprintf(`"a|^%s$|"`, d))
	}
	conf := fmt.Sprintf(`global { activation = 0 }
devices { use_devicesfile = 0 obtain_device_list_from_udev = 0 hints = "none" filter = [ %s, "r|.*|" ] }
backup { backup = 0 archive = 0 }
`, strings.Join(filter, ", "))
	writeFile(h.t, filepath.Join(h.dir, "lvm.conf"), []byte(conf))
	return dev
}

func (h *lvmHost) lvm(args ...string) string {
	h.t.Helper()
	cmd := exec.Command("lvm", args...)
	cmd.Env = append(os.Environ(), "LVM_SYSTEM_DIR="+h.dir, "LVM_SUPPRESS_FD_WARNINGS=1", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("lvm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if !strings.Contains(l, "WARNING") && strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestLVMRealTools: a VG made by the real LVM tools over a partition of
// one disk and the whole of another, with linear, spanning and striped
// LVs (names with dashes) and an "error" LV the reader must refuse. The
// expected LV contents are computed from the PVs' bytes using the extent
// maps `lvs` reports.
func TestLVMRealTools(t *testing.T) {
	h := newLVMHost(t)
	a := filepath.Join(h.dir, "a.img")
	b := filepath.Join(h.dir, "b.img")
	writeFile(t, a, patterned(11, 48<<20))
	writeFile(t, b, patterned(12, 32<<20))
	runIn(t, "", []byte("label: dos\nstart=2048, type=8e\n"), "sfdisk", "-q", a)
	pa := h.attach(a, 1<<20, 47<<20)
	pb := h.attach(b, 0, 0)
	h.lvm("pvcreate", "-q", pa, pb)
	h.lvm("vgcreate", "-q", "-s", "1m", "vg-test", pa, pb)
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-L", "8m", "-n", "root", "vg-test", pa)
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-i", "2", "-I", "64k", "-L", "8m", "-n", "striped", "vg-test")
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-L", "40m", "-n", "span-lv", "vg-test")
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-l", "100%FREE", "-n", "rest", "vg-test")
	h.lvm("lvremove", "-q", "-f", "vg-test/root") // leaves a hole: later LVs keep their places
	h.lvm("lvcreate", "-q", "-an", "-Zn", "-L", "2m", "-n", "small", "vg-test", pa)

	// An LV of a type the reader must refuse, via a metadata restore.
	backup := filepath.Join(h.dir, "vg.txt")
	h.lvm("vgcfgbackup", "-q", "-f", backup, "vg-test")
	txt, _ := os.ReadFile(backup)
	i := bytes.Index(txt, []byte("logical_volumes {")) + len("logical_volumes {")
	txt = append(txt[:i:i], append([]byte(`
errlv {
id = "aaaaaa-bbbb-cccc-dddd-eeee-ffff-gggggg"
status = ["READ", "WRITE", "VISIBLE"]
flags = []
segment_count = 1
segment1 {
start_extent = 0
extent_count = 1
type = "error"
}
}
`), txt[i:]...)...)
	writeFile(t, backup, txt)
	h.lvm("vgcfgrestore", "-q", "-f", backup, "--force", "vg-test")

	// Truth from the tools.
	pvOut := h.lvm("pvs", "--noheadings", "--separator", ";", "--units", "b", "--nosuffix", "-o", "pv_name,pe_start,pv_uuid")
	peStart := map[string]int64{}
	pvUUID := map[string]string{}
	for _, l := range strings.Split(pvOut, "\n") {
		f := strings.Split(strings.TrimSpace(l), ";")
		peStart[f[0]], _ = strconv.ParseInt(f[1], 10, 64)
		pvUUID[f[0]] = f[2]
	}
	lvOut := h.lvm("lvs", "--noheadings", "--separator", ";", "--units", "b", "--nosuffix",
		"-o", "lv_name,segtype,seg_start_pe,seg_size_pe,seg_pe_ranges,stripes,stripe_size,vg_extent_size", "vg-test")
	images := map[string][]byte{}
	for dev, file := range h.loops {
		images[dev], _ = os.ReadFile(file)
	}
	want := map[string][]byte{}
	for _, l := range strings.Split(lvOut, "\n") {
		f := strings.Split(strings.TrimSpace(l), ";")
		name, segtype := f[0], f[1]
		if segtype == "error" {
			continue
		}
		ext, _ := strconv.ParseInt(f[7], 10, 64)
		stripeSize, _ := strconv.ParseInt(f[6], 10, 64)
		var stripes [][]byte // each stripe's bytes, in order
		for _, rng := range strings.Fields(f[4]) {
			dev, pes, _ := strings.Cut(rng, ":")
			from, to, _ := strings.Cut(pes, "-")
			lo, _ := strconv.ParseInt(from, 10, 64)
			hi, _ := strconv.ParseInt(to, 10, 64)
			base := h.offs[dev] + peStart[dev]
			stripes = append(stripes, images[dev][base+lo*ext:base+(hi+1)*ext])
		}
		if len(stripes) == 1 {
			want[name] = append(want[name], stripes[0]...)
			continue
		}
		total := len(stripes) * len(stripes[0])
		for off := 0; off < total; off += int(stripeSize) {
			chunk := off / int(stripeSize)
			s := stripes[chunk%len(stripes)]
			row := chunk / len(stripes)
			want[name] = append(want[name], s[row*int(stripeSize):(row+1)*int(stripeSize)]...)
		}
	}
	for dev := range h.loops {
		run(t, "losetup", "-d", dev)
	}

	d := openDisksT(t, a, b)
	pvs := d.PVs()
	if len(pvs) != 2 || pvs[0].Device != "/dev/sda1" || pvs[1].Device != "/dev/sdb" ||
		pvs[0].UUID != pvUUID[pa] || pvs[1].UUID != pvUUID[pb] || pvs[0].VG != "vg-test" {
		t.Errorf("PVs %+v; want /dev/sda1 %s, /dev/sdb %s in vg-test", pvs, pvUUID[pa], pvUUID[pb])
	}
	var names []string
	for _, lv := range d.LVs() {
		names = append(names, lv.Name)
		r, size, err := d.Device(lv.Name)
		if err != nil {
			t.Fatalf("%s: %v", lv.Name, err)
		}
		w := want[lv.LV]
		if size != int64(len(w)) || lv.Size != size {
			t.Fatalf("%s: size %d, lvs says %d", lv.Name, size, len(w))
		}
		got := make([]byte, size)
		if _, err := r.ReadAt(got, 0); err != nil {
			t.Fatalf("%s: %v", lv.Name, err)
		}
		if i := firstDiff(got, w); i >= 0 {
			t.Errorf("%s: content differs at %d", lv.Name, i)
		}
		if r2, _, err := d.Device(lv.MapperName()); err != nil || r2 != r {
			t.Errorf("%s: %v", lv.MapperName(), err)
		}
	}
	if fmt.Sprint(names) != "[/dev/vg-test/rest /dev/vg-test/small /dev/vg-test/span-lv /dev/vg-test/striped]" {
		t.Errorf("LVs %v", names)
	}
	if _, _, err := d.Device("/dev/mapper/vg--test-span--lv"); err != nil {
		t.Errorf("mapper name: %v", err)
	}
	un := d.Unsupported()
	if len(un) != 1 || !errors.Is(un[0], ErrUnsupported) || !strings.Contains(un[0].Error(), "/dev/vg-test/errlv") {
		t.Errorf("Unsupported() = %v; want the error LV", un)
	}
	if _, _, err := d.Device("/dev/vg-test/errlv"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Device(errlv) = %v; want ErrUnsupported", err)
	}
	vgs := d.VGs()
	if len(vgs) != 1 || vgs[0].Name != "vg-test" || vgs[0].ExtentSize != 1<<20 || len(vgs[0].PVs) != 2 {
		t.Errorf("VGs %+v", vgs)
	}
}

// A metadata text in the shape LVM writes, for the segment types that
// need device-mapper to create (so cannot be made on this host).
const lvmSampleText = `# Generated by LVM2
contents = "Text Format Volume Group"
version = 1

vg0 {
	id = "W4Q87Y-O4pp-BUBp-HmfP-3StF-blfa-2VAi2E"
	seqno = 7
	format = "lvm2"
	status = ["RESIZEABLE", "READ", "WRITE"]
	flags = []
	extent_size = 8192	# 4 Megabytes
	max_lv = 0
	max_pv = 0
	metadata_copies = 0

	physical_volumes {
		pv0 {
			id = "tefkqU-pNbL-ZkHH-1TJi-2PzX-4jDc-ihJ45D"
			device = "/dev/sda2"
			status = ["ALLOCATABLE"]
			flags = []
			dev_size = 131072
			pe_start = 2048
			pe_count = 15
		}
	}

	logical_volumes {
		origin {
			id = "1"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			creation_time = 1700000000	# 2023-11-14
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 2
				type = "striped"
				stripe_count = 1	# linear
				stripes = [
					"pv0", 0
				]
			}
		}
		snap {
			id = "2"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = ["pv0", 2]
			}
		}
		snapshot0 {
			id = "3"
			status = ["READ"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 2
				type = "snapshot"
				chunk_size = 8
				origin = "origin"
				cow_store = "snap"
			}
		}
		thin {
			id = "4"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 1
				type = "thin"
				thin_pool = "pool"
				device_id = 1
			}
		}
		hidden {
			id = "5"
			status = ["READ", "WRITE"]
			flags = []
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = ["pv0", 3]
			}
		}
		"skipped" {
			id = "6"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = ["ACTIVATION_SKIP"]
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 1
				type = "striped"
				stripe_count = 1
				stripes = ["pv0", 4]
			}
		}
	}
}
`

func TestLVMSegmentTypes(t *testing.T) {
	root, err := parseLVMConfig(lvmSampleText)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := root.str("contents"); v != "Text Format Volume Group" {
		t.Errorf("contents = %q", v)
	}
	dev := blockDev{name: "/dev/sda2", r: bytes.NewReader(make([]byte, 64<<20)), size: 64 << 20}
	byUUID := map[string]*pvDev{"tefkqUpNbLZkHH1TJi2PzX4jDcihJ45D": {dev: dev}}
	s := &lvmState{readers: map[string]*lvReader{}, badLVs: map[string]error{}}
	s.buildVG(root.section("vg0"), byUUID, map[string]string{})
	var names []string
	for _, lv := range s.lvs {
		names = append(names, lv.Name)
	}
	if fmt.Sprint(names) != "[/dev/vg0/origin]" {
		t.Errorf("LVs %v; want only the snapshot origin", names)
	}
	for _, bad := range []string{"/dev/vg0/snap", "/dev/vg0/thin"} {
		if err := s.badLVs[bad]; !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v; want ErrUnsupported", bad, err)
		}
	}
	if len(s.problems) != 2 {
		t.Errorf("problems %v", s.problems)
	}
}

func TestLVMConfigErrors(t *testing.T) {
	for _, text := range []string{
		`a {`, `a }`, `a = `, `a = [1, 2`, `a = "x`, `a = [[1]]`, `= 1`, `a b`,
		strings.Repeat("a {", 100) + strings.Repeat("}", 100),
	} {
		if _, err := parseLVMConfig(text); err == nil {
			t.Errorf("parseLVMConfig(%q) succeeded", text)
		}
	}
	root, err := parseLVMConfig(`x = "a\"b\\c" # comment
n = -12
arr = [ "A", 2 ]
empty = []
sec { inner { k = 0x10 } }`)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := root.str("x"); v != `a"b\c` {
		t.Errorf("x = %q", v)
	}
	if v, _ := root.int("n"); v != -12 {
		t.Errorf("n = %d", v)
	}
	if v := root.values["arr"]; len(v.arr) != 2 || v.arr[0].str != "A" || v.arr[1].num != 2 {
		t.Errorf("arr = %+v", v)
	}
	if v, _ := root.section("sec").section("inner").int("k"); v != 16 {
		t.Errorf("k = %d", v)
	}
}
