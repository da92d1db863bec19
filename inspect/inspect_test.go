package inspect_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gfs/appliance"
	"gfs/appliance/appliancetest"
	"gfs/fs"
	"gfs/inspect"
)

func TestMain(m *testing.M) {
	// Fuzzing needs no appliance: do not build the agent in every
	// fuzz worker.
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-test.fuzz") {
			os.Exit(m.Run())
		}
	}
	os.Exit(appliancetest.Main(m, func() {
		// GFS_INSPECT_KEEP=DIR keeps the built guests (benchmarks, manual
		// comparisons with virt-inspector).
		if keep := os.Getenv("GFS_INSPECT_KEEP"); keep != "" && imgs.built {
			os.MkdirAll(keep, 0o755)
			for _, p := range []string{imgs.debian, imgs.rhel, imgs.xfs, imgs.btrfs, imgs.ext2, imgs.inline} {
				os.Rename(p, filepath.Join(keep, filepath.Base(p)))
			}
		}
		if imgs.dir != "" {
			os.RemoveAll(imgs.dir)
		}
	}))
}

// vmless inspects images with the VM-less reader only.
func vmless(t *testing.T, apps bool, paths ...string) []inspect.OS {
	t.Helper()
	var drives []appliance.Drive
	for _, p := range paths {
		drives = append(drives, appliance.Drive{Path: p})
	}
	res, err := inspect.Auto(ctx, drives, inspect.AutoOptions{Options: inspect.Options{Applications: apps}, NoFallback: true})
	if err != nil {
		t.Fatalf("VM-less inspection of %v: %v", paths, err)
	}
	if res.Source != "vm-less" {
		t.Fatalf("source = %s", res.Source)
	}
	return res.OSes
}

// viaAppliance inspects all the images in one appliance (computed once).
var applianceOSes []inspect.OS

func allByAppliance(t *testing.T) []inspect.OS {
	t.Helper()
	if applianceOSes != nil {
		return applianceOSes
	}
	im := buildImages(t)
	var drives []appliance.Drive
	for _, p := range []string{im.debian, im.rhel, im.ext2, im.xfs, im.btrfs, im.inline, im.windows} {
		drives = append(drives, appliance.Drive{Path: p, ReadOnly: true})
	}
	// A blank disk last: list-filesystems probes whole disks before
	// partitions, and blkid once stopped at the first device holding
	// nothing, leaving every partition after it "unknown".
	blank := filepath.Join(im.dir, "blank.img")
	must(t, os.WriteFile(blank, nil, 0o644))
	must(t, os.Truncate(blank, 8<<20))
	drives = append(drives, appliance.Drive{Path: blank, Format: "raw", ReadOnly: true})
	start := time.Now()
	res, err := inspect.Auto(ctx, drives, inspect.AutoOptions{Options: inspect.Options{Applications: true}, ForceAppliance: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("appliance inspection of 6 disks: %v", time.Since(start))
	applianceOSes = res.OSes
	return res.OSes
}

func findOS(t *testing.T, oses []inspect.OS, root string) inspect.OS {
	t.Helper()
	for _, o := range oses {
		if o.Root == root {
			return o
		}
	}
	var roots []string
	for _, o := range oses {
		roots = append(roots, o.Root)
	}
	t.Fatalf("no OS with root %s (roots: %v)", root, roots)
	return inspect.OS{}
}

func TestDebianGolden(t *testing.T) {
	im := buildImages(t)
	start := time.Now()
	oses := vmless(t, true, im.debian)
	t.Logf("VM-less inspection: %v", time.Since(start))
	var buf bytes.Buffer
	must(t, inspect.WriteXML(&buf, oses, true))
	want := strings.NewReplacer("@ROOT@", im.uuids["debian-root"], "@HOME@", im.uuids["debian-home"],
		"@BOOT@", im.uuids["debian-boot"], "@SWAP@", im.uuids["debian-swap"]).Replace(debianGolden)
	if buf.String() != want {
		t.Errorf("XML differs:\n--- got\n%s--- want\n%s", buf.String(), want)
	}
}

const debianGolden = `<?xml version="1.0"?>
<operatingsystems>
  <operatingsystem>
    <root>/dev/debian/root</root>
    <name>linux</name>
    <arch>x86_64</arch>
    <distro>debian</distro>
    <product_name>12.5</product_name>
    <major_version>12</major_version>
    <minor_version>5</minor_version>
    <package_format>deb</package_format>
    <package_management>apt</package_management>
    <hostname>debian.invalid</hostname>
    <osinfo>debian12</osinfo>
    <mountpoints>
      <mountpoint dev="/dev/debian/root">/</mountpoint>
      <mountpoint dev="/dev/sda1">/boot</mountpoint>
      <mountpoint dev="/dev/debian/home">/home</mountpoint>
    </mountpoints>
    <filesystems>
      <filesystem dev="/dev/debian/home">
        <type>ext4</type>
        <uuid>@HOME@</uuid>
      </filesystem>
      <filesystem dev="/dev/debian/root">
        <type>ext4</type>
        <uuid>@ROOT@</uuid>
      </filesystem>
      <filesystem dev="/dev/debian/swap">
        <type>swap</type>
        <uuid>@SWAP@</uuid>
      </filesystem>
      <filesystem dev="/dev/sda1">
        <type>ext2</type>
        <label>BOOT</label>
        <uuid>@BOOT@</uuid>
      </filesystem>
    </filesystems>
    <applications>
      <application>
        <name>bash</name>
        <version>5.2.15</version>
        <release>2+b2</release>
        <arch>amd64</arch>
        <summary>GNU Bourne Again SHell</summary>
        <description>Bash is an sh-compatible command language interpreter.</description>
      </application>
      <application>
        <name>coreutils</name>
        <epoch>1</epoch>
        <version>9.1</version>
        <release>1</release>
        <arch>amd64</arch>
        <summary>GNU core utilities</summary>
      </application>
      <application>
        <name>libc6</name>
        <version>2.36</version>
        <release>9+deb12u4</release>
        <arch>amd64</arch>
        <url>https://www.gnu.org/software/libc/libc.html</url>
        <source_package>glibc</source_package>
        <summary>GNU C Library: Shared libraries</summary>
      </application>
    </applications>
  </operatingsystem>
</operatingsystems>
`

// The VM-less reader and the appliance give identical results for the
// guests both can read.
func TestBothPathsAgree(t *testing.T) {
	im := buildImages(t)
	fast := vmless(t, true, im.debian, im.rhel, im.ext2)
	if len(fast) != 3 {
		t.Fatalf("VM-less found %d OSes, want 3", len(fast))
	}
	slow := allByAppliance(t)
	for _, o := range fast {
		a := findOS(t, slow, o.Root)
		if !reflect.DeepEqual(o, a) {
			t.Errorf("%s: VM-less and appliance differ:\n%+v\n%+v", o.Root, o, a)
		}
		var x1, x2 bytes.Buffer
		inspect.WriteXML(&x1, []inspect.OS{o}, true)
		inspect.WriteXML(&x2, []inspect.OS{a}, true)
		if x1.String() != x2.String() {
			t.Errorf("%s: XML differs", o.Root)
		}
	}
}

func TestRHEL(t *testing.T) {
	im := buildImages(t)
	o := findOS(t, vmless(t, true, im.rhel), "/dev/rhel/root")
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("type", o.Type, "linux")
	check("distro", o.Distro, "rhel")
	check("product", o.ProductName, "Red Hat Enterprise Linux release 8.6 (Ootpa)")
	check("arch", o.Arch, "x86_64")
	check("hostname", o.Hostname, "rhel8.example.com")
	check("format", o.PackageFormat, "rpm")
	check("management", o.PackageManagement, "dnf")
	check("osinfo", o.OSInfo, "rhel8.6")
	if o.MajorVersion != 8 || o.MinorVersion != 6 {
		t.Errorf("version %d.%d", o.MajorVersion, o.MinorVersion)
	}
	wantMP := []inspect.Mountpoint{{"/dev/rhel/root", "/"}, {"/dev/sda1", "/boot"}}
	if !reflect.DeepEqual(o.Mountpoints, wantMP) {
		t.Errorf("mountpoints %v", o.Mountpoints)
	}
	wantFS := []inspect.Filesystem{{Device: "/dev/rhel/root", Type: "ext4", UUID: im.uuids["rhel-root"]},
		{Device: "/dev/sda1", Type: "ext4", UUID: im.uuids["rhel-boot"]}}
	if !reflect.DeepEqual(o.Filesystems, wantFS) {
		t.Errorf("filesystems %+v", o.Filesystems)
	}
	if _, err := os.Stat("testdata/rpmdb.sqlite"); err == nil {
		checkRPMApps(t, o.Applications)
	}
}

func TestAlpineExt2(t *testing.T) {
	im := buildImages(t)
	alpineCheck(t, vmless(t, true, im.ext2), "ext2", "alpine", "0a0b0c0d-1111-2222-3333-444455556666")
}

// The ext4 guest whose small files are stored inline (inline_data) is
// read by the VM-less reader (package fs handles inline data).
func TestInlineData(t *testing.T) {
	im := buildImages(t)
	alpineCheck(t, vmless(t, true, im.inline), "ext4", "", "9a9b9c9d-1111-2222-3333-444455556666")
}

func alpineCheck(t *testing.T, oses []inspect.OS, typ, label, uuid string) {
	if len(oses) != 1 {
		t.Fatalf("%d OSes", len(oses))
	}
	o := oses[0]
	want := inspect.OS{
		Root: "/dev/sda", Type: "linux", Distro: "alpinelinux", ProductName: "3.18.4", ProductVariant: "unknown",
		MajorVersion: 3, MinorVersion: 18, Arch: "x86_64", Hostname: "alpine", PackageFormat: "apk",
		PackageManagement: "apk", OSInfo: "alpinelinux3.18",
		// /dev/vdb1 does not exist here: libguestfs keeps the name.
		Mountpoints: []inspect.Mountpoint{{"/dev/sda", "/"}, {"/dev/sdb1", "/data"}},
		Filesystems: []inspect.Filesystem{{Device: "/dev/sda", Type: typ, Label: label, UUID: uuid}, {Device: "/dev/sdb1"}},
		Applications: []inspect.Application{
			{Name: "busybox", Epoch: 1, Version: "1.36.1", Release: "5", Arch: "x86_64", Description: "Size optimized toolbox"},
			{Name: "musl", Version: "1.2.4", Release: "2", Arch: "x86_64", URL: "https://musl.libc.org/", Description: "the musl c library"},
		},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got  %+v\nwant %+v", o, want)
	}
}

func TestXFSAndBtrfsThroughAppliance(t *testing.T) {
	im := buildImages(t)
	for _, p := range []string{im.xfs, im.btrfs} {
		res, err := inspect.Auto(ctx, []appliance.Drive{{Path: p}}, inspect.AutoOptions{NoFallback: true})
		var fe *inspect.FallbackError
		if err == nil || res == nil || res.FallbackReason == nil || !errors.As(err, &fe) {
			t.Errorf("%s: the VM-less reader should have asked for the appliance (err %v)", p, err)
		} else {
			t.Logf("%s: fallback because %v", p, res.FallbackReason)
		}
	}
	oses := allByAppliance(t)
	x := findOS(t, oses, "/dev/sdd2")
	wantX := inspect.OS{
		Root: "/dev/sdd2", Type: "linux", Distro: "fedora", ProductName: "Fedora Linux 38 (Cloud Edition)", ProductVariant: "unknown",
		MajorVersion: 38, Arch: "x86_64", Hostname: "fedora.local", PackageFormat: "rpm", PackageManagement: "dnf", OSInfo: "fedora38",
		Mountpoints: []inspect.Mountpoint{{"/dev/sdd2", "/"}, {"/dev/sdd1", "/boot/efi"}},
		Filesystems: []inspect.Filesystem{{Device: "/dev/sdd1", Type: "vfat", Label: "EFI", UUID: im.uuids["xfs-esp"]},
			{Device: "/dev/sdd2", Type: "xfs", UUID: im.uuids["xfs-root"]}},
		Applications: []inspect.Application{},
	}
	clearPart(&x)
	if !reflect.DeepEqual(x, wantX) {
		t.Errorf("xfs guest:\ngot  %+v\nwant %+v", x, wantX)
	}
	b := findOS(t, oses, "btrfsvol:/dev/sde1/root")
	wantB := inspect.OS{
		Root: "btrfsvol:/dev/sde1/root", Type: "linux", Distro: "ubuntu", ProductName: "Ubuntu 22.04.3 LTS", ProductVariant: "unknown",
		MajorVersion: 22, MinorVersion: 4, Arch: "x86_64", Hostname: "ubuntu-btrfs", PackageFormat: "deb", PackageManagement: "apt", OSInfo: "ubuntu22.04",
		Mountpoints: []inspect.Mountpoint{{"btrfsvol:/dev/sde1/root", "/"}, {"btrfsvol:/dev/sde1//home", "/home"}},
		Filesystems: []inspect.Filesystem{{Device: "btrfsvol:/dev/sde1//home", Type: "btrfs", UUID: im.uuids["btrfs"]},
			{Device: "btrfsvol:/dev/sde1/root", Type: "btrfs", UUID: im.uuids["btrfs"]}},
		Applications: []inspect.Application{},
	}
	clearPart(&b)
	if !reflect.DeepEqual(b, wantB) {
		t.Errorf("btrfs guest:\ngot  %+v\nwant %+v", b, wantB)
	}
	// The inline-data guest is the Alpine tree again.
	in := findOS(t, oses, "/dev/sdf")
	if in.Distro != "alpinelinux" || in.Hostname != "alpine" || len(in.Applications) != 2 {
		t.Errorf("inline-data guest: %+v", in)
	}
	if len(oses) != 7 {
		t.Errorf("appliance found %d OSes, want 7", len(oses))
	}
}

func clearPart(o *inspect.OS) {
	for i := range o.Filesystems {
		o.Filesystems[i].PartUUID, o.Filesystems[i].PartLabel = "", ""
	}
}

// A disk with no OS: Auto succeeds with nothing found, PlanMount says
// what guestfish says.
func TestNoOS(t *testing.T) {
	p := appliancetest.Blank(t, "blank.img", "raw", "16M")
	appliancetest.Run(t, "mkfs.ext4", "-q", "-F", p)
	res, err := inspect.Auto(ctx, []appliance.Drive{{Path: p}}, inspect.AutoOptions{NoFallback: true})
	if err != nil || len(res.OSes) != 0 || res.Source != "vm-less" {
		t.Fatalf("res %+v err %v", res, err)
	}
	if _, err := inspect.PlanMount(res.OSes); !errors.Is(err, inspect.ErrNoOS) || err.Error() != "no operating system was found on this disk" {
		t.Errorf("PlanMount: %v", err)
	}
	if _, err := inspect.Auto(ctx, []appliance.Drive{{Path: "/nonexistent.img"}}, inspect.AutoOptions{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing image: %v", err)
	}
}

func TestPlanMount(t *testing.T) {
	im := buildImages(t)
	p, err := inspect.PlanMount(vmless(t, false, im.debian))
	must(t, err)
	var order []string
	for _, m := range p.Mounts {
		order = append(order, m.Mountpoint)
	}
	if strings.Join(order, " ") != "/ /boot /home" {
		t.Errorf("mount order %v", order)
	}
	want := "Operating system: 12.5\n/dev/debian/root mounted on /\n/dev/sda1 mounted on /boot\n/dev/debian/home mounted on /home\n"
	if p.Banner() != want {
		t.Errorf("banner %q", p.Banner())
	}
	if _, err := inspect.PlanMount(make([]inspect.OS, 2)); !errors.Is(err, inspect.ErrMultiBoot) {
		t.Errorf("multi-boot: %v", err)
	}
}

// Fallback for a qcow2 image in a format the VM-less reader refuses is
// decided before any filesystem is read.
func TestVMLessRefusesWhatItCannotRead(t *testing.T) {
	im := buildImages(t)
	img, err := fs.OpenImage(im.btrfs, "raw", false)
	must(t, err)
	defer img.Close()
	d, err := fs.OpenDisks([]fs.Image{img})
	must(t, err)
	_, err = inspect.InspectDisks(ctx, d, inspect.Options{})
	var fe *inspect.FallbackError
	if !errors.As(err, &fe) {
		t.Errorf("btrfs via the VM-less reader: %v, want a FallbackError", err)
	}
}

// checkRPMApps checks the packages of testdata/rpmdb.sqlite (made by
// rpm 4.18 from three tiny packages, see testdata/README).
func checkRPMApps(t *testing.T, apps []inspect.Application) {
	t.Helper()
	if len(apps) != 3 {
		t.Fatalf("rpm applications: %+v", apps)
	}
	h := apps[0]
	if h.Name != "hello-gfs" || h.Epoch != 2 || h.Version != "2.12" || h.Release != "3.el8" || h.Arch != "x86_64" ||
		h.URL != "https://example.org/hello" || h.Summary != "A friendly greeting" ||
		h.Description != "Prints a greeting.\nSecond line of the description." {
		t.Errorf("hello-gfs: %+v", h)
	}
	if apps[1].Name != "long-gfs" || !strings.HasSuffix(apps[1].Description, "Line 149 of a description long enough to spill into SQLite overflow pages.") {
		t.Errorf("long-gfs: %+v", apps[1].Name)
	}
	if tl := apps[2]; tl.Name != "tools-gfs" || tl.Arch != "noarch" || tl.URL != "(none)" || tl.Epoch != 0 {
		t.Errorf("tools-gfs: %+v", tl)
	}
}

func TestWindows(t *testing.T) {
	im := buildImages(t)
	oses := vmless(t, true, im.windows)
	if len(oses) != 1 {
		t.Fatalf("%d OSes", len(oses))
	}
	o := oses[0]
	want := inspect.OS{
		Root: "/dev/sda1", Type: "windows", Distro: "windows", ProductName: "Windows Server 2022 Standard", ProductVariant: "Server",
		MajorVersion: 10, Arch: "x86_64", Hostname: "WIN-GFS", PackageFormat: "unknown", PackageManagement: "unknown", OSInfo: "win2k22",
		BuildID: "20348", WindowsSystemroot: "/Windows", WindowsCurrentControlSet: "ControlSet001",
		Mountpoints:   []inspect.Mountpoint{{"/dev/sda1", "/"}},
		Filesystems:   []inspect.Filesystem{{Device: "/dev/sda1", Type: "vfat", Label: "WINSYS", UUID: "4A3B-2C1D"}},
		DriveMappings: []inspect.DriveMapping{{"C", "/dev/sda1"}},
		Applications:  []inspect.Application{{Name: "7-Zip", DisplayName: "7-Zip 23.01 (x64)", Version: "23.01", InstallPath: `C:\Program Files\7-Zip\`, Publisher: "Igor Pavlov"}},
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got  %+v\nwant %+v", o, want)
	}
	var buf bytes.Buffer
	inspect.WriteXML(&buf, oses, true)
	for _, line := range []string{"    <windows_systemroot>/Windows</windows_systemroot>\n    <windows_current_control_set>ControlSet001</windows_current_control_set>\n    <hostname>WIN-GFS</hostname>\n",
		"    <drive_mappings>\n      <drive_mapping name=\"C\">/dev/sda1</drive_mapping>\n    </drive_mappings>\n"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("XML lacks %q:\n%s", line, buf.String())
		}
	}
	// Through the appliance (7th disk) the same guest reads the same.
	a := findOS(t, allByAppliance(t), "/dev/sdg1")
	if a.ProductName != o.ProductName || a.Hostname != o.Hostname || !reflect.DeepEqual(a.Applications, o.Applications) ||
		!reflect.DeepEqual(a.DriveMappings, []inspect.DriveMapping{{"C", "/dev/sdg1"}}) {
		t.Errorf("appliance: %+v", a)
	}
}
