package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"

	"gfs/appliance"
)

// applianceCmd is `gfs appliance build|info|clean`.
func applianceCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: gfs appliance build|info|clean")
		return 1
	}
	cache, err := appliance.CacheDir("")
	if err != nil {
		fmt.Fprintln(stderr, "gfs: appliance:", err)
		return 1
	}
	switch args[0] {
	case "build":
		img, err := appliance.Build(appliance.BuildConfig{Log: stderr})
		if err != nil {
			fmt.Fprintln(stderr, "gfs: appliance build:", err)
			return 1
		}
		fmt.Fprintf(stdout, "appliance ready in %s\n", img.Dir)
		return 0
	case "info":
		return applianceInfo(cache, stdout, stderr)
	case "clean":
		if err := os.RemoveAll(cache); err != nil {
			fmt.Fprintln(stderr, "gfs: appliance clean:", err)
			return 1
		}
		fmt.Fprintf(stdout, "removed %s\n", cache)
		return 0
	}
	fmt.Fprintf(stderr, "gfs: appliance %s: unknown (use build, info or clean)\n", args[0])
	return 1
}

func applianceInfo(cache string, stdout, stderr io.Writer) int {
	k, err := appliance.FindKernel("")
	if err != nil {
		fmt.Fprintln(stderr, "gfs: appliance info:", err)
		return 1
	}
	img, err := appliance.Build(appliance.BuildConfig{})
	if err != nil {
		fmt.Fprintln(stderr, "gfs: appliance info:", err)
		return 1
	}
	m := img.Manifest
	qemu := os.Getenv("GFS_QEMU")
	if qemu == "" {
		qemu, _ = exec.LookPath("qemu-system-x86_64")
	}
	boot := m.BootKernel
	if m.PVH {
		boot += " (PVH entry point)"
	}
	var found []string
	for t, p := range m.Tools {
		found = append(found, t+"="+p)
	}
	sort.Strings(found)
	missing := strings.Join(m.MissingTools, " ")
	if missing == "" {
		missing = "none"
	}
	fmt.Fprintf(stdout, "kernel:        %s (%s)\n", k.Version, k.Image)
	fmt.Fprintf(stdout, "boot kernel:   %s\n", boot)
	fmt.Fprintf(stdout, "modules:       %d", len(m.Modules))
	if len(m.AbsentModules) > 0 {
		fmt.Fprintf(stdout, " (absent: %s)", strings.Join(m.AbsentModules, " "))
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "tools found:   %d\n", len(m.Tools))
	fmt.Fprintf(stdout, "tools missing: %s\n", missing)
	fmt.Fprintf(stdout, "initrd:        %s (%d bytes)\n", m.Initrd, m.InitrdBytes)
	fmt.Fprintf(stdout, "cache:         %s\n", cache)
	fmt.Fprintf(stdout, "appliance:     %s (built %s in %.1fs)\n", img.Dir, m.Built.Format("2006-01-02 15:04:05"), m.BuildSeconds)
	if qemu == "" {
		fmt.Fprintln(stdout, "qemu:          not found (apt-get install qemu-system-x86)")
	} else {
		fmt.Fprintf(stdout, "qemu:          %s\n", qemu)
		fmt.Fprintf(stdout, "acceleration:  %s\n", appliance.VerdictSummary(cache, qemu))
	}
	return 0
}
