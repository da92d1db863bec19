package inspect

import (
	"context"
	"os"

	"gfs/appliance/api"
	"reflect"
	"strings"
	"testing"
)

// testdata/rpmdb.sqlite was written by rpm 4.18 (sqlite backend);
// testdata/Packages holds the same headers in a BerkeleyDB hash file
// written by db_load (BerkeleyDB 5.3), which rpm's bdb_ro backend reads
// back. See testdata/README.
func rpmFixtureApps(t *testing.T, blobs [][]byte) []Application {
	t.Helper()
	var apps []Application
	for _, b := range blobs {
		if a, ok := rpmHeaderApp(b); ok {
			apps = append(apps, a)
		}
	}
	return apps
}

func TestRPMDatabases(t *testing.T) {
	sq, err := os.ReadFile("testdata/rpmdb.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := sqliteTableBlobs(sq, "Packages", 1)
	if err != nil {
		t.Fatal(err)
	}
	fromSQLite := rpmFixtureApps(t, blobs)
	bdb, err := os.ReadFile("testdata/Packages")
	if err != nil {
		t.Fatal(err)
	}
	blobs, err = bdbHashValues(bdb)
	if err != nil {
		t.Fatal(err)
	}
	fromBDB := rpmFixtureApps(t, blobs)
	sortApps(fromSQLite)
	sortApps(fromBDB)
	if len(fromSQLite) != 3 || !reflect.DeepEqual(fromSQLite, fromBDB) {
		t.Fatalf("sqlite %+v\nbdb %+v", fromSQLite, fromBDB)
	}
	want := Application{Name: "hello-gfs", Epoch: 2, Version: "2.12", Release: "3.el8", Arch: "x86_64",
		URL: "https://example.org/hello", Summary: "A friendly greeting", Description: "Prints a greeting.\nSecond line of the description."}
	if fromSQLite[0] != want {
		t.Errorf("got %+v", fromSQLite[0])
	}
	if d := fromSQLite[1].Description; strings.Count(d, "\n") != 149 {
		t.Errorf("long description has %d lines (overflow pages)", strings.Count(d, "\n")+1)
	}
	// Truncated and corrupted databases fail cleanly.
	for _, n := range []int{100, 4096, len(sq) / 2} {
		if _, err := sqliteTableBlobs(sq[:n], "Packages", 1); err == nil && n < 8192 {
			t.Errorf("truncated sqlite (%d bytes) accepted", n)
		}
		bdbHashValues(bdb[:min(n, len(bdb))])
	}
}

func sortApps(a []Application) {
	for i := range a {
		for j := i + 1; j < len(a); j++ {
			if a[j].Name < a[i].Name {
				a[i], a[j] = a[j], a[i]
			}
		}
	}
}

func TestDpkgStatus(t *testing.T) {
	apps := parseDpkgStatus([]byte("Package: a\nStatus: install ok installed\nVersion: 1:2.0-3\nArchitecture: all\nDescription: short\n long\n .\n more\n\n" +
		"Package: b\nStatus: install ok not-installed\nVersion: 1\n\nPackage: c\nStatus: install ok installed\nVersion: x:1\n\n" +
		"Package: d\nStatus: hold ok installed\nVersion: 4.5\n"))
	want := []Application{
		{Name: "a", Epoch: 1, Version: "2.0", Release: "3", Arch: "all", Summary: "short", Description: "long\n.\nmore"},
		{Name: "d", Version: "4.5"},
	}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("got %+v", apps)
	}
}

func TestPacmanDesc(t *testing.T) {
	a, ok := parsePacmanDesc([]byte("%NAME%\nlinux\n\n%VERSION%\n1:6.5.9.arch2-1\n\n%DESC%\nThe Linux kernel\n\n%ARCH%\nx86_64\n\n%URL%\nhttps://kernel.org\n"))
	want := Application{Name: "linux", Epoch: 1, Version: "6.5.9.arch2", Release: "1", Arch: "x86_64", URL: "https://kernel.org", Description: "The Linux kernel"}
	if !ok || a != want {
		t.Errorf("got %+v", a)
	}
	if _, ok := parsePacmanDesc([]byte("%NAME%\nx\n\n%VERSION%\n1.0\n\n%ARCH%\nany\n")); ok {
		t.Error("a version without a release was accepted")
	}
}

func TestOSRelease(t *testing.T) {
	cases := []struct {
		body, distro, product string
		major, minor          int
		done                  bool
	}{
		{"ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n", "debian", "Debian GNU/Linux 12 (bookworm)", 12, 0, false},
		{"ID=\"rhel\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.2 (Plow)\"\nVERSION_ID=\"9.2\"\n", "rhel", "Red Hat Enterprise Linux 9.2 (Plow)", 9, 2, true},
		{"ID=arch\nPRETTY_NAME=\"Arch Linux\"\n", "archlinux", "Arch Linux", 0, 0, true},
		{"ID=opensuse-leap\nPRETTY_NAME='openSUSE Leap 15.5'\nVERSION_ID=\"15.5\"\n", "opensuse", "openSUSE Leap 15.5", 15, 5, true},
		{"ID=nixos\nPRETTY_NAME=\"NixOS\"\nVERSION_ID=\"23.05\"\n", "", "NixOS", 23, 5, false},
		{"ID=fedora\nPRETTY_NAME=\"Fedora \\\"Linux\\\" 38\"\nVERSION_ID=38\n", "fedora", `Fedora "Linux" 38`, 38, 0, true},
	}
	for _, c := range cases {
		v := &fsView{ctx: nil, t: memTree{"/etc/os-release": c.body}}
		d := &data{}
		done := parseOSRelease(v, d, "/etc/os-release")
		if done != c.done || d.distro != c.distro || d.productName != c.product || d.major != c.major || d.minor != c.minor {
			t.Errorf("%q: done=%v %+v", c.body, done, d)
		}
	}
}

func TestFstabResolution(t *testing.T) {
	r := &resolver{
		layout: Layout{Devices: []string{"/dev/sda", "/dev/sdb"},
			Partitions: []Partition{{Name: "/dev/sda1"}, {Name: "/dev/sda2"}, {Name: "/dev/sdb1"}},
			LVs:        []string{"/dev/vg-x/lv--y", "/dev/VG/root"}},
		fss: []Filesystem{{Device: "/dev/sda1", Type: "ext4", UUID: "aaaa-bbbb", Label: "BOOT", PartUUID: "1234abcd-01"},
			{Device: "/dev/sdb1", Type: "btrfs", UUID: "cafe"}, {Device: "btrfsvol:/dev/sdb1/root", Type: "btrfs", UUID: "cafe"}},
	}
	root := Filesystem{Device: "/dev/VG/root"}
	for _, c := range []struct{ spec, mp, typ, opts, dev, wantMP string }{
		{"UUID=AAAA-BBBB", "/boot", "ext4", "", "/dev/sda1", "/boot"},
		{`LABEL="BOOT"`, "//boot//", "ext4", "", "/dev/sda1", "/boot"},
		{"PARTUUID=1234ABCD-01", "/x", "ext4", "", "/dev/sda1", "/x"},
		{"/dev/mapper/vg--x-lv----y", "/srv", "ext4", "", "/dev/vg-x/lv--y", "/srv"},
		{"/dev/mapper/nosuch-lv", "/srv", "ext4", "", "/dev/mapper/nosuch-lv", "/srv"},
		{"/dev/vda2", "/a", "ext4", "", "/dev/sda2", "/a"},
		{"/dev/xvdb1", "/b", "ext4", "", "/dev/sdb1", "/b"},
		{"/dev/vdc1", "/c", "ext4", "", "/dev/sdc1", "/c"},
		{"/dev/root", "/", "ext4", "", "/dev/VG/root", "/"},
		{"UUID=cafe", "/", "btrfs", "rw,subvol=/root,compress=zstd", "btrfsvol:/dev/sdb1//root", "/"},
		{"UUID=cafe", "/r", "btrfs", "subvol=root", "btrfsvol:/dev/sdb1/root", "/r"},
		{"UUID=cafe", "/top", "btrfs", "rw", "/dev/sdb1", "/top"},
		{"UUID=dead", "/gone", "ext4", "", "", ""},
		{"tmpfs", "/tmp", "tmpfs", "", "", ""},
		{"/dev/sda2", "/proc/x", "ext4", "", "", ""},
		{"/dev/cdrom", "/mnt", "iso9660", "", "", ""},
		{"/dev/sda2", "/media/usb", "ext4", "", "", ""},
		{"/dev/sda2", "/media", "ext4", "", "/dev/sda2", "/media"},
		{"UUID=aaaa-bbbb", "none", "swap", "sw", "/dev/sda1", "none"},
	} {
		e, ok := r.fstabEntry(c.spec, c.mp, c.typ, c.opts, root, "linux")
		if c.dev == "" {
			if ok {
				t.Errorf("%s %s: kept as %+v", c.spec, c.mp, e)
			}
			continue
		}
		if !ok || e.mountable != c.dev || e.mountpoint != c.wantMP {
			t.Errorf("%s %s: got %+v %v, want %s %s", c.spec, c.mp, e, ok, c.dev, c.wantMP)
		}
	}
}

func TestBinaryArch(t *testing.T) {
	b, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	if a := binaryArch(b[:4096]); a != "x86_64" {
		t.Errorf("/bin/ls: %q", a)
	}
	elf := func(class, data byte, machine uint16) []byte {
		h := make([]byte, 64)
		copy(h, "\x7fELF")
		h[4], h[5] = class, data
		if data == 1 {
			h[18], h[19] = byte(machine), byte(machine>>8)
		} else {
			h[18], h[19] = byte(machine>>8), byte(machine)
		}
		return h
	}
	for _, c := range []struct {
		b    []byte
		want string
	}{
		{elf(1, 1, 3), "i386"}, {elf(2, 1, 183), "aarch64"}, {elf(2, 1, 21), "ppc64le"}, {elf(2, 2, 21), "ppc64"},
		{elf(2, 2, 22), "s390x"}, {elf(2, 1, 243), "riscv64"}, {elf(1, 1, 40), "arm"}, {[]byte("\x7fELF"), ""}, {nil, ""},
	} {
		if a := binaryArch(c.b); a != c.want {
			t.Errorf("%v: %q, want %q", c.b[:min(len(c.b), 20)], a, c.want)
		}
	}
	pe := make([]byte, 512)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00\x64\x86")
	if a := binaryArch(pe); a != "x86_64" {
		t.Errorf("PE32+: %q", a)
	}
}

func TestOSInfo(t *testing.T) {
	for _, c := range []struct {
		o    OS
		want string
	}{
		{OS{Type: "linux", Distro: "debian", MajorVersion: 12, MinorVersion: 5}, "debian12"},
		{OS{Type: "linux", Distro: "ubuntu", MajorVersion: 22, MinorVersion: 4}, "ubuntu22.04"},
		{OS{Type: "linux", Distro: "rhel", MajorVersion: 8, MinorVersion: 6}, "rhel8.6"},
		{OS{Type: "linux", Distro: "centos", MajorVersion: 7, MinorVersion: 9}, "centos7.0"},
		{OS{Type: "linux", Distro: "archlinux"}, "archlinux"},
		{OS{Type: "linux", Distro: "unknown"}, "unknown"},
		{OS{Type: "windows", MajorVersion: 6, MinorVersion: 1, ProductVariant: "Server"}, "win2k8r2"},
		{OS{Type: "windows", MajorVersion: 10, ProductVariant: "Client", BuildID: "22621"}, "win11"},
		{OS{Type: "windows", MajorVersion: 10, ProductVariant: "Server", ProductName: "Windows Server 2022 Standard"}, "win2k22"},
	} {
		if got := osinfo(c.o); got != c.want {
			t.Errorf("%+v: %s, want %s", c.o, got, c.want)
		}
	}
}

func TestXMLEscaping(t *testing.T) {
	var b strings.Builder
	WriteXML(&b, []OS{{Root: "/dev/sda", Type: "linux", Hostname: "a<b>&\x01c\xff", Mountpoints: []Mountpoint{{`/dev/"x"`, "/"}},
		Filesystems: []Filesystem{{Device: "/dev/sda"}}}}, false)
	s := b.String()
	for _, want := range []string{"<hostname>a&lt;b&gt;&amp;c\uFFFD</hostname>", `<mountpoint dev="/dev/&quot;x&quot;">/</mountpoint>`, `<filesystem dev="/dev/sda"/>`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in\n%s", want, s)
		}
	}
	if strings.Contains(s, "<applications") {
		t.Error("applications printed with --no-applications")
	}
}

func TestCommand(t *testing.T) {
	oses := []OS{{Root: "/dev/sda2", Type: "linux", MajorVersion: 12, Mountpoints: []Mountpoint{{"/dev/sda2", "/"}},
		Filesystems: []Filesystem{{Device: "/dev/sda2"}}, Applications: []Application{{Name: "bash", Epoch: 1}}}}
	if _, err := Command("inspect-get-type", nil, []string{"/dev/sda2"}); err != ErrNotInspected {
		t.Errorf("before inspect-os: %v", err)
	}
	for _, c := range []struct {
		name string
		want any
	}{
		{"inspect-os", []string{"/dev/sda2"}}, {"inspect-get-type", "linux"}, {"inspect-get-major-version", 12},
		{"inspect-get-mountpoints", [][2]string{{"/", "/dev/sda2"}}}, {"inspect-get-filesystems", []string{"/dev/sda2"}},
	} {
		got, err := Command(c.name, oses, []string{"/dev/vda2"})
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v %v", c.name, got, err)
		}
	}
	apps, _ := Command("inspect-list-applications2", oses, []string{"/dev/sda2"})
	if a := apps.([]api.Application2); len(a) != 1 || a[0].Name != "bash" || a[0].Epoch != 1 {
		t.Errorf("applications %+v", apps)
	}
	if _, err := Command("inspect-get-type", oses, []string{"/dev/sdb1"}); err == nil || !strings.Contains(err.Error(), "root device not found") {
		t.Errorf("unknown root: %v", err)
	}
}

func TestRegistryHives(t *testing.T) {
	sw, err := os.ReadFile("testdata/windows-software")
	if err != nil {
		t.Fatal(err)
	}
	h, err := openHive(sw)
	if err != nil {
		t.Fatal(err)
	}
	d := &data{}
	windowsSoftware(h, d)
	if d.productName != "Windows Server 2022 Standard" || d.major != 10 || d.minor != 0 || d.productVariant != "Server" || d.buildID != "20348" {
		t.Errorf("SOFTWARE: %+v", d)
	}
	sys, err := os.ReadFile("testdata/windows-system")
	if err != nil {
		t.Fatal(err)
	}
	hs, err := openHive(sys)
	if err != nil {
		t.Fatal(err)
	}
	r := &resolver{layout: Layout{Devices: []string{"/dev/sda"}, Partitions: []Partition{{Name: "/dev/sda1", Device: "/dev/sda", Start: 1 << 20}},
		MBRSignatures: map[string][4]byte{"/dev/sda": {0x78, 0x56, 0x34, 0x12}}}}
	windowsSystem(hs, d, r)
	if d.controlSet != "ControlSet001" || d.hostname != "WIN-GFS" || !reflect.DeepEqual(d.driveMappings, []DriveMapping{{"C", "/dev/sda1"}}) {
		t.Errorf("SYSTEM: %+v", d)
	}
	// Corrupt hives never panic.
	for i := 0; i < len(sw); i += 97 {
		b := append([]byte(nil), sw...)
		b[i] ^= 0xff
		if h, err := openHive(b); err == nil {
			windowsSoftware(h, &data{})
			h.children(h.root)
		}
	}
	if _, err := openHive(sw[:100]); err == nil {
		t.Error("truncated hive accepted")
	}
}

// A root whose /usr is a separate filesystem (os-release and binaries
// under /usr) takes what it lacks from it; its own values win.
func TestSeparateUsr(t *testing.T) {
	root := memTree{"/etc/fstab": "/dev/sda1 / ext4 defaults 0 1\n/dev/sda2 /usr ext4 defaults 0 2\n", "/etc/hostname": "split\n",
		"/bin": "->usr/bin", "/etc/os-release": "->../usr/lib/os-release"}
	usr := memTree{"/etc/x": "", "/bin/ls": hostLsHead(t), "/share/x": "", "/local/x": "",
		"/lib/os-release": "ID=fedora\nPRETTY_NAME=\"Fedora Linux 39\"\nVERSION_ID=39\n"}
	src := &memSource{fss: []Filesystem{{Device: "/dev/sda1", Type: "ext4"}, {Device: "/dev/sda2", Type: "ext4"}},
		trees: map[string]memTree{"/dev/sda1": root, "/dev/sda2": usr}}
	oses, err := Inspect(context.Background(), src, Options{})
	if err != nil || len(oses) != 1 {
		t.Fatalf("%v %+v", err, oses)
	}
	o := oses[0]
	if o.Distro != "fedora" || o.ProductName != "Fedora Linux 39" || o.MajorVersion != 39 || o.Hostname != "split" || o.Arch != "x86_64" ||
		o.PackageFormat != "rpm" || len(o.Mountpoints) != 2 || o.Mountpoints[1] != (Mountpoint{"/dev/sda2", "/usr"}) {
		t.Errorf("%+v", o)
	}
}

func hostLsHead(t *testing.T) string {
	b, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:4096])
}

type memSource struct {
	fss   []Filesystem
	trees map[string]memTree
}

func (s *memSource) Name() string { return "memory" }
func (s *memSource) Layout(context.Context) (Layout, error) {
	return Layout{Devices: []string{"/dev/sda"}, Partitions: []Partition{{Name: "/dev/sda1"}, {Name: "/dev/sda2"}}}, nil
}
func (s *memSource) Filesystems(context.Context) ([]Filesystem, error) { return s.fss, nil }
func (s *memSource) Mount(_ context.Context, ms []Mount) (Tree, error) {
	t, ok := s.trees[ms[0].Device]
	if !ok {
		return nil, ErrNotMountable
	}
	return t, nil
}
