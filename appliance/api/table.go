package api

import (
	"reflect"
	"sort"
	"strings"
)

// Kind is the type of a command argument. It decides how the shell
// parses the word, what tab completion offers, and how the value is sent.
type Kind int

const (
	String     Kind = iota // any text
	Device                 // /dev/sda, /dev/sda1, /dev/VG/LV
	Mountable              // a device or btrfsvol:/dev/sdX/subvol
	Pathname               // an absolute path in the guest
	Int                    // C radix: 0755 is octal, 0x1f hex
	Int64                  // as Int, also with size suffixes (10M)
	Bool                   // true/false, yes/no, on/off, 1/0
	StringList             // one word holding a space-separated list
	DeviceList             // as StringList, of devices
	FileIn                 // host file (or "-" for stdin) streamed to the guest
	FileOut                // host file (or "-" for stdout) streamed from the guest
	HostPath               // a path on the host
	CmdName                // a shell command name (help, glob)
)

var kindNames = [...]string{"string", "device", "mountable", "pathname", "int", "int64", "bool",
	"stringlist", "devicelist", "filein", "fileout", "hostpath", "command"}

func (k Kind) String() string { return kindNames[k] }

// Completion is what tab completion offers for an argument kind.
type Completion int

const (
	CompleteNone Completion = iota
	CompleteCommand
	CompleteDevice    // devices, partitions, LVs of the running appliance
	CompleteGuestPath // looked up live in the guest
	CompleteHostPath
)

// Complete says how to complete an argument of this kind.
func (k Kind) Complete() Completion {
	switch k {
	case Device, Mountable, DeviceList:
		return CompleteDevice
	case Pathname:
		return CompleteGuestPath
	case FileIn, FileOut, HostPath:
		return CompleteHostPath
	case CmdName:
		return CompleteCommand
	}
	return CompleteNone
}

// Arg is a named argument.
type Arg struct {
	Name string
	Kind Kind
}

// RetKind is the shape of a command's result; it decides how the shell
// prints it (exactly as guestfish does for the same kind).
type RetKind int

const (
	RErr        RetKind = iota // nothing
	RBool                      // true / false
	RInt                       // a number
	RInt64                     // a number
	RString                    // a line of text
	RStringList                // one item per line
	RHashtable                 // key: value lines (sent flattened: k, v, k, v…)
	RStruct                    // field: value lines
	RStructList                // [N] = { … } blocks
	RBufferOut                 // raw bytes, printed as they are
)

// Where says who implements a command.
type Where int

const (
	Agent Where = iota // the appliance agent, call name = command name
	Host               // gfs itself, on top of agent calls or the VM-less reader
	Shell              // the interactive shell only (lcd, echo, quit…)
)

// IntFormat is the base in which the shell prints an RInt result.
type IntFormat int

const (
	IntDecimal IntFormat = iota
	IntOctal             // with a leading 0, as guestfish prints umask
	IntHex               // with a leading 0x, as guestfish prints MBR ids
)

// Command is one row of the table.
type Command struct {
	Name    string
	Aliases []string
	Area    string
	Args    []Arg
	Opts    []Arg // optional arguments, given as name:value
	Ret     RetKind
	Struct  reflect.Type // the element type for RStruct/RStructList
	Short   string       // one line for help listings
	Long    string       // the full description
	Writes  bool         // changes the guest: refused on read-only drives
	Where   Where
	// NoLaunch: usable before the appliance runs (add, help, lcd…).
	NoLaunch bool
	// ReadOnlyFast: may be answered by the VM-less reader.
	ReadOnlyFast bool
	// IntFormat is how an RInt result is printed.
	IntFormat IntFormat
	// VarArgs: the command takes a variable number of words (echo,
	// copy-in…); the shell checks them itself and Usage is the synopsis.
	VarArgs bool
	Usage   string
}

// Synopsis is the usage line as guestfish writes it: name, arguments,
// then the options as [name:true|false], [name:N] or [name:..].
func (c *Command) Synopsis() string {
	if c.Usage != "" {
		return c.Usage
	}
	var b strings.Builder
	b.WriteString(c.Name)
	for _, a := range c.Args {
		b.WriteString(" " + a.Name)
	}
	for _, o := range c.Opts {
		switch o.Kind {
		case Bool:
			b.WriteString(" [" + o.Name + ":true|false]")
		case Int, Int64:
			b.WriteString(" [" + o.Name + ":N]")
		default:
			b.WriteString(" [" + o.Name + ":..]")
		}
	}
	return b.String()
}

var byName map[string]*Command

func init() {
	byName = map[string]*Command{}
	for _, c := range Commands {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if _, dup := byName[n]; dup {
				panic("api: duplicate command " + n)
			}
			byName[n] = c
		}
	}
}

// Lookup finds a command by name or alias. Like guestfish it also
// accepts underscores for dashes (add_drive = add-drive).
func Lookup(name string) *Command {
	if c := byName[name]; c != nil {
		return c
	}
	return byName[strings.ReplaceAll(name, "_", "-")]
}

// Names returns every command name and alias, sorted, for completion.
func Names() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Sorted returns the commands sorted by name.
func Sorted() []*Command {
	out := append([]*Command(nil), Commands...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
