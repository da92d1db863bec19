package main

// gfs inspect: virt-inspector. Prints what inspection finds on disk
// images, as virt-inspector's XML by default or as JSON.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gfs/appliance"
	"gfs/inspect"
)

const inspectUsage = `gfs inspect: display information about a virtual machine
Usage:
  gfs inspect [--options] -a disk.img [-a disk.img ...]
  gfs inspect [--options] disk.img [disk.img ...]
Options:
  -a|--add image       Add image
  --format[=raw|qcow2] Force disk format for the following -a options
  --xml                Output XML like virt-inspector (default)
  --json               Output JSON
  --no-applications    Do not list the installed applications
  --no-icon            Accepted for compatibility (icons are never output)
  --allow-backing      Let qcow2 images use backing files
  --accel auto|kvm|tcg Choose QEMU's accelerator when the appliance is needed
  -v|--verbose         Say which reader answered, and why it fell back
  --help               Display this help
`

// noOSMessage is virt-inspector's wording, in substance.
const noOSMessage = `no operating system could be detected inside this disk image.

This may be because the file is not a disk image, or is not a virtual machine
image, or because the OS type is not understood by gfs.
`

func inspectCmd(args []string, stdout, stderr io.Writer) int {
	var drives []appliance.Drive
	format := ""
	asJSON, apps, verbose, allowBacking, forceAppliance := false, true, false, false, false
	accel := ""
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gfs inspect: error: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Try ‘gfs inspect --help’ for more information.")
		return 1
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		val, hasVal := "", false
		if strings.HasPrefix(arg, "--") {
			if k, v, ok := strings.Cut(arg, "="); ok {
				arg, val, hasVal = k, v, true
			}
		}
		next := func() (string, bool) {
			if hasVal {
				return val, true
			}
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		switch arg {
		case "-a", "--add":
			p, ok := next()
			if !ok {
				return bad("%s needs an image", arg)
			}
			drives = append(drives, appliance.Drive{Path: p, Format: format, ReadOnly: true})
		case "--format":
			// virt-inspector's --format takes an optional argument:
			// --format=FMT, or --format alone to go back to detection.
			// gfs also accepts "--format FMT" when FMT is a format name.
			if hasVal {
				format = val
			} else if i+1 < len(args) && isFormatName(args[i+1]) {
				i++
				format = args[i]
			} else {
				format = ""
			}
			if format == "auto" {
				format = ""
			}
		case "--xml":
			asJSON = false
		case "--json":
			asJSON = true
		case "--no-applications":
			apps = false
		case "--no-icon":
		case "--allow-backing":
			allowBacking = true
		case "--appliance":
			// Undocumented: skip the VM-less reader (debugging, tests).
			forceAppliance = true
		case "--accel":
			v, ok := next()
			if !ok || (v != "auto" && v != "kvm" && v != "tcg") {
				return bad("--accel: use auto, kvm or tcg")
			}
			accel = v
		case "-v", "--verbose":
			verbose = true
		case "-h", "--help":
			io.WriteString(stdout, inspectUsage)
			return 0
		default:
			if strings.HasPrefix(arg, "-") && arg != "-" {
				return bad("unknown option %s", arg)
			}
			drives = append(drives, appliance.Drive{Path: arg, Format: format, ReadOnly: true})
		}
	}
	if len(drives) == 0 {
		return bad("you must specify at least one -a option or disk image")
	}
	for _, d := range drives {
		if st, err := os.Stat(d.Path); err != nil {
			fmt.Fprintf(stderr, "gfs inspect: error: %s: %v\n", d.Path, unwrapPathErr(err))
			return 1
		} else if st.IsDir() {
			fmt.Fprintf(stderr, "gfs inspect: error: %s: is a directory, not a disk image\n", d.Path)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := inspect.AutoOptions{
		Options:        inspect.Options{Applications: apps},
		AllowBacking:   allowBacking,
		ForceAppliance: forceAppliance,
		Appliance:      appliance.Options{Accel: accel, Verbose: false},
	}
	if verbose {
		opts.Log = stderr
	}
	start := time.Now()
	res, err := inspect.Auto(ctx, drives, opts)
	if err != nil {
		fmt.Fprintf(stderr, "gfs inspect: error: %v\n", err)
		return 1
	}
	if verbose {
		fmt.Fprintf(stderr, "inspect: answered by the %s reader in %v\n", res.Source, time.Since(start).Round(time.Millisecond))
	}
	if len(res.OSes) == 0 {
		fmt.Fprintf(stderr, "gfs inspect: %s", noOSMessage)
		return 1
	}
	if asJSON {
		err = inspect.WriteJSON(stdout, res.OSes)
	} else {
		err = inspect.WriteXML(stdout, res.OSes, apps)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gfs inspect: error: %v\n", err)
		return 1
	}
	return 0
}

func isFormatName(s string) bool {
	switch s {
	case "raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed", "auto":
		return true
	}
	return false
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
