package inspect

import (
	"os"
	"testing"
)

// Guest package databases and configuration are untrusted: the parsers
// must return errors, never panic or loop, on any input.
func FuzzGuestDatabases(f *testing.F) {
	for _, p := range []string{"testdata/rpmdb.sqlite", "testdata/Packages"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:min(len(b), 64<<10)])
		}
	}
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1:2-3\n\n"))
	f.Add([]byte("P:musl\nV:1.2-r3\n\n%NAME%\nx\n"))
	f.Add([]byte("UUID=x / ext4 subvol=y 0 0\n/dev/vda1 /boot ext2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if blobs, err := sqliteTableBlobs(b, "Packages", 1); err == nil {
			for _, x := range blobs {
				rpmHeaderApp(x)
			}
		}
		if blobs, err := bdbHashValues(b); err == nil {
			for _, x := range blobs {
				rpmHeaderApp(x)
			}
		}
		rpmHeaderApp(b)
		parseDpkgStatus(b)
		parseApkInstalled(b)
		parsePacmanDesc(b)
		binaryArch(b)
		v := &fsView{t: memTree{"/etc/fstab": string(b), "/etc/os-release": string(b)}}
		r := &resolver{layout: Layout{Devices: []string{"/dev/sda"}}}
		checkFstab(v, Filesystem{Device: "/dev/sda"}, r, "linux")
		parseOSRelease(v, &data{}, "/etc/os-release")
	})
}

func FuzzRegistryHive(f *testing.F) {
	for _, p := range []string{"testdata/windows-software", "testdata/windows-system"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := openHive(b)
		if err != nil {
			return
		}
		d := &data{}
		windowsSoftware(h, d)
		windowsSystem(h, d, &resolver{})
		for _, c := range h.children(h.root) {
			for _, v := range h.values(c) {
				h.valueData(v)
			}
		}
	})
}
