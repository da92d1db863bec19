package api

// grepCommands are grep and guestfish's fixed-option variants of it
// (egrep, fgrepi, zgrep…): one row each, generated because they differ
// only in the options they imply.
func grepCommands() []*Command {
	opts := []Arg{a("extended", Bool), a("fixed", Bool), a("insensitive", Bool), a("compressed", Bool)}
	cmds := []*Command{{Name: "grep", Area: "Files", Where: Agent, Ret: RStringList,
		Args: []Arg{a("regex", String), a("path", Pathname)}, Opts: opts,
		Short: "lines of a file that match a pattern",
		Long:  "Returns the lines of a guest file matching a basic regular expression, as grep does; extended:true takes an extended one, fixed:true a fixed string, insensitive:true ignores case, compressed:true looks inside a gzip, xz, bzip2 or zstd compressed file. No match is an empty list, not an error."}}
	for _, z := range []string{"", "z"} {
		for _, kind := range []string{"", "e", "f"} {
			for _, i := range []string{"", "i"} {
				name := z + kind + "grep" + i
				if name == "grep" {
					continue
				}
				what := map[string]string{"": "basic regular expression", "e": "extended regular expression", "f": "fixed string"}[kind]
				long := "As grep with a " + what
				if i == "i" {
					long += ", ignoring case"
				}
				if z == "z" {
					long += ", looking inside compressed files"
				}
				cmds = append(cmds, &Command{Name: name, Area: "Files", Where: Agent, Ret: RStringList,
					Args:  []Arg{a("regex", String), a("path", Pathname)},
					Short: "grep variant: " + name, Long: long + "."})
			}
		}
	}
	return cmds
}

// GrepFlags are the options a grep variant's name implies.
func GrepFlags(name string) (extended, fixed, insensitive, compressed bool, ok bool) {
	base := name
	if len(base) > 0 && base[0] == 'z' {
		compressed, base = true, base[1:]
	}
	if len(base) > 0 && base[len(base)-1] == 'i' {
		insensitive, base = true, base[:len(base)-1]
	}
	switch base {
	case "grep":
	case "egrep":
		extended = true
	case "fgrep":
		fixed = true
	default:
		return false, false, false, false, false
	}
	return extended, fixed, insensitive, compressed, true
}
