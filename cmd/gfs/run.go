package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"gfs/appliance"
	"gfs/appliance/api"
	"gfs/inspect"
	"gfs/shell"
)

// Version is printed by -V.
var Version = "0.1.0"

// Subcommands that later issues implement; reserved now.
var reserved = map[string]bool{
	"copy-in": true, "df": true,
	"filesystems": true, "mount": true, "sysprep": true, "resize": true, "sparsify": true, "edit": true,
}

func run(args []string) int {
	if len(args) > 0 {
		if args[0] == "appliance" {
			return applianceCmd(args[1:], os.Stdout, os.Stderr)
		}
		switch args[0] {
		case "inspect":
			return inspectCmd(args[1:], os.Stdout, os.Stderr)
		case "cat", "ls", "copy-out":
			return toolCmd(args[0], args[1:], os.Stdout, os.Stderr)
		}
		if reserved[args[0]] {
			fmt.Fprintf(os.Stderr, "gfs: %s: not implemented yet\n", args[0])
			return 1
		}
	}
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gfs: %v\nTry ‘gfs --help’ for more information.\n", err)
		return 1
	}
	switch {
	case o.help && len(o.commands) > 0:
		if !shell.CommandHelp(os.Stdout, o.commands[0]) {
			fmt.Fprintf(os.Stderr, "%s: command not known: use -h to list all commands\n", o.commands[0])
			return 1
		}
		return 0
	case o.help:
		usage(os.Stdout)
		return 0
	case o.version:
		fmt.Printf("gfs %s\n", Version)
		return 0
	case o.cmdHelp:
		if o.cmdHelpName == "" {
			shell.ListCommands(os.Stdout)
			return 0
		}
		if !shell.CommandHelp(os.Stdout, o.cmdHelpName) {
			fmt.Fprintf(os.Stderr, "%s: command not known: use -h to list all commands\n", o.cmdHelpName)
			return 1
		}
		return 0
	}
	for _, n := range o.newDisks {
		if n == "help" || n == "list" {
			shell.PreparedHelp(os.Stdout)
			return 0
		}
	}
	if o.remote {
		pid := o.remotePID
		if pid == 0 {
			for _, v := range []string{"GUESTFISH_PID", "GFS_PID"} {
				if p, err := strconv.Atoi(os.Getenv(v)); err == nil && p > 0 {
					pid = p
					break
				}
			}
		}
		if pid == 0 {
			fmt.Fprintln(os.Stderr, "gfs: --remote: no listener: set GUESTFISH_PID (eval \"$(gfs --listen …)\") or use --remote=PID")
			return 1
		}
		return shell.RunRemote(pid, o.commands, os.Stdin, os.Stderr)
	}
	if o.listen && os.Getenv(listenChildEnv) == "" {
		return listenParent(args, o)
	}
	code := session(o)
	if sig := fatalSignal.Load(); sig != 0 {
		// Killing the appliance made the running command fail: exit as
		// the signal handler does, whoever gets there first.
		return 128 + int(sig)
	}
	return code
}

// fatalSignal is the signal that is stopping gfs, if any.
var fatalSignal atomic.Int32

// session runs the shell: set up drives, prepared disks and mounts,
// then commands from the command line, -f, the terminal or stdin.
func session(o *options) (code int) {
	interactive := len(o.commands) == 0 && o.file == "" && !o.listen && term.IsTerminal(int(os.Stdin.Fd()))
	s := shell.New(shell.Options{
		Accel: o.accel, AllowBacking: o.allowBacking, Verbose: o.verbose,
		Trace: o.trace, NoSync: o.noSync, Interactive: interactive,
		ForceAppliance: o.forceAppliance || os.Getenv("GFS_FORCE_APPLIANCE") == "1",
	})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopSignals := handleSignals(interactive)
	defer stopSignals()
	defer func() {
		if err := s.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "gfs: error: %v\n", err)
			code = 1
		}
	}()
	ready := listenReady()
	fail := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		if ready != nil {
			ready(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		return 1
	}
	for _, d := range o.drives {
		if err := s.AddDrive(appliance.Drive{Path: d.path, Format: d.format, ReadOnly: o.readOnly, Name: d.path}); err != nil {
			return fail("gfs: error: add-drive: %v", err)
		}
	}
	for i, n := range o.newDisks {
		p, err := shell.ParsePrepared(n, i+1)
		if err != nil {
			return fail("gfs: %v", err)
		}
		if err := s.AddPrepared(p); err != nil {
			return fail("gfs: %v", err)
		}
	}
	// -N, -i and -m imply run in guestfish. Here only -N does: its disks
	// are built in the appliance, while -i and -m are served by the
	// VM-less reader when it can, and the appliance starts on demand.
	if len(o.newDisks) > 0 {
		if err := s.Launch(ctx); err != nil {
			return fail("gfs: error: %v", err)
		}
	}
	{
		if o.inspect {
			greeting, err := inspectMount(ctx, s, o.readOnly)
			if err != nil {
				return fail("%s", err)
			}
			s.SetGreeting(greeting)
		}
		for _, m := range o.mounts {
			if err := mountOption(ctx, s, m, o.readOnly); err != nil {
				return fail("%s", err)
			}
		}
	}
	if o.listen {
		return serveListener(ctx, s, ready)
	}
	var err error
	switch {
	case len(o.commands) > 0:
		if o.file != "" {
			fmt.Fprintln(os.Stderr, "gfs: -f FILE cannot be combined with commands on the command line")
			return 1
		}
		err = s.RunArgs(ctx, o.commands)
	case o.file != "":
		f, ferr := os.Open(o.file)
		if ferr != nil {
			fmt.Fprintf(os.Stderr, "gfs: %s: %v\n", o.file, errors.Unwrap(ferr))
			return 1
		}
		defer f.Close()
		err = s.RunScript(ctx, f, o.file)
	case interactive:
		err = s.Interactive(ctx, os.Stdin, true)
	default:
		err = s.RunScript(ctx, os.Stdin, "*stdin*")
	}
	if err != nil {
		if !errors.Is(err, shell.ErrFailed) {
			fmt.Fprintf(os.Stderr, "gfs: %v\n", err)
		}
		return 1
	}
	return 0
}

// inspectMount is -i: inspect the guest and mount its filesystems as
// its fstab says, shortest mountpoint first. It returns the lines the
// prompt shows after the banner.
func inspectMount(ctx context.Context, s *shell.Session, readOnly bool) (string, error) {
	plan, mounted, err := mountInspected(ctx, s, readOnly)
	switch {
	case errors.Is(err, inspect.ErrNoOS):
		return "", errors.New("gfs: no operating system was found on this disk\n\n" +
			"If using gfs -i, run gfs without -i, then use ‘run’, ‘list-filesystems’\n" +
			"and ‘mount’ to mount the filesystems by hand.")
	case errors.Is(err, inspect.ErrMultiBoot):
		return "", errors.New("gfs: multi-boot operating systems are not supported by the -i option")
	case err != nil:
		return "", fmt.Errorf("gfs: error: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Operating system: %s\n", plan.OS.ProductName)
	for _, m := range mounted {
		fmt.Fprintf(&b, "%s mounted on %s\n", m.Device, m.Mountpoint)
	}
	if len(mounted) < len(plan.Mounts) {
		fmt.Fprintln(os.Stderr, "gfs: some filesystems could not be mounted (ignored)")
	}
	return b.String() + "\n", nil
}

// mountOption is -m dev[:mountpoint[:options[:fstype]]].
func mountOption(ctx context.Context, s *shell.Session, spec string, readOnly bool) error {
	parts := strings.SplitN(spec, ":", 4)
	dev, mp, opts, fstype := parts[0], "/", "", ""
	if len(parts) > 1 && parts[1] != "" {
		mp = parts[1]
	}
	if len(parts) > 2 {
		opts = parts[2]
	}
	if len(parts) > 3 {
		fstype = parts[3]
	}
	if readOnly && opts == "" {
		opts = "ro"
	}
	var err error
	if fstype != "" {
		err = s.Exec(ctx, api.Lookup("mount-vfs"), []string{opts, fstype, dev, mp}, io.Discard)
	} else {
		err = s.Exec(ctx, api.Lookup("mount-options"), []string{opts, dev, mp}, io.Discard)
	}
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("gfs: error: mount: %v\ngfs: '%s' could not be mounted.", shortErr(err), dev)
	var sb strings.Builder
	if ferr := s.Exec(ctx, api.Lookup("list-filesystems"), nil, &sb); ferr == nil && sb.Len() > 0 {
		msg += "  Did you mean one of these?\n"
		for _, l := range strings.Split(strings.TrimSpace(sb.String()), "\n") {
			d, t, _ := strings.Cut(l, ": ")
			msg += fmt.Sprintf("\t%s (%s)\n", d, t)
		}
		msg = strings.TrimSuffix(msg, "\n")
	}
	return errors.New(msg)
}

func shortErr(err error) string {
	var ae *appliance.Error
	if errors.As(err, &ae) {
		return ae.Msg
	}
	return err.Error()
}

// handleSignals: Ctrl-C during a command cancels it (a second one within
// five seconds, or any Ctrl-C between commands of a script, stops gfs);
// SIGTERM and SIGHUP stop gfs. Stopping kills every appliance so no
// QEMU or temporary directory is left.
func handleSignals(interactive bool) func() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	var once sync.Once
	done := make(chan struct{})
	go func() {
		var last time.Time
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if sig == syscall.SIGINT {
					recent := time.Since(last) < 5*time.Second
					last = time.Now()
					if !recent && shell.Interrupt() {
						fmt.Fprintln(os.Stderr, "gfs: interrupted")
						continue
					}
					if interactive && !recent {
						continue
					}
				}
				fatalSignal.Store(int32(sig.(syscall.Signal)))
				appliance.KillAll()
				os.Exit(128 + int(sig.(syscall.Signal)))
			}
		}
	}()
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

func usage(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprint(bw, `gfs: the guest filesystem shell, a guestfish-compatible offline editor
for virtual machine disk images.

Usage:
  gfs [--options] [cmd [: cmd : cmd ...]]
  gfs appliance build|info|clean
  gfs cat|ls|copy-out|inspect [--options] -a disk.img ...
                       virt-cat, virt-ls, virt-copy-out, virt-inspector
                       (gfs TOOL --help)

Options:
  -a|--add image       Add a disk image (repeatable)
  --format[=raw|qcow2|..]
                       Format of the following -a images (alone: detect)
  -r|--ro              Add the -a images read-only
  -w|--rw              Add the -a images read-write (the default)
  -i|--inspector       Inspect the guest and mount its filesystems
  -m|--mount dev[:mnt[:opts[:fstype]]]
                       Mount dev on mnt (default /)
  -N|--new [file=]type Create a prepared disk (test<N>.img or file);
                       -N help lists the types
  -f|--file file       Read commands from file (#!/usr/bin/gfs -f works)
  -x                   Echo each command before running it
  -v|--verbose         Show the appliance's console and progress
  -n|--no-sync         Do not sync the disks at the end (faster, unsafe)
  --listen             Start a session in the background and print
                       GUESTFISH_PID=…, for eval "$(gfs --listen -a d.img)"
  --csh                Print the --listen line for csh
  --remote[=pid]       Send the commands to that listening gfs
                       (default: $GUESTFISH_PID)
  --accel auto|kvm|tcg Choose QEMU's accelerator (gfs extension)
  --allow-backing      Allow qcow2 images with backing files (gfs extension)
  --force-appliance    Answer every command in the appliance, never with the
                       VM-less reader (also GFS_FORCE_APPLIANCE=1)
  -h|--cmd-help [cmd]  List the commands, or describe one
  --help               Show this help
  -V|--version         Show the version

Without commands, gfs reads commands from the terminal (the ><fs>
prompt, with history and tab completion) or from standard input.
The appliance starts when the first command needs it; 'run' is optional.
Commands on the command line are separated by ':' words:
  gfs --ro -a disk.img -m /dev/sda1 : ls / : cat /etc/fstab
`)
}
