package shell

import (
	"fmt"
	"math"
	"math/big"
	"strings"

	"gfs/appliance/api"
)

// UsageError is a wrong number of arguments or an unknown command: it is
// printed as it is, without the script:line prefix (as guestfish does).
type UsageError struct {
	Msg string
	cmd *api.Command
}

func (e *UsageError) Error() string { return e.Msg }

// ArgError is an argument that does not parse as its kind.
type ArgError struct{ Msg string }

func (e *ArgError) Error() string { return e.Msg }

func usageError(cmd *api.Command, typed string) error {
	return &UsageError{Msg: fmt.Sprintf("error: incorrect number of arguments\nusage: %s\ntype 'help %s' for more help on %s", cmd.Synopsis(), typed, typed), cmd: cmd}
}

// ParseInt parses a number as C's strtoll with base 0 does (0755 is
// octal, 0x1f hex), followed by an optional size suffix: K M G T P E
// (powers of 1024, also written KiB…), KB MB… (powers of 1000).
func ParseInt(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	i := 0
	neg := false
	if s[i] == '+' || s[i] == '-' {
		neg = s[i] == '-'
		i++
	}
	base := 10
	switch {
	case strings.HasPrefix(s[i:], "0x") || strings.HasPrefix(s[i:], "0X"):
		if i+2 < len(s) && hexVal(s[i+2]) >= 0 {
			base = 16
			i += 2
		}
	case strings.HasPrefix(s[i:], "0"):
		base = 8
	}
	start := i
	for i < len(s) && digitOK(s[i], base) {
		i++
	}
	if i == start {
		return 0, fmt.Errorf("not a number")
	}
	v, ok := new(big.Int).SetString(s[start:i], base)
	if !ok {
		return 0, fmt.Errorf("not a number")
	}
	if neg {
		v.Neg(v)
	}
	if i < len(s) {
		mult, err := suffixMultiplier(s[i:])
		if err != nil {
			return 0, err
		}
		v.Mul(v, mult)
	}
	if !v.IsInt64() {
		return 0, fmt.Errorf("overflow")
	}
	return v.Int64(), nil
}

func digitOK(c byte, base int) bool {
	switch base {
	case 8:
		return c >= '0' && c <= '7'
	case 16:
		return hexVal(c) >= 0
	}
	return c >= '0' && c <= '9'
}

func suffixMultiplier(suf string) (*big.Int, error) {
	exp := strings.IndexByte("kMGTPEZY", suf[0])
	if suf[0] == 'K' {
		exp = 0
	}
	if exp < 0 {
		return nil, fmt.Errorf("invalid suffix %q", suf)
	}
	var base int64
	switch suf[1:] {
	case "", "iB":
		base = 1024
	case "B", "D":
		base = 1000
	default:
		return nil, fmt.Errorf("invalid suffix %q", suf)
	}
	return new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(exp+1)), nil), nil
}

// ParseBool accepts true/false, yes/no, y/n, on/off, t/f and 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, &ArgError{fmt.Sprintf("gfs: '%s': invalid boolean value, use 'true' or 'false'", s)}
}

// convert parses one word as an argument of kind k.
func convert(cmd *api.Command, a api.Arg, word string) (any, error) {
	switch a.Kind {
	case api.Int, api.Int64:
		n, err := ParseInt(word)
		if err != nil {
			return nil, &ArgError{fmt.Sprintf("%s: %s: invalid integer parameter (%v)", cmd.Name, a.Name, err)}
		}
		if a.Kind == api.Int && (n < math.MinInt32 || n > math.MaxInt32) {
			return nil, &ArgError{fmt.Sprintf("%s: %s: integer out of range", cmd.Name, a.Name)}
		}
		return n, nil
	case api.Bool:
		return ParseBool(word)
	case api.Pathname:
		if !strings.HasPrefix(word, "/") {
			return nil, fmt.Errorf("%s: %s: path must start with a / character", cmd.Name, word)
		}
	case api.StringList, api.DeviceList:
		l, err := SplitList(word)
		if err != nil {
			return nil, &ArgError{fmt.Sprintf("%s: %s: %v", cmd.Name, a.Name, err)}
		}
		return l, nil
	}
	return word, nil
}

// parsedArgs are a command line converted per the table.
type parsedArgs struct {
	values []any          // one per cmd.Args, in order
	opts   map[string]any // optional arguments given as name:value
}

// parseArgs checks the count and converts every word. typed is the name
// the user typed (for the usage message).
func parseArgs(cmd *api.Command, typed string, words []string) (*parsedArgs, error) {
	if len(words) < len(cmd.Args) || len(words) > len(cmd.Args)+len(cmd.Opts) {
		return nil, usageError(cmd, typed)
	}
	p := &parsedArgs{}
	for i, a := range cmd.Args {
		v, err := convert(cmd, a, words[i])
		if err != nil {
			return nil, err
		}
		p.values = append(p.values, v)
	}
	for _, w := range words[len(cmd.Args):] {
		name, val, ok := strings.Cut(w, ":")
		var opt *api.Arg
		for i := range cmd.Opts {
			if cmd.Opts[i].Name == name {
				opt = &cmd.Opts[i]
			}
		}
		if !ok || opt == nil {
			return nil, &ArgError{fmt.Sprintf("%s: unknown optional argument %q", cmd.Name, w)}
		}
		v, err := convert(cmd, *opt, val)
		if err != nil {
			return nil, err
		}
		if p.opts == nil {
			p.opts = map[string]any{}
		}
		p.opts[name] = v
	}
	return p, nil
}

func (p *parsedArgs) str(i int) string { s, _ := p.values[i].(string); return s }
func (p *parsedArgs) int(i int) int64  { n, _ := p.values[i].(int64); return n }
