package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// bench is one named measurement producing report rows.
type bench struct {
	name string
	run  func(work string, haveRef bool) ([]result, error)
}

var benchmarks = []bench{
	{"launch", benchLaunch},
	{"transfer", benchTransfer},
	{"cat", benchCat},
	{"inspect", benchInspect},
	{"ls", benchLs},
}

// benchLaunch: boot the appliance on an empty disk and shut it down
// (gfs -a disk run), against guestfish -a /dev/null run.
func benchLaunch(work string, haveRef bool) ([]result, error) {
	disk := filepath.Join(work, "empty.img")
	if err := exec.Command("qemu-img", "create", "-q", "-f", "raw", disk, "100M").Run(); err != nil {
		return nil, err
	}
	// Warm the appliance cache first: the claim is for a cached appliance.
	if _, err := timeCmd(os.Environ(), *gfsBin, "appliance", "build"); err != nil {
		return nil, err
	}
	g, err := median(*runs, func() (float64, error) {
		return timeCmd(os.Environ(), *gfsBin, "--ro", "-a", disk, "run")
	})
	if err != nil {
		return nil, err
	}
	r := result{name: "launch + shutdown (empty disk)", gfs: g}
	if haveRef {
		// One run first so supermin's appliance is cached too.
		if _, err := timeCmd(refEnv(), "guestfish", "-a", "/dev/null", "run"); err != nil {
			return nil, err
		}
		r.ref, err = median(*runs, func() (float64, error) {
			return timeCmd(refEnv(), "guestfish", "-a", "/dev/null", "run")
		})
		if err != nil {
			return nil, err
		}
	}
	return []result{r}, nil
}

// benchTransfer: upload then download a file of -size MiB into an ext4
// filesystem, each timed as a whole session minus a launch-only session,
// so the rate is the transfer itself.
func benchTransfer(work string, haveRef bool) ([]result, error) {
	size := int64(*sizeMB) << 20
	src := filepath.Join(work, "payload")
	if err := writeRandom(src, size); err != nil {
		return nil, err
	}
	disk := filepath.Join(work, "xfer.img")
	diskSize := fmt.Sprintf("%dM", *sizeMB*2+256)
	if err := exec.Command("qemu-img", "create", "-q", "-f", "raw", disk, diskSize).Run(); err != nil {
		return nil, err
	}
	mk := func(tool string, env []string) error {
		_, err := timeCmd(env, tool, "-a", disk, "run", ":", "mkfs", "ext4", "/dev/sda")
		return err
	}
	session := func(tool string, env []string, cmds ...string) (float64, error) {
		args := append([]string{"-a", disk, "run", ":", "mount", "/dev/sda", "/"}, cmds...)
		return timeCmd(env, tool, args...)
	}
	rates := func(tool string, env []string) (up, down float64, err error) {
		if err := mk(tool, env); err != nil {
			return 0, 0, err
		}
		out := filepath.Join(work, "out")
		base, err := median(*runs, func() (float64, error) { return session(tool, env) })
		if err != nil {
			return 0, 0, err
		}
		upT, err := median(*runs, func() (float64, error) { return session(tool, env, ":", "upload", src, "/payload") })
		if err != nil {
			return 0, 0, err
		}
		downT, err := median(*runs, func() (float64, error) { return session(tool, env, ":", "download", "/payload", out) })
		if err != nil {
			return 0, 0, err
		}
		if err := sameFile(src, out); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", tool, err)
		}
		os.Remove(out)
		mb := float64(size) / (1 << 20)
		return mb / positive(upT-base), mb / positive(downT-base), nil
	}
	gu, gd, err := rates(*gfsBin, os.Environ())
	if err != nil {
		return nil, err
	}
	up := result{name: fmt.Sprintf("upload %d MiB", *sizeMB), gfs: gu, rate: true}
	down := result{name: fmt.Sprintf("download %d MiB", *sizeMB), gfs: gd, rate: true}
	if haveRef {
		ru, rd, err := rates("guestfish", refEnv())
		if err != nil {
			return nil, err
		}
		up.ref, down.ref = ru, rd
	}
	return []result{up, down}, nil
}

func positive(x float64) float64 {
	if x < 0.001 {
		return 0.001
	}
	return x
}
