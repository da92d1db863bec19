package shell

import (
	"fmt"
	"os"
	"os/user"
	"strings"
)

// LineKind says what an input line asks for.
type LineKind int

const (
	LineEmpty   LineKind = iota // blank or a # comment
	LineHost                    // !cmd: run a host shell command
	LineInline                  // <! cmd: run a host command, execute its output
	LineCommand                 // a gfs command
)

// Line is one parsed input line.
type Line struct {
	Kind LineKind
	// IgnoreError is set by a leading '-': this command's failure does
	// not stop a script.
	IgnoreError bool
	Host        string // the host command of ! and <!
	Cmd         string
	Args        []string
	// Pipe is the host command after a word starting with '|'; HasPipe
	// tells an empty pipe command from none.
	Pipe    string
	HasPipe bool
}

// ParseError is a syntax error in a line (printed as "gfs: MESSAGE").
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

// ParseLine splits a line the way guestfish does: the command name is
// the first run of non-blanks; each argument is a bare word (ended by a
// blank, no escapes), a '…' string (no escapes) or a "…" string with C
// escapes; a quoted string must be followed by a blank or the end of the
// line. A word starting with | ends the arguments and the rest of the
// line is a host command reading the output. Bare words starting with ~
// are expanded to a home directory.
func ParseLine(s string) (Line, error) {
	var l Line
	p := strings.TrimLeft(s, " \t\r\n\v\f")
	for {
		switch {
		case p == "" || p[0] == '#':
			l.Kind = LineEmpty
			return l, nil
		case p[0] == '!':
			l.Kind, l.Host = LineHost, p[1:]
			return l, nil
		case strings.HasPrefix(p, "<!"):
			l.Kind, l.Host = LineInline, p[2:]
			return l, nil
		case p[0] == '-':
			l.IgnoreError = true
			p = strings.TrimLeft(p[1:], " \t\r\n\v\f")
			continue
		}
		break
	}
	n := strings.IndexAny(p, " \t")
	if n < 0 {
		n = len(p)
	}
	l.Kind, l.Cmd = LineCommand, p[:n]
	p = strings.TrimLeft(p[n:], " \t")
	for p != "" {
		var word string
		switch p[0] {
		case '"':
			w, rest, err := parseDoubleQuoted(p[1:])
			if err != nil {
				return l, err
			}
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return l, &ParseError{"command arguments not separated by whitespace"}
			}
			word, p = w, rest
		case '\'':
			end := strings.IndexByte(p[1:], '\'')
			if end < 0 {
				return l, &ParseError{"unterminated single quote"}
			}
			rest := p[end+2:]
			if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
				return l, &ParseError{"command arguments not separated by whitespace"}
			}
			word, p = p[1:end+1], rest
		case '|':
			l.Pipe, l.HasPipe = p[1:], true
			p = ""
			continue
		default:
			end := strings.IndexAny(p, " \t")
			if end < 0 {
				end = len(p)
			}
			word, p = p[:end], p[end:]
			if word[0] == '~' {
				word = expandTilde(word)
			}
		}
		l.Args = append(l.Args, word)
		p = strings.TrimLeft(p, " \t")
	}
	return l, nil
}

// parseDoubleQuoted reads a "…" body up to the closing quote, decoding
// \a \b \f \n \r \t \v \" \' \? \\, \ooo (three octal digits) and \xhh
// (two hex digits); NUL cannot be written.
func parseDoubleQuoted(p string) (word, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '"' {
			return b.String(), p[i+1:], nil
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		bad := &ParseError{fmt.Sprintf("invalid escape sequence in string (starting at offset %d)", b.Len())}
		if i+1 >= len(p) {
			return "", "", bad
		}
		switch e := p[i+1]; e {
		case '\\', '"', '\'', '?':
			b.WriteByte(e)
			i++
		case 'a':
			b.WriteByte('\a')
			i++
		case 'b':
			b.WriteByte('\b')
			i++
		case 'f':
			b.WriteByte('\f')
			i++
		case 'n':
			b.WriteByte('\n')
			i++
		case 'r':
			b.WriteByte('\r')
			i++
		case 't':
			b.WriteByte('\t')
			i++
		case 'v':
			b.WriteByte('\v')
			i++
		case '0', '1', '2', '3', '4', '5', '6', '7':
			if i+3 >= len(p) || !isOctal(p[i+2]) || !isOctal(p[i+3]) {
				return "", "", bad
			}
			v := int(e-'0')*64 + int(p[i+2]-'0')*8 + int(p[i+3]-'0')
			if v < 1 || v > 255 {
				return "", "", bad
			}
			b.WriteByte(byte(v))
			i += 3
		case 'x':
			if i+3 >= len(p) || hexVal(p[i+2]) < 0 || hexVal(p[i+3]) < 0 {
				return "", "", bad
			}
			v := hexVal(p[i+2])*16 + hexVal(p[i+3])
			if v < 1 {
				return "", "", bad
			}
			b.WriteByte(byte(v))
			i += 3
		default:
			return "", "", bad
		}
	}
	return "", "", &ParseError{"unterminated double quote"}
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// expandTilde turns ~ and ~/x into $HOME, ~user and ~user/x into that
// user's home; anything it cannot resolve is left as typed.
func expandTilde(w string) string {
	name, rest, _ := strings.Cut(w[1:], "/")
	if strings.Contains(w, "/") {
		rest = "/" + rest
	}
	var home string
	if name == "" {
		home = os.Getenv("HOME")
		if home == "" {
			if u, err := user.Current(); err == nil {
				home = u.HomeDir
			}
		}
	} else if u, err := user.Lookup(name); err == nil {
		home = u.HomeDir
	}
	if home == "" {
		return w
	}
	return home + rest
}

// SplitList splits a string-list argument: blank-separated tokens, where
// '…' quotes a part containing blanks and \' is a literal quote.
func SplitList(s string) ([]string, error) {
	out := []string{}
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		var tok strings.Builder
		inQuote := false
		for i < len(s) && (inQuote || (s[i] != ' ' && s[i] != '\t')) {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && s[i+1] == '\'':
				tok.WriteByte('\'')
				i += 2
			case c == '\'':
				inQuote = !inQuote
				i++
			default:
				tok.WriteByte(c)
				i++
			}
		}
		if inQuote {
			return nil, fmt.Errorf("runaway quote in string %q", s)
		}
		out = append(out, tok.String())
	}
	return out, nil
}
