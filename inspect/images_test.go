package inspect_test

// Guest images made by the tests with the appliance: a Debian-like guest
// (qcow2, MBR, ext2 /boot, LVM root/home/swap), a RHEL-like one (LVM
// root, /etc/redhat-release, rpm database), a GPT+xfs one, a btrfs one
// with subvolumes, an ext2 one without metadata checksums, and an ext4
// one whose /etc/hostname is stored inline. One appliance builds them;
// a second inspects them all; the VM-less reader inspects those it can.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gfs/appliance"
	"gfs/appliance/appliancetest"
)

var ctx = context.Background()

type guestFile struct {
	name, body string
	mode       int64
	link       string
}

func dir(name string) guestFile         { return guestFile{name: name, mode: 0o755} }
func file(name, body string) guestFile  { return guestFile{name: name, body: body, mode: 0o644} }
func symlink(name, to string) guestFile { return guestFile{name: name, link: to} }
func binFile(name string) guestFile     { return guestFile{name: name, body: hostLs(), mode: 0o755} }

var (
	lsOnce sync.Once
	lsBody string
)

// hostLs is the host's /bin/ls: a real ELF binary for the arch test.
func hostLs() string {
	lsOnce.Do(func() {
		b, err := os.ReadFile("/bin/ls")
		if err != nil {
			panic(err)
		}
		lsBody = string(b)
	})
	return lsBody
}

func tarOf(t *testing.T, files []guestFile) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.name, "/"), Mode: f.mode, ModTime: time.Unix(1700000000, 0)}
		switch {
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		case f.mode == 0o755 && f.body == "":
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(f.body))
		}
	}
	tw.Close()
	return &buf
}

const dpkgStatus = `Package: bash
Status: install ok installed
Priority: required
Architecture: amd64
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter.

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9+deb12u4)
Version: 2.36-9+deb12u4
Homepage: https://www.gnu.org/software/libc/libc.html
Description: GNU C Library: Shared libraries

Package: oldpkg
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1
Description: removed, only its configuration is left

Package: coreutils
Status: install ok installed
Architecture: amd64
Version: 1:9.1-1
Description: GNU core utilities

`

// images holds the paths of the built guests.
type images struct {
	dir                                    string
	debian, rhel, xfs, btrfs, ext2, inline string
	windows                                string
	uuids                                  map[string]string // name → UUID
	built                                  bool
}

var (
	imgs     images
	imgsOnce sync.Once
	imgsErr  error
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// buildImages makes every guest with one appliance.
func buildImages(t *testing.T) *images {
	t.Helper()
	imgsOnce.Do(func() { imgsErr = doBuild(t) })
	if imgsErr != nil {
		t.Fatal(imgsErr)
	}
	return &imgs
}

func doBuild(t *testing.T) (err error) {
	d, err := os.MkdirTemp("", "gfs-inspect-test-")
	if err != nil {
		return err
	}
	imgs.dir = d
	imgs.uuids = map[string]string{}
	p := func(n string) string { return filepath.Join(d, n) }
	imgs.debian, imgs.rhel, imgs.xfs, imgs.btrfs = p("debian.qcow2"), p("rhel.img"), p("gpt-xfs.img"), p("btrfs.img")
	imgs.ext2, imgs.inline, imgs.windows = p("ext2.img"), p("inline.img"), p("windows.img")
	appliancetest.QemuImg(t, "create", "-q", "-f", "qcow2", imgs.debian, "600M")
	for _, f := range []string{imgs.rhel, imgs.xfs, imgs.btrfs} {
		appliancetest.QemuImg(t, "create", "-q", "-f", "raw", f, "400M")
	}
	buildHostImages(t)
	buildWindows(t)

	h := appliance.New(appliance.Options{})
	defer h.Close()
	for _, f := range []string{imgs.debian, imgs.rhel, imgs.xfs, imgs.btrfs} {
		must(t, h.AddDrive(appliance.Drive{Path: f}))
	}
	must(t, h.Launch(ctx))
	uuid := func(key, dev string) string {
		u, err := h.VfsUUID(ctx, dev)
		must(t, err)
		imgs.uuids[key] = u
		return u
	}
	tarIn := func(files []guestFile, dir string) {
		must(t, h.TarIn(ctx, tarOf(t, files), dir, nil))
	}

	// Debian: /dev/sda1 ext2 /boot (label BOOT), /dev/sda2 LVM PV with
	// debian/root, debian/home, debian/swap.
	must(t, h.PartInit(ctx, "/dev/sda", "mbr"))
	must(t, h.PartAdd(ctx, "/dev/sda", "p", 2048, 206847))
	must(t, h.PartAdd(ctx, "/dev/sda", "p", 206848, -2048))
	must(t, h.Mkfs(ctx, "ext2", "/dev/sda1", map[string]any{"label": "BOOT"}))
	must(t, h.Pvcreate(ctx, "/dev/sda2"))
	must(t, h.Vgcreate(ctx, "debian", []string{"/dev/sda2"}))
	must(t, h.Lvcreate(ctx, "root", "debian", 200))
	must(t, h.Lvcreate(ctx, "home", "debian", 64))
	must(t, h.Lvcreate(ctx, "swap", "debian", 32))
	must(t, h.Mkfs(ctx, "ext4", "/dev/debian/root", nil))
	must(t, h.Mkfs(ctx, "ext4", "/dev/debian/home", nil))
	must(t, h.Mkswap(ctx, "/dev/debian/swap", nil))
	rootU := uuid("debian-root", "/dev/debian/root")
	uuid("debian-home", "/dev/debian/home")
	uuid("debian-boot", "/dev/sda1")
	uuid("debian-swap", "/dev/debian/swap")
	must(t, h.Mount(ctx, "/dev/debian/root", "/"))
	tarIn([]guestFile{
		dir("/etc"), dir("/bin"), dir("/boot"), dir("/home"), dir("/usr"), dir("/usr/bin"), dir("/var"), dir("/var/lib"), dir("/var/lib/dpkg"),
		file("/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n"),
		file("/etc/debian_version", "12.5\n"),
		file("/etc/hostname", "debian.invalid\n"),
		file("/etc/fstab", "# /etc/fstab: static file system information.\n"+
			"UUID="+rootU+" /               ext4    errors=remount-ro 0       1\n"+
			"LABEL=BOOT      /boot           ext2    defaults        0       2\n"+
			"/dev/mapper/debian-home /home   ext4    defaults        0       2\n"+
			"/dev/debian/swap none           swap    sw              0       0\n"+
			"proc            /proc           proc    defaults        0       0\n"+
			"tmpfs           /tmp            tmpfs   defaults        0       0\n"+
			"/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto 0       0\n"),
		file("/var/lib/dpkg/status", dpkgStatus),
		binFile("/usr/bin/ls"), symlink("/bin/ls", "../usr/bin/ls"),
	}, "/")
	must(t, h.UmountAll(ctx))

	// RHEL-like: /dev/sdb1 ext4 /boot, /dev/sdb2 LVM rhel/root ext4.
	must(t, h.PartInit(ctx, "/dev/sdb", "mbr"))
	must(t, h.PartAdd(ctx, "/dev/sdb", "p", 2048, 133119))
	must(t, h.PartAdd(ctx, "/dev/sdb", "p", 133120, -2048))
	must(t, h.Mkfs(ctx, "ext4", "/dev/sdb1", nil))
	must(t, h.Pvcreate(ctx, "/dev/sdb2"))
	must(t, h.Vgcreate(ctx, "rhel", []string{"/dev/sdb2"}))
	must(t, h.Lvcreate(ctx, "root", "rhel", 200))
	must(t, h.Mkfs(ctx, "ext4", "/dev/rhel/root", nil))
	bootU := uuid("rhel-boot", "/dev/sdb1")
	uuid("rhel-root", "/dev/rhel/root")
	must(t, h.Mount(ctx, "/dev/rhel/root", "/"))
	rhelFiles := []guestFile{
		dir("/etc"), dir("/boot"), dir("/usr"), dir("/usr/bin"), symlink("/bin", "usr/bin"),
		file("/etc/redhat-release", "Red Hat Enterprise Linux release 8.6 (Ootpa)\n"),
		file("/etc/sysconfig/network", "NETWORKING=yes\nHOSTNAME=rhel8.example.com\n"),
		file("/etc/hosts", "127.0.0.1 localhost\n"),
		file("/etc/fstab", "/dev/mapper/rhel-root   /       ext4    defaults        1 1\n"+
			"UUID="+bootU+" /boot ext4 defaults 1 2\n"),
		binFile("/usr/bin/bash"),
	}
	if db, err := os.ReadFile("testdata/rpmdb.sqlite"); err == nil {
		rhelFiles = append(rhelFiles, dir("/var"), dir("/var/lib"), dir("/var/lib/rpm"), file("/var/lib/rpm/rpmdb.sqlite", string(db)))
	}
	tarIn(rhelFiles, "/")
	must(t, h.UmountAll(ctx))

	// GPT + xfs: /dev/sdc1 vfat ESP, /dev/sdc2 xfs root by PARTUUID.
	must(t, h.PartInit(ctx, "/dev/sdc", "gpt"))
	must(t, h.PartAdd(ctx, "/dev/sdc", "p", 2048, 104447))
	must(t, h.PartAdd(ctx, "/dev/sdc", "p", 104448, -2048))
	must(t, h.Mkfs(ctx, "vfat", "/dev/sdc1", map[string]any{"label": "EFI"}))
	must(t, h.Mkfs(ctx, "xfs", "/dev/sdc2", nil))
	espU := uuid("xfs-esp", "/dev/sdc1")
	uuid("xfs-root", "/dev/sdc2")
	partU := blkidValue(t, h, "/dev/sdc2", "PART_ENTRY_UUID")
	imgs.uuids["xfs-partuuid"] = partU
	must(t, h.Mount(ctx, "/dev/sdc2", "/"))
	tarIn([]guestFile{
		dir("/etc"), dir("/bin"), dir("/boot"), dir("/boot/efi"), dir("/usr"), dir("/usr/bin"),
		file("/etc/os-release", "NAME=\"Fedora Linux\"\nVERSION=\"38 (Cloud Edition)\"\nID=fedora\nVERSION_ID=38\nPRETTY_NAME=\"Fedora Linux 38 (Cloud Edition)\"\n"),
		file("/etc/hostname", "# comment\n\nfedora.local\n"),
		file("/etc/fstab", "PARTUUID="+partU+" / xfs defaults 0 0\nUUID="+espU+" /boot/efi vfat umask=0077 0 2\n"),
		binFile("/bin/ls"), file("/usr/bin/dnf", "#!/usr/bin/python3\n"),
	}, "/")
	must(t, h.UmountAll(ctx))

	// btrfs with subvolumes root and home on /dev/sdd1.
	must(t, h.PartDisk(ctx, "/dev/sdd", "mbr"))
	must(t, h.Mkfs(ctx, "btrfs", "/dev/sdd1", nil))
	btrU := uuid("btrfs", "/dev/sdd1")
	must(t, h.Mount(ctx, "/dev/sdd1", "/"))
	for _, sv := range []string{"root", "home"} {
		_, err := h.Call(ctx, "debug", []any{"run", []string{"btrfs", "subvolume", "create", "/sysroot/" + sv}}, nil, nil, nil)
		must(t, err)
	}
	tarIn([]guestFile{
		dir("/etc"), dir("/bin"), dir("/home"),
		file("/etc/os-release", "PRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n"),
		file("/etc/hostname", "ubuntu-btrfs\n"),
		file("/etc/fstab", "UUID="+btrU+" / btrfs defaults,subvol=root 0 1\nUUID="+btrU+" /home btrfs defaults,subvol=/home 0 2\n"),
		binFile("/bin/ls"),
	}, "/root")
	must(t, h.UmountAll(ctx))
	imgs.built = true
	return nil
}

func blkidValue(t *testing.T, h *appliance.Handle, dev, key string) string {
	t.Helper()
	kv, err := h.Blkid(ctx, dev)
	must(t, err)
	for _, p := range kv {
		if p[0] == key {
			return p[1]
		}
	}
	t.Fatalf("blkid %s: no %s", dev, key)
	return ""
}

// buildHostImages makes the unpartitioned ext2 and inline-data guests
// with mke2fs -d on the host.
func buildHostImages(t *testing.T) {
	src := filepath.Join(imgs.dir, "tree")
	for _, f := range []guestFile{
		dir("/etc"), dir("/bin"), dir("/lib"), dir("/lib/apk"), dir("/lib/apk/db"),
		file("/etc/alpine-release", "3.18.4\n"),
		file("/etc/hostname", "alpine\n"),
		file("/etc/fstab", "/dev/vda / ext2 rw 0 1\n/dev/vdb1 /data ext4 rw 0 2\n"),
		file("/lib/apk/db/installed", "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nT:the musl c library\nU:https://musl.libc.org/\n\nP:busybox\nV:1:1.36.1-r5\nA:x86_64\nT:Size optimized toolbox\n\n"),
		binFile("/bin/ls"),
	} {
		p := filepath.Join(src, f.name)
		switch {
		case f.mode == 0o755 && f.body == "":
			must(t, os.MkdirAll(p, 0o755))
		default:
			must(t, os.WriteFile(p, []byte(f.body), os.FileMode(f.mode)))
		}
	}
	appliancetest.Run(t, "mke2fs", "-q", "-t", "ext2", "-O", "^metadata_csum", "-U", "0a0b0c0d-1111-2222-3333-444455556666", "-L", "alpine", "-d", src, imgs.ext2, "32M")
	appliancetest.Run(t, "mke2fs", "-q", "-t", "ext4", "-O", "inline_data", "-U", "9a9b9c9d-1111-2222-3333-444455556666", "-d", src, imgs.inline, "32M")
}

// pe64 is the header of an x86_64 PE executable, enough for the arch.
func pe64() string {
	b := make([]byte, 512)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00\x64\x86")
	return string(b)
}

// buildWindows makes a Windows-like guest on a FAT partition (readable by
// the VM-less reader): MBR with disk signature 0x12345678, partition 1
// at 1 MiB, registry hives written by hivex (testdata).
func buildWindows(t *testing.T) {
	fat := filepath.Join(imgs.dir, "fat.img")
	appliancetest.Run(t, "mkfs.vfat", "-C", "-n", "WINSYS", "-i", "4a3b2c1d", fat, "22528")
	appliancetest.Run(t, "mmd", "-i", fat, "::/Windows", "::/Windows/System32", "::/Windows/System32/config", "::/Program Files")
	tmp := filepath.Join(imgs.dir, "cmd.exe")
	must(t, os.WriteFile(tmp, []byte(pe64()), 0o644))
	appliancetest.Run(t, "mcopy", "-i", fat, tmp, "::/Windows/System32/cmd.exe")
	appliancetest.Run(t, "mcopy", "-i", fat, "testdata/windows-software", "::/Windows/System32/config/SOFTWARE")
	appliancetest.Run(t, "mcopy", "-i", fat, "testdata/windows-system", "::/Windows/System32/config/SYSTEM")
	body, err := os.ReadFile(fat)
	must(t, err)
	mbr := make([]byte, 1<<20)
	copy(mbr[0x1b8:], []byte{0x78, 0x56, 0x34, 0x12})
	e := mbr[0x1be:]
	e[0], e[4] = 0x80, 0x0c
	binary.LittleEndian.PutUint32(e[8:], 2048)
	binary.LittleEndian.PutUint32(e[12:], uint32(len(body)/512))
	mbr[510], mbr[511] = 0x55, 0xaa
	must(t, os.WriteFile(imgs.windows, append(mbr, body...), 0o644))
}
