package main

// The read-only tool benchmarks: gfs cat, gfs inspect and gfs ls -lR
// against virt-cat, virt-inspector and virt-ls, on qcow2 guests built
// here: an ext4 guest (mke2fs -d on the host, then qemu-img convert)
// holding a 20,000-file tree, and a linear-LVM guest built with gfs.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	benchHostname = "benchguest"
	treeDirs      = 200 // × treeFiles = the 20,000-file tree
	treeFiles     = 100
)

var (
	guestsOnce        sync.Once
	ext4Guest, lvmGst string
	guestsErr         error
)

// guests builds the two guests once per gfsbench run.
func guests(work string) (ext4, lvm string, err error) {
	guestsOnce.Do(func() {
		start := time.Now()
		ext4Guest, lvmGst, guestsErr = buildGuests(work)
		fmt.Fprintf(os.Stderr, "  guests built in %v\n", time.Since(start).Round(time.Millisecond))
	})
	return ext4Guest, lvmGst, guestsErr
}

// osTree writes a small Debian-like root: enough for inspection, with
// the host's dpkg database so application listing has real work.
func osTree(root string) error {
	files := map[string]string{
		"etc/hostname":       benchHostname + "\n",
		"etc/hosts":          "127.0.0.1 localhost\n",
		"etc/debian_version": "12.5\n",
		"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n" +
			"VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			return err
		}
	}
	for _, d := range []string{"bin", "var/lib/dpkg", "usr/bin", "root", "tmp", "home"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	for _, c := range [][2]string{{"/bin/ls", "bin/ls"}, {"/bin/bash", "bin/bash"}, {"/var/lib/dpkg/status", "var/lib/dpkg/status"}} {
		b, err := os.ReadFile(c[0])
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, c[1]), b, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func buildGuests(work string) (string, string, error) {
	// ext4 guest: one partition, root filesystem with the tree.
	root := filepath.Join(work, "ext4root")
	if err := osTree(root); err != nil {
		return "", "", err
	}
	os.WriteFile(filepath.Join(root, "etc/fstab"), []byte("/dev/sda1 / ext4 defaults 0 1\n"), 0o644)
	for d := 0; d < treeDirs; d++ {
		dir := filepath.Join(root, "srv/tree", fmt.Sprintf("dir%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", "", err
		}
		for f := 0; f < treeFiles; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.txt", f)), []byte(fmt.Sprintf("%d/%d\n", d, f)), 0o644); err != nil {
				return "", "", err
			}
		}
	}
	raw := filepath.Join(work, "ext4.raw")
	ext4 := filepath.Join(work, "ext4-guest.qcow2")
	steps := [][]string{
		{"truncate", "-s", "1G", raw},
		{"sh", "-c", "printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q " + raw},
		{"mke2fs", "-q", "-F", "-t", "ext4", "-d", root, "-E", "offset=1048576", raw, "1047552K"},
		{"qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, ext4},
		{"rm", "-f", raw},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s: %v\n%s", strings.Join(s, " "), err, out)
		}
	}

	// Linear-LVM guest, built by gfs in the appliance: /boot on
	// sda1 (ext2), / on the LV debian/root (ext4).
	lvm := filepath.Join(work, "lvm-guest.qcow2")
	err := applianceGuest(work, lvm, "/dev/mapper/debian-root / ext4 defaults 0 1\nLABEL=boot /boot ext2 defaults 0 2\n",
		"part-init /dev/sda mbr", "part-add /dev/sda p 2048 264191", "part-add /dev/sda p 264192 -1",
		"pvcreate /dev/sda2", "vgcreate debian /dev/sda2", "lvcreate-free root debian 100",
		"mkfs ext2 /dev/sda1 label:boot", "mkfs ext4 /dev/debian/root",
		"mount /dev/debian/root /", "mkdir /boot", "mount /dev/sda1 /boot",
		"write /boot/vmlinuz-6.1.0-18-amd64 \"not a kernel\"")
	return ext4, lvm, err
}

// applianceGuest builds a 1 GiB qcow2 guest with gfs itself: the
// script lines partition, format and mount it, then the OS tree and
// fstab are copied in.
func applianceGuest(work, img, fstab string, lines ...string) error {
	root := filepath.Join(work, filepath.Base(img)+".root")
	if err := osTree(root); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/fstab"), []byte(fstab), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", img, "1G").CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img: %v\n%s", err, out)
	}
	var tops []string
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		tops = append(tops, filepath.Join(root, e.Name()))
	}
	script := append([]string{"add " + img + " format:qcow2", "run"}, lines...)
	script = append(script, "copy-in "+strings.Join(tops, " ")+" /")
	cmd := exec.Command(*gfsBin, "-f", "/dev/stdin")
	cmd.Stdin = strings.NewReader(strings.Join(script, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", filepath.Base(img), err, out)
	}
	return nil
}

var (
	fsGuestsOnce         sync.Once
	xfsGuest, btrfsGuest string
	fsGuestsErr          error
)

// applianceFSGuests builds the xfs and btrfs guests, which no pure-Go
// reader opens, so gfs inspects them through the appliance.
func applianceFSGuests(work string) (xfs, btrfs string, err error) {
	fsGuestsOnce.Do(func() {
		xfsGuest = filepath.Join(work, "xfs-guest.qcow2")
		btrfsGuest = filepath.Join(work, "btrfs-guest.qcow2")
		fsGuestsErr = applianceGuest(work, xfsGuest, "/dev/sda1 / xfs defaults 0 1\n",
			"part-disk /dev/sda mbr", "mkfs xfs /dev/sda1", "mount /dev/sda1 /")
		if fsGuestsErr == nil {
			fsGuestsErr = applianceGuest(work, btrfsGuest, "/dev/sda1 / btrfs defaults 0 0\n",
				"part-disk /dev/sda mbr", "mkfs btrfs /dev/sda1", "mount /dev/sda1 /")
		}
	})
	return xfsGuest, btrfsGuest, fsGuestsErr
}

// timeCheck is timeCmd that also checks what the command printed.
func timeCheck(env []string, check func(stdout []byte) error, name string, args ...string) (float64, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.Bytes())
	}
	if err := check(out.Bytes()); err != nil {
		return 0, fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return d, nil
}

// pair measures gfs and (when installed) libguestfs on the same job.
func pair(name string, haveRef bool, check func([]byte) error, gfsArgs []string, refCmd string, refArgs []string) (result, error) {
	// One untimed run each first: caches warm, appliances built.
	if _, err := timeCheck(os.Environ(), check, *gfsBin, gfsArgs...); err != nil {
		return result{}, err
	}
	g, err := median(*runs, func() (float64, error) { return timeCheck(os.Environ(), check, *gfsBin, gfsArgs...) })
	if err != nil {
		return result{}, err
	}
	r := result{name: name, gfs: g}
	if haveRef {
		if _, err := exec.LookPath(refCmd); err != nil {
			r.note = refCmd + " not installed"
			return r, nil
		}
		if _, err := timeCheck(refEnv(), check, refCmd, refArgs...); err != nil {
			return result{}, err
		}
		r.ref, err = median(*runs, func() (float64, error) { return timeCheck(refEnv(), check, refCmd, refArgs...) })
		if err != nil {
			return result{}, err
		}
	}
	return r, nil
}

func benchCat(work string, haveRef bool) ([]result, error) {
	ext4, lvm, err := guests(work)
	if err != nil {
		return nil, err
	}
	check := func(out []byte) error {
		if string(out) != benchHostname+"\n" {
			return fmt.Errorf("printed %q", out)
		}
		return nil
	}
	var rs []result
	for _, g := range []struct{ label, img string }{{"ext4", ext4}, {"LVM", lvm}} {
		r, err := pair("cat /etc/hostname ("+g.label+" qcow2)", haveRef, check,
			[]string{"cat", "-a", g.img, "/etc/hostname"}, "virt-cat", []string{"-a", g.img, "/etc/hostname"})
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func benchInspect(work string, haveRef bool) ([]result, error) {
	ext4, lvm, err := guests(work)
	if err != nil {
		return nil, err
	}
	check := func(out []byte) error {
		if !bytes.Contains(out, []byte("<hostname>"+benchHostname+"</hostname>")) || !bytes.Contains(out, []byte("<application>")) {
			return fmt.Errorf("no hostname or applications in the XML:\n%.400s", out)
		}
		return nil
	}
	xfs, btrfs, err := applianceFSGuests(work)
	if err != nil {
		return nil, err
	}
	var rs []result
	for _, g := range []struct{ label, img string }{{"ext4 qcow2", ext4}, {"LVM qcow2", lvm}, {"xfs qcow2, appliance", xfs}, {"btrfs qcow2, appliance", btrfs}} {
		r, err := pair("inspect ("+g.label+")", haveRef, check,
			[]string{"inspect", "-a", g.img}, "virt-inspector", []string{"-a", g.img})
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func benchLs(work string, haveRef bool) ([]result, error) {
	ext4, _, err := guests(work)
	if err != nil {
		return nil, err
	}
	want := 1 + treeDirs + treeDirs*treeFiles
	check := func(out []byte) error {
		if n := bytes.Count(out, []byte("\n")); n != want {
			return fmt.Errorf("printed %d lines, want %d", n, want)
		}
		return nil
	}
	r, err := pair(fmt.Sprintf("ls -lR (%d files, ext4 qcow2)", treeDirs*treeFiles), haveRef, check,
		[]string{"ls", "-lR", "-a", ext4, "/srv/tree"}, "virt-ls", []string{"-lR", "-a", ext4, "/srv/tree"})
	if err != nil {
		return nil, err
	}
	return []result{r}, nil
}
