package main

import (
	"fmt"
	"strconv"
	"strings"
)

// options are guestfish's command-line options (plus gfs's own).
type options struct {
	drives       []driveOpt
	readOnly     bool
	inspect      bool
	mounts       []string
	file         string
	trace        bool
	verbose      bool
	version      bool
	cmdHelp      bool
	cmdHelpName  string
	help         bool
	newDisks     []string
	listen       bool
	csh          bool
	remote       bool
	remotePID    int
	noSync       bool
	accel        string
	allowBacking bool
	// forceAppliance turns off the VM-less reader (also
	// GFS_FORCE_APPLIANCE=1).
	forceAppliance bool
	commands       []string // the rest: commands separated by ":"
}

type driveOpt struct {
	path, format string
}

type optSpec struct {
	short string // one letter or ""
	long  string
	arg   int // 0 none, 1 required, 2 optional (only as --long=value)
}

var specs = []optSpec{
	{"a", "add", 1}, {"", "format", 2}, {"r", "ro", 0}, {"w", "rw", 0},
	{"i", "inspector", 0}, {"m", "mount", 1}, {"f", "file", 1}, {"x", "", 0},
	{"v", "verbose", 0}, {"V", "version", 0}, {"h", "cmd-help", 0}, {"", "help", 0},
	{"N", "new", 1}, {"", "listen", 0}, {"", "csh", 0}, {"", "remote", 2},
	{"n", "no-sync", 0}, {"", "accel", 1}, {"", "allow-backing", 0}, {"", "force-appliance", 0},
	// Accepted for compatibility, no effect in gfs.
	{"", "selinux", 0}, {"", "progress-bars", 0}, {"", "no-progress-bars", 0},
	{"", "no-dest-paths", 0}, {"", "pipe-error", 0}, {"", "network", 0},
	{"", "echo-keys", 0}, {"", "keys-from-stdin", 0},
	// Not available in gfs: a clear error rather than "unrecognized".
	{"d", "domain", 1}, {"c", "connect", 1}, {"", "key", 1}, {"", "blocksize", 2},
}

func findSpec(short, long string) *optSpec {
	for i := range specs {
		if (short != "" && specs[i].short == short) || (long != "" && specs[i].long == long) {
			return &specs[i]
		}
	}
	return nil
}

type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

// parseOptions reads options up to the first non-option word (or --);
// everything after is commands. Like getopt, -m and -N arguments may
// follow the letter directly (-ad.img) and flags may be grouped (-rx).
func parseOptions(args []string) (*options, error) {
	o := &options{}
	format := ""
	i := 0
	apply := func(sp *optSpec, val string, hasVal bool) error {
		name := sp.long
		if name == "" {
			name = sp.short
		}
		switch name {
		case "add":
			o.drives = append(o.drives, driveOpt{val, format})
		case "format":
			format = val // --format alone: detect again
			if !hasVal {
				format = ""
			}
		case "ro":
			o.readOnly = true
		case "rw":
			o.readOnly = false
		case "inspector":
			o.inspect = true
		case "mount":
			o.mounts = append(o.mounts, val)
		case "file":
			o.file = val
		case "x":
			o.trace = true
		case "verbose":
			o.verbose = true
		case "version":
			o.version = true
		case "cmd-help":
			o.cmdHelp = true
		case "help":
			o.help = true
		case "new":
			o.newDisks = append(o.newDisks, val)
		case "listen":
			o.listen = true
		case "csh":
			o.csh = true
		case "remote":
			o.remote = true
			if hasVal {
				pid, err := strconv.Atoi(val)
				if err != nil || pid <= 0 {
					return &usageErr{fmt.Sprintf("--remote=%s: not a process id", val)}
				}
				o.remotePID = pid
			}
		case "no-sync":
			o.noSync = true
		case "accel":
			switch val {
			case "auto", "kvm", "tcg":
				o.accel = val
			default:
				return &usageErr{fmt.Sprintf("--accel %s: use auto, kvm or tcg", val)}
			}
		case "allow-backing":
			o.allowBacking = true
		case "force-appliance":
			o.forceAppliance = true
		case "domain", "connect":
			return &usageErr{fmt.Sprintf("--%s: libvirt guests are not supported: add the disk images with -a IMAGE", name)}
		case "key":
			return &usageErr{"--key: encrypted (LUKS) disks are not supported yet"}
		case "blocksize":
			if hasVal && val != "512" {
				return &usageErr{fmt.Sprintf("--blocksize=%s: only 512-byte sectors are supported", val)}
			}
		}
		return nil
	}
	for i < len(args) {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			sp := findSpec("", name)
			if sp == nil {
				return nil, &usageErr{fmt.Sprintf("unrecognized option '--%s'", name)}
			}
			switch sp.arg {
			case 0:
				if hasVal {
					return nil, &usageErr{fmt.Sprintf("option '--%s' doesn't allow an argument", name)}
				}
			case 1:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, &usageErr{fmt.Sprintf("option '--%s' requires an argument", name)}
					}
					i++
					val = args[i]
					hasVal = true
				}
			}
			if err := apply(sp, val, hasVal); err != nil {
				return nil, err
			}
			i++
			continue
		}
		// Short options, possibly grouped.
		letters := a[1:]
		for j := 0; j < len(letters); j++ {
			sp := findSpec(string(letters[j]), "")
			if sp == nil {
				return nil, &usageErr{fmt.Sprintf("invalid option -- '%c'", letters[j])}
			}
			if sp.arg == 1 {
				val := letters[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, &usageErr{fmt.Sprintf("option requires an argument -- '%c'", letters[j])}
					}
					i++
					val = args[i]
				}
				if err := apply(sp, val, true); err != nil {
					return nil, err
				}
				break
			}
			if err := apply(sp, "", false); err != nil {
				return nil, err
			}
		}
		i++
	}
	o.commands = args[i:]
	// -h CMD: the next word is the command to describe.
	if o.cmdHelp && len(o.commands) > 0 {
		o.cmdHelpName = o.commands[0]
		o.commands = o.commands[1:]
	}
	return o, nil
}
