package shell

import (
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gfs/appliance/api"
)

// completer is readline's AutoCompleter: it completes the word under
// the cursor by the kind of argument the command table says is there.
type completer struct{ s *Session }

// Do returns the candidate suffixes for the word before pos and the
// length of that word.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	words, cur := splitForCompletion(string(line[:pos]))
	cands := c.s.Complete(words, cur)
	out := make([][]rune, len(cands))
	for i, cand := range cands {
		out[i] = []rune(cand[len(cur):])
	}
	return out, len([]rune(cur))
}

// splitForCompletion returns the complete words before the cursor and
// the partial word being typed (quotes are dropped, roughly as the
// parser would).
func splitForCompletion(s string) (words []string, cur string) {
	var b strings.Builder
	quote := byte(0)
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			b.WriteByte(ch)
		case ch == '"' || ch == '\'':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(ch)
			inWord = true
		}
	}
	return words, b.String()
}

// Complete returns the full candidates for the word cur following
// words: command names first, then per argument kind guest paths and
// devices (only while the appliance runs: completion never launches
// it), host paths, or command names again (help, time, glob).
func (s *Session) Complete(words []string, cur string) []string {
	if len(words) > 0 && strings.HasPrefix(words[0], "-") {
		words[0] = words[0][1:]
	}
	if len(words) == 0 {
		return completeCommands(cur)
	}
	cmd := api.Lookup(words[0])
	if cmd == nil {
		return nil
	}
	idx := len(words) - 1
	var kind api.Kind
	switch {
	case cmd.Name == "help" || cmd.Name == "time" || cmd.Name == "glob":
		if idx == 0 {
			return completeCommands(cur)
		}
		if sub := api.Lookup(words[1]); sub != nil {
			return s.Complete(words[1:], cur)
		}
		return nil
	case cmd.Name == "copy-in":
		kind = api.HostPath
		if strings.HasPrefix(cur, "/") && idx > 0 {
			kind = api.Pathname
		}
	case cmd.Name == "copy-out":
		kind = api.Pathname
		if idx > 0 && !strings.HasPrefix(cur, "/") {
			kind = api.HostPath
		}
	case idx < len(cmd.Args):
		kind = cmd.Args[idx].Kind
	default:
		return completeOpts(cmd, cur)
	}
	switch kind.Complete() {
	case api.CompleteCommand:
		return completeCommands(cur)
	case api.CompleteGuestPath:
		return s.completeGuestPath(cur)
	case api.CompleteDevice:
		return s.completeDevice(cur)
	case api.CompleteHostPath:
		return s.completeHostPath(cur)
	}
	return nil
}

func completeCommands(prefix string) []string {
	var out []string
	for _, n := range api.Names() {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n+" ")
		}
	}
	return out
}

func completeOpts(cmd *api.Command, prefix string) []string {
	var out []string
	for _, o := range cmd.Opts {
		if strings.HasPrefix(o.Name+":", prefix) {
			out = append(out, o.Name+":")
		}
	}
	return out
}

// completionGuest is the running appliance, or before launch the
// VM-less reader (completion never launches the appliance by itself).
func (s *Session) completionGuest() (Guest, context.Context, context.CancelFunc) {
	var g Guest
	if s.Launched() {
		g = s.h
	} else if v := s.fastFor(api.Lookup("ls")); v != nil {
		g = v
	} else {
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	return g, ctx, cancel
}

// completeGuestPath lists the directory part of cur in the guest and
// offers its entries, directories with a trailing slash.
func (s *Session) completeGuestPath(cur string) []string {
	if !strings.HasPrefix(cur, "/") {
		if cur == "" {
			return []string{"/"}
		}
		return nil
	}
	g, ctx, cancel := s.completionGuest()
	if g == nil {
		return nil
	}
	defer cancel()
	dir, prefix := path.Split(cur)
	ents, err := g.Lstatnslist(ctx, dir, nil)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.Name == "." || e.Name == ".." || !strings.HasPrefix(e.Name, prefix) {
			continue
		}
		if e.Mode&sIFMT == sIFDIR {
			out = append(out, dir+e.Name+"/")
		} else {
			out = append(out, dir+e.Name+" ")
		}
	}
	sort.Strings(out)
	return out
}

func (s *Session) completeDevice(cur string) []string {
	g, ctx, cancel := s.completionGuest()
	if g == nil {
		return nil
	}
	defer cancel()
	var out []string
	for _, call := range []string{"list-devices", "list-partitions", "lvs"} {
		res, err := g.Call(ctx, call, []any{}, nil, nil, nil)
		if err != nil {
			continue
		}
		var l []string
		json.Unmarshal(res, &l)
		for _, d := range l {
			if strings.HasPrefix(d, cur) {
				out = append(out, d+" ")
			}
		}
	}
	return out
}

func (s *Session) completeHostPath(cur string) []string {
	dir, prefix := filepath.Split(cur)
	look := s.hostPath(dir)
	if dir == "" {
		look = s.cwd
	}
	ents, err := os.ReadDir(look)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || (prefix == "" && strings.HasPrefix(e.Name(), ".")) {
			continue
		}
		if e.IsDir() {
			out = append(out, dir+e.Name()+"/")
		} else {
			out = append(out, dir+e.Name()+" ")
		}
	}
	return out
}
