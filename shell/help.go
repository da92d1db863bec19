package shell

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"gfs/appliance/api"
)

// Banner is printed when the shell starts on a terminal.
const Banner = `
Welcome to gfs, the guest filesystem shell for
editing virtual machine filesystems and disk images.

Type: ‘help’ for help on commands
      ‘man’ to read the manual
      ‘quit’ to quit the shell

`

// Prompt is the interactive prompt.
const Prompt = "><fs> "

// gettingStarted is `help` without arguments.
func gettingStarted(w io.Writer, launched bool) {
	if !launched {
		fmt.Fprint(w, `Add disk images to examine using the ‘-a’ option or the ‘add’ command,
or create a new disk image using ‘-N’, or the ‘alloc’ or ‘sparse’ commands.
Then use the ‘run’ command (optional in gfs: the first command that needs
the appliance starts it).

`)
	} else {
		fmt.Fprint(w, `Use ‘list-filesystems’ to see the filesystems, then ‘mount’ or ‘mount-ro’
one of them on / to examine or change its files.

`)
	}
	fmt.Fprint(w, `For more information about a command, use ‘help cmd’.
To list every command, use ‘help --list’.

To read the manual, type ‘man’.

`)
}

// ListCommands prints every command and alias with its one-line
// description, help and quit first, as `gfs -h` and `help --list` do.
func ListCommands(w io.Writer) {
	fmt.Fprintf(w, "    %-20s %s\n", "Command", "Description")
	fmt.Fprintf(w, "%-20s %s\n", "help", api.Lookup("help").Short)
	fmt.Fprintf(w, "%-20s %s\n", "quit", api.Lookup("quit").Short)
	type row struct{ name, desc string }
	var rows []row
	for _, c := range api.Commands {
		if c.Name != "help" && c.Name != "quit" {
			rows = append(rows, row{c.Name, c.Short})
		}
		for _, a := range c.Aliases {
			rows = append(rows, row{a, fmt.Sprintf("alias for '%s'", c.Name)})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	for _, r := range rows {
		fmt.Fprintf(w, "%-20s %s\n", r.name, r.desc)
	}
	fmt.Fprintln(w, "    Use -h <cmd> / help <cmd> to show detailed help for a command.")
}

// CommandHelp prints NAME, SYNOPSIS and DESCRIPTION of a command, as
// `help CMD` and `gfs -h CMD` do. It returns false for an unknown name.
func CommandHelp(w io.Writer, name string) bool {
	c := api.Lookup(name)
	if c == nil {
		return false
	}
	fmt.Fprintf(w, "NAME\n    %s - %s\n\nSYNOPSIS\n     %s\n\nDESCRIPTION\n", c.Name, c.Short, c.Synopsis())
	for _, para := range paragraphs(c) {
		fmt.Fprint(w, wrap(para, 72, "    "))
		fmt.Fprintln(w)
	}
	return true
}

// paragraphs is the description of a command: the table text plus the
// notes every command of its kind shares.
func paragraphs(c *api.Command) []string {
	out := []string{c.Long}
	if len(c.Opts) > 0 {
		var names []string
		for _, o := range c.Opts {
			names = append(names, o.Name+":"+o.Kind.String())
		}
		out = append(out, "Optional arguments are given as name:value after the others: "+strings.Join(names, ", ")+".")
	}
	if c.Writes {
		out = append(out, "This command changes the guest: it is refused when the disk it would change was added read-only.")
	}
	if len(c.Aliases) > 0 {
		q := make([]string, len(c.Aliases))
		for i, a := range c.Aliases {
			q[i] = "'" + a + "'"
		}
		out = append(out, fmt.Sprintf("You can use %s as an alias for this command.", strings.Join(q, " or ")))
	}
	return out
}

// wrap fills text to width columns with an indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(w) > width+len(indent) {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}
