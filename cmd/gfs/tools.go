package main

// gfs cat, gfs ls and gfs copy-out: virt-cat, virt-ls and virt-copy-out.
// Each adds the images read-only to a shell Session, finds the guest's
// operating system and mounts its filesystems as -i does (or mounts
// what -m names), then runs shell commands: they ride the VM-less
// reader while it can answer and fall back to the appliance otherwise,
// as any read-only shell command does.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"gfs/appliance"
	"gfs/appliance/api"
	"gfs/appliance/proto"
	"gfs/inspect"
	"gfs/shell"
)

// toolOpt is one option of a tool. arg: 0 none, 1 required, 2 optional
// (only as --long=value, as getopt's optional arguments).
type toolOpt struct {
	short string
	long  string
	arg   int
	key   string // what apply sees; defaults to long, else short
}

// commonToolOpts are the options every tool takes (those of the C
// virt-* tools, plus gfs's own).
var commonToolOpts = []toolOpt{
	{"a", "add", 1, "add"}, {"", "format", 2, "format"}, {"m", "mount", 1, "mount"},
	{"v", "verbose", 0, "verbose"}, {"x", "", 0, "x"}, {"V", "version", 0, "version"},
	{"", "help", 0, "help"}, {"", "force-appliance", 0, "force-appliance"},
	{"", "allow-backing", 0, "allow-backing"}, {"", "accel", 1, "accel"},
	{"", "echo-keys", 0, "ignore"}, {"", "keys-from-stdin", 0, "ignore"},
	{"d", "domain", 1, "domain"}, {"c", "connect", 1, "connect"}, {"", "key", 1, "key"},
	{"", "blocksize", 2, "blocksize"},
}

var lsToolOpts = []toolOpt{
	{"l", "long", 0, "long"}, {"R", "recursive", 0, "recursive"},
	{"h", "human-readable", 0, "human"}, {"", "csv", 0, "csv"},
	{"", "checksum", 2, "checksum"}, {"", "checksums", 2, "checksum"},
	{"", "extra-stats", 0, "extra-stats"}, {"", "extra-stat", 0, "extra-stats"},
	{"", "times", 0, "times"}, {"", "time", 0, "times"},
	{"", "time-days", 0, "time-days"}, {"", "time-relative", 0, "time-relative"},
	{"", "time-t", 0, "time-t"}, {"", "uids", 0, "uids"}, {"", "uid", 0, "uids"},
}

// copy-out is guestfish --ro -i copy-out: guestfish's -r/-i are
// accepted (they are what the tool does anyway).
var copyOutToolOpts = []toolOpt{
	{"r", "ro", 0, "ignore"}, {"i", "inspector", 0, "ignore"},
}

// toolConfig is a parsed tool command line.
type toolConfig struct {
	prog           string // "gfs cat"
	drives         []appliance.Drive
	mounts         []string
	verbose, trace bool
	forceAppliance bool
	allowBacking   bool
	accel          string
	args           []string
	help, version  bool
	// gfs ls
	long, recursive, human, csv, uids, times, extraStats bool
	timeT                                                bool
	timeRelative                                         int // 0 dates or time_t, 1 seconds, 2 days
	checksum                                             string
}

type toolUsageErr struct {
	msg  string
	hint bool // add "Try ‘gfs TOOL --help’"
}

func (e *toolUsageErr) Error() string { return e.msg }

// parseToolArgs reads a tool's command line as getopt_long does:
// options and operands may be mixed, "--" ends the options, long
// options may be abbreviated to a unique prefix, short ones grouped.
func parseToolArgs(prog string, args []string, extra []toolOpt) (*toolConfig, error) {
	c := &toolConfig{prog: prog}
	opts := append(append([]toolOpt(nil), commonToolOpts...), extra...)
	format, formatUsed := "", true
	apply := func(o toolOpt, val string, hasVal bool, i *int) error {
		switch o.key {
		case "add":
			c.drives = append(c.drives, appliance.Drive{Path: val, Name: val, Format: format, ReadOnly: true})
			formatUsed = true
		case "format":
			// --format=FMT, or --format alone to detect again; like gfs
			// inspect, "--format FMT" is also read when FMT is a format
			// name (a guest path never is one).
			if !hasVal && *i+1 < len(args) && isFormatName(args[*i+1]) {
				*i++
				val, hasVal = args[*i], true
			}
			format = val
			if !hasVal || val == "auto" {
				format = ""
			}
			formatUsed = false
		case "mount":
			c.mounts = append(c.mounts, val)
		case "verbose":
			c.verbose = true
		case "x":
			c.trace = true
		case "version":
			c.version = true
		case "help":
			c.help = true
		case "force-appliance":
			c.forceAppliance = true
		case "allow-backing":
			c.allowBacking = true
		case "accel":
			if val != "auto" && val != "kvm" && val != "tcg" {
				return &toolUsageErr{msg: fmt.Sprintf("--accel %s: use auto, kvm or tcg", val)}
			}
			c.accel = val
		case "domain", "connect":
			return &toolUsageErr{msg: fmt.Sprintf("--%s: libvirt guests are not supported: add the disk images with -a IMAGE", o.key)}
		case "key":
			return &toolUsageErr{msg: "--key: encrypted (LUKS) disks are not supported yet"}
		case "blocksize":
			if hasVal && val != "512" {
				return &toolUsageErr{msg: fmt.Sprintf("--blocksize=%s: only 512-byte sectors are supported", val)}
			}
		case "long":
			c.long = true
		case "recursive":
			c.recursive = true
		case "human":
			c.human = true
		case "csv":
			c.csv = true
		case "checksum":
			c.checksum = val
			if !hasVal || val == "" {
				c.checksum = "md5"
			}
		case "extra-stats":
			c.extraStats = true
		case "times":
			c.times = true
		case "time-t":
			c.times, c.timeT, c.timeRelative = true, true, 0
		case "time-relative":
			c.times, c.timeT, c.timeRelative = true, true, 1
		case "time-days":
			c.times, c.timeT, c.timeRelative = true, true, 2
		case "uids":
			c.uids = true
		}
		return nil
	}
	findLong := func(name string) (toolOpt, error) {
		var hits []toolOpt
		for _, o := range opts {
			if o.long == name {
				return o, nil
			}
			if o.long != "" && strings.HasPrefix(o.long, name) {
				hits = append(hits, o)
			}
		}
		switch {
		case len(hits) == 1:
			return hits[0], nil
		case len(hits) > 1 && sameKey(hits):
			return hits[0], nil
		case len(hits) > 1:
			return toolOpt{}, &toolUsageErr{msg: fmt.Sprintf("option '--%s' is ambiguous", name), hint: true}
		}
		return toolOpt{}, &toolUsageErr{msg: fmt.Sprintf("unrecognized option '--%s'", name), hint: true}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			c.args = append(c.args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			c.args = append(c.args, a)
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			o, err := findLong(name)
			if err != nil {
				return nil, err
			}
			switch o.arg {
			case 0:
				if hasVal {
					return nil, &toolUsageErr{msg: fmt.Sprintf("option '--%s' doesn't allow an argument", o.long), hint: true}
				}
			case 1:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, &toolUsageErr{msg: fmt.Sprintf("option '--%s' requires an argument", o.long), hint: true}
					}
					i++
					val, hasVal = args[i], true
				}
			}
			if err := apply(o, val, hasVal, &i); err != nil {
				return nil, err
			}
			continue
		}
		letters := a[1:]
		for j := 0; j < len(letters); j++ {
			var o toolOpt
			found := false
			for _, x := range opts {
				if x.short == string(letters[j]) {
					o, found = x, true
					break
				}
			}
			if !found {
				return nil, &toolUsageErr{msg: fmt.Sprintf("invalid option -- '%c'", letters[j]), hint: true}
			}
			if o.arg == 1 {
				val := letters[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, &toolUsageErr{msg: fmt.Sprintf("option requires an argument -- '%c'", letters[j]), hint: true}
					}
					i++
					val = args[i]
				}
				if err := apply(o, val, true, &i); err != nil {
					return nil, err
				}
				break
			}
			if err := apply(o, "", false, &i); err != nil {
				return nil, err
			}
		}
	}
	if !formatUsed && !c.help && !c.version {
		return nil, &toolUsageErr{msg: "--format parameter must appear before -a parameter"}
	}
	return c, nil
}

func sameKey(os []toolOpt) bool {
	for _, o := range os[1:] {
		if o.key != os[0].key {
			return false
		}
	}
	return true
}

// toolUsageLine is the first help line of each tool.
var toolUsage = map[string]string{
	"cat": `gfs cat: display files in a virtual machine (virt-cat)
Usage:
  gfs cat [--options] -a disk.img [-a disk.img ...] file [file ...]
Options:
  -a|--add image       Add image (read-only; repeatable)
  --format[=raw|qcow2|..]
                       Force disk format for the following -a options
  -m|--mount dev[:mnt[:opts[:fstype]]]
                       Mount dev on mnt (if omitted, /) instead of
                       inspecting the guest
  -v|--verbose         Verbose messages (which reader answered)
  -x                   Trace the commands run
  --force-appliance    Always use the appliance (also GFS_FORCE_APPLIANCE=1)
  --allow-backing      Let qcow2 images use backing files
  --accel auto|kvm|tcg Choose QEMU's accelerator when the appliance is needed
  -V|--version         Display version and exit
  --help               Display brief help
`,
	"ls": `gfs ls: list files in a virtual machine (virt-ls)
Usage:
  gfs ls [--options] -a disk.img [-a disk.img ...] dir [dir ...]
Options:
  -a|--add image       Add image (read-only; repeatable)
  --checksum[=...]     Display file checksums (crc md5 sha1 sha224 sha256
                       sha384 sha512; default md5)
  --csv                Comma-Separated Values output
  --extra-stats        Display extra stats
  --format[=raw|qcow2|..]
                       Force disk format for the following -a options
  -h|--human-readable  Human-readable sizes in output
  -l|--long            Long listing
  -m|--mount dev[:mnt[:opts[:fstype]]]
                       Mount dev on mnt (if omitted, /) instead of
                       inspecting the guest
  -R|--recursive       Recursive listing
  --times              Display file times
  --time-days          Display file times as days before now
  --time-relative      Display file times as seconds before now
  --time-t             Display file times as time_t's
  --uids               Display UID, GID
  -v|--verbose         Verbose messages (which reader answered)
  -x                   Trace the commands run
  --force-appliance    Always use the appliance (also GFS_FORCE_APPLIANCE=1)
  --allow-backing      Let qcow2 images use backing files
  --accel auto|kvm|tcg Choose QEMU's accelerator when the appliance is needed
  -V|--version         Display version and exit
  --help               Display brief help
--csv, -h, --checksum, --extra-stats, --times and --uids need -lR.
`,
	"copy-out": `gfs copy-out: copy files out of a virtual machine (virt-copy-out)
Usage:
  gfs copy-out [--options] -a disk.img [-a disk.img ...] path [path ...] hostdir
Options:
  -a|--add image       Add image (read-only; repeatable)
  --format[=raw|qcow2|..]
                       Force disk format for the following -a options
  -m|--mount dev[:mnt[:opts[:fstype]]]
                       Mount dev on mnt (if omitted, /) instead of
                       inspecting the guest
  -v|--verbose         Verbose messages (which reader answered)
  -x                   Trace the commands run
  --force-appliance    Always use the appliance (also GFS_FORCE_APPLIANCE=1)
  --allow-backing      Let qcow2 images use backing files
  --accel auto|kvm|tcg Choose QEMU's accelerator when the appliance is needed
  -V|--version         Display version and exit
  --help               Display brief help
Directories are copied recursively; nothing is ever written outside hostdir.
`,
}

// toolCmd runs gfs cat, ls or copy-out.
func toolCmd(tool string, args []string, stdout, stderr io.Writer) int {
	prog := "gfs " + tool
	var extra []toolOpt
	switch tool {
	case "ls":
		extra = lsToolOpts
	case "copy-out":
		extra = copyOutToolOpts
	}
	c, err := parseToolArgs(prog, args, extra)
	if err != nil {
		var ue *toolUsageErr
		if errors.As(err, &ue) && !ue.hint {
			fmt.Fprintf(stderr, "%s: %s\n", prog, ue.msg)
			return 1
		}
		fmt.Fprintf(stderr, "%s: %v\nTry ‘%s --help’ for more information.\n", prog, err, prog)
		return 1
	}
	switch {
	case c.help:
		io.WriteString(stdout, toolUsage[tool])
		return 0
	case c.version:
		fmt.Fprintf(stdout, "%s %s\n", prog, Version)
		return 0
	}
	if tool == "ls" {
		if (!c.long || !c.recursive) && (c.csv || c.human || c.uids || c.times || c.extraStats || c.checksum != "") {
			fmt.Fprintf(stderr, "%s: used a flag which can only be combined with -lR mode\n", prog)
			return 1
		}
		if c.human && c.csv {
			fmt.Fprintf(stderr, "%s: you cannot use -h and --csv options together.\n", prog)
			return 1
		}
		if c.checksum != "" && shell.NewChecksum(c.checksum) == nil {
			fmt.Fprintf(stderr, "%s: --checksum=%s: unknown checksum type: use crc, md5, sha1, sha224, sha256, sha384 or sha512\n", prog, c.checksum)
			return 1
		}
	}
	// Old-style syntax (no -a): the first operands are the images, the
	// last one the file or directory (virt-cat disk.img /etc/fstab).
	if len(c.drives) == 0 && tool != "copy-out" && len(c.args) >= 2 {
		for _, a := range c.args[:len(c.args)-1] {
			c.drives = append(c.drives, appliance.Drive{Path: a, Name: a, ReadOnly: true})
		}
		c.args = c.args[len(c.args)-1:]
	}
	minArgs := 1
	if tool == "copy-out" {
		minArgs = 2
	}
	if len(c.args) < minArgs {
		what := map[string]string{"cat": "a file to display", "ls": "a directory to list",
			"copy-out": "the guest paths to copy and the host directory to copy them into"}[tool]
		fmt.Fprintf(stderr, "%s: error: missing %s\nTry ‘%s --help’ for more information.\n", prog, what, prog)
		return 1
	}
	if len(c.drives) == 0 {
		fmt.Fprintf(stderr, "%s: error: you must specify at least one -a option.\nTry ‘%s --help’ for more information.\n", prog, prog)
		return 1
	}
	for _, d := range c.drives {
		if st, err := os.Stat(d.Path); err != nil {
			fmt.Fprintf(stderr, "%s: error: %s: %s\n", prog, d.Path, strerror(unwrapPathErr(err)))
			return 1
		} else if st.IsDir() {
			fmt.Fprintf(stderr, "%s: error: %s: is a directory, not a disk image\n", prog, d.Path)
			return 1
		}
	}
	if tool == "copy-out" {
		// Checked before any image is read, as guestfish's copy-out
		// checks it before copying.
		local := c.args[len(c.args)-1]
		if st, err := os.Stat(local); err != nil {
			fmt.Fprintf(stderr, "%s: error: %s: %s\n", prog, local, strerror(unwrapPathErr(err)))
			return 1
		} else if !st.IsDir() {
			fmt.Fprintf(stderr, "%s: error: target '%s' is not a directory\n", prog, local)
			return 1
		}
	}
	if os.Getenv("GFS_FORCE_APPLIANCE") == "1" {
		c.forceAppliance = true
	}

	s := shell.New(shell.Options{
		Accel: c.accel, AllowBacking: c.allowBacking, Verbose: c.verbose, Trace: c.trace,
		Stdout: stdout, Stderr: stderr, Stdin: strings.NewReader(""), ForceAppliance: c.forceAppliance,
	})
	stopSignals := handleSignals(false)
	defer stopSignals()
	ctx := context.Background()
	code := 0
	defer func() {
		if err := s.Close(); err != nil && code == 0 {
			fmt.Fprintf(stderr, "gfs: error: %v\n", err)
		}
	}()
	for _, d := range c.drives {
		if err := s.AddDrive(d); err != nil {
			fmt.Fprintf(stderr, "%s: error: %s: %v\n", prog, d.Path, err)
			code = 1
			return code
		}
	}
	if len(c.mounts) > 0 {
		for _, m := range c.mounts {
			if !toolMount(ctx, s, prog, m, stderr) {
				code = 1
				return code
			}
		}
	} else if plan, mounted, err := mountInspected(ctx, s, true); err == nil {
		if len(mounted) < len(plan.Mounts) {
			fmt.Fprintf(stderr, "%s: some filesystems could not be mounted (ignored)\n", prog)
		}
	} else {
		switch {
		case errors.Is(err, inspect.ErrNoOS):
			fmt.Fprintf(stderr, "%s: error: no operating system was found on this disk: name the filesystems to use with -m DEVICE[:MOUNTPOINT]\n", prog)
		case errors.Is(err, inspect.ErrMultiBoot):
			fmt.Fprintf(stderr, "%s: error: this disk holds several operating systems: name the filesystems to use with -m DEVICE[:MOUNTPOINT]\n", prog)
		default:
			fmt.Fprintf(stderr, "%s: error: %v\n", prog, err)
		}
		code = 1
		return code
	}
	switch tool {
	case "cat":
		code = catTool(ctx, s, c, stdout)
	case "ls":
		code = lsTool(ctx, s, c, stdout)
	case "copy-out":
		if s.RunTo(ctx, "copy-out", c.args, stdout) != nil {
			code = 1
		}
	}
	return code
}

// mountInspected is -i, for the shell and the tools alike: inspect the
// guest (without the appliance when the VM-less reader can), then
// mount the filesystems of its single operating system as its fstab
// says, parents first, read-only when readOnly. A filesystem that
// cannot be mounted is left out (mounted lists those that were).
// inspect.ErrNoOS and inspect.ErrMultiBoot say why nothing was mounted.
func mountInspected(ctx context.Context, s *shell.Session, readOnly bool) (plan *inspect.MountPlan, mounted []inspect.Mountpoint, err error) {
	oses, err := s.Inspect(ctx, false)
	if err != nil {
		return nil, nil, fmt.Errorf("inspection: %w", err)
	}
	plan, err = inspect.PlanMount(oses)
	if err != nil {
		return nil, nil, err
	}
	opts := ""
	if readOnly {
		opts = "ro"
	}
	for _, m := range plan.Mounts {
		if err := s.Exec(ctx, api.Lookup("mount-options"), []string{opts, m.Device, m.Mountpoint}, io.Discard); err != nil {
			continue
		}
		mounted = append(mounted, m)
	}
	return plan, mounted, nil
}

// toolMount is a tool's -m dev[:mountpoint[:options[:fstype]]],
// always read-only unless options say otherwise. A failure is reported
// as the virt tools do: the error, then the filesystems there are.
func toolMount(ctx context.Context, s *shell.Session, prog, spec string, stderr io.Writer) bool {
	parts := strings.SplitN(spec, ":", 4)
	dev, mp, opts := parts[0], "/", "ro"
	if len(parts) > 1 && parts[1] != "" {
		mp = parts[1]
	}
	if len(parts) > 2 && parts[2] != "" {
		opts = parts[2]
	}
	var err error
	name := "mount-options"
	if len(parts) > 3 && parts[3] != "" {
		name = "mount-vfs"
		err = s.RunTo(ctx, name, []string{opts, parts[3], dev, mp}, io.Discard)
	} else {
		err = s.RunTo(ctx, name, []string{opts, dev, mp}, io.Discard)
	}
	if err == nil {
		return true
	}
	fmt.Fprintf(stderr, "%s: ‘%s’ could not be mounted.\n", prog, dev)
	var sb strings.Builder
	if s.Exec(ctx, api.Lookup("list-filesystems"), nil, &sb) == nil && sb.Len() > 0 {
		fmt.Fprintf(stderr, "%s: Did you mean to mount one of these filesystems?\n", prog)
		for _, l := range strings.Split(strings.TrimSpace(sb.String()), "\n") {
			d, t, _ := strings.Cut(l, ": ")
			fmt.Fprintf(stderr, "%s: \t%s (%s)\n", prog, d, t)
		}
	}
	return false
}

// catTool is virt-cat: each file's bytes as they are, one after the
// other; a file that cannot be read is reported and the others still
// printed, and the exit status is then 1.
func catTool(ctx context.Context, s *shell.Session, c *toolConfig, stdout io.Writer) int {
	code := 0
	for _, f := range c.args {
		if s.RunTo(ctx, "download", []string{f, "-"}, stdout) != nil {
			code = 1
		}
	}
	return code
}

// strerror is an errno's text as C's strerror gives it.
func strerror(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return proto.Strerror(en)
	}
	return err.Error()
}
