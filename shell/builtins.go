package shell

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gfs/appliance/api"
)

// builtin runs the shell's own commands and the variable-argument
// commands, which check their words themselves.
func (s *Session) builtin(ctx context.Context, cmd *api.Command, words []string, stdout io.Writer) error {
	var p *parsedArgs
	if !cmd.VarArgs {
		var err error
		if p, err = parseArgs(cmd, cmd.Name, words); err != nil {
			return err
		}
		if cmd.Writes {
			if err := s.checkWritable(cmd, p); err != nil {
				return err
			}
		}
	}
	switch cmd.Name {
	case "quit":
		s.quit = true
		return nil
	case "help":
		switch {
		case len(words) == 0:
			gettingStarted(stdout, s.Launched())
		case len(words) == 1 && words[0] == "--list":
			ListCommands(stdout)
		case len(words) == 1:
			if !CommandHelp(stdout, words[0]) {
				return &ArgError{words[0] + ": command not known: use 'help --list' to list all commands"}
			}
		default:
			return usageError(cmd, "help")
		}
		return nil
	case "man":
		return s.page(ctx, "", strings.NewReader(Markdown()), "")
	case "echo":
		_, err := fmt.Fprintln(stdout, strings.Join(words, " "))
		return err
	case "lcd":
		dir := s.hostPath(p.str(0))
		fi, err := os.Stat(dir)
		if err == nil && !fi.IsDir() {
			return &ArgError{p.str(0) + ": Not a directory"}
		}
		if err != nil {
			return &ArgError{p.str(0) + ": " + errnoText(unwrapPath(err))}
		}
		s.cwd = filepath.Clean(dir)
		return nil
	case "setenv":
		return os.Setenv(p.str(0), p.str(1))
	case "unsetenv":
		return os.Unsetenv(p.str(0))
	case "time":
		if len(words) == 0 {
			return &ArgError{"use 'time command [args...]'"}
		}
		start := time.Now()
		err := s.runWords(ctx, words[0], words[1:], stdout)
		fmt.Fprintf(stdout, "elapsed time: %.2f seconds\n", time.Since(start).Seconds())
		return err
	case "glob":
		if len(words) == 0 {
			return usageError(cmd, "glob")
		}
		return s.glob(ctx, cmd, words, stdout)
	case "supported":
		return s.supported(ctx, cmd, stdout)
	case "edit":
		return s.edit(ctx, cmd, p.str(0))
	case "more", "display":
		return s.view(ctx, cmd, p.str(0))
	case "copy-in":
		if len(words) < 2 {
			return usageError(cmd, "copy-in")
		}
		return s.copyIn(ctx, cmd, words[:len(words)-1], words[len(words)-1])
	case "copy-out":
		if len(words) < 2 {
			return usageError(cmd, "copy-out")
		}
		return s.copyOut(ctx, cmd, words[:len(words)-1], words[len(words)-1])
	}
	return fmt.Errorf("%s: not implemented", cmd.Name)
}

// errnoText is an error's text as strerror prints it (capitalised).
func errnoText(err error) string {
	msg := err.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return msg
}

// glob expands every guest path argument with wildcards and runs the
// command once per combination; a pattern matching nothing is passed on
// unchanged (and the command reports it).
func (s *Session) glob(ctx context.Context, cmd *api.Command, words []string, stdout io.Writer) error {
	var choices [][]string
	for _, w := range words[1:] {
		if !strings.HasPrefix(w, "/") || !strings.ContainsAny(w, "*?[") {
			choices = append(choices, []string{w})
			continue
		}
		g, err := s.backend(ctx, cmd)
		if err != nil {
			return err
		}
		res, err := g.Call(ctx, "glob-expand", []any{w}, map[string]any{"directoryslash": false}, nil, nil)
		if err != nil {
			return err
		}
		var matches []string
		if err := jsonUnmarshal(res, &matches); err != nil {
			return err
		}
		if len(matches) == 0 {
			matches = []string{w}
		}
		choices = append(choices, matches)
	}
	var failed error
	var rec func(i int, args []string)
	rec = func(i int, args []string) {
		if i == len(choices) {
			if err := s.runWords(ctx, words[0], append([]string(nil), args...), stdout); err != nil {
				s.report(words[0], err)
				failed = errSilent
			}
			return
		}
		for _, c := range choices[i] {
			rec(i+1, append(args, c))
		}
	}
	rec(0, nil)
	return failed
}

// supported prints every optional feature group with yes or no.
func (s *Session) supported(ctx context.Context, cmd *api.Command, stdout io.Writer) error {
	g, err := s.backend(ctx, cmd)
	if err != nil {
		return err
	}
	res, err := g.Call(ctx, "available-all-groups", []any{}, nil, nil, nil)
	if err != nil {
		return err
	}
	var groups []string
	if err := jsonUnmarshal(res, &groups); err != nil {
		return err
	}
	width := 0
	for _, gr := range groups {
		width = max(width, len(gr))
	}
	for _, gr := range groups {
		_, err := g.Call(ctx, "available", []any{[]string{gr}}, nil, nil, nil)
		yes := "yes"
		if err != nil {
			yes = "no"
		}
		fmt.Fprintf(stdout, "%*s %s\n", width, gr, yes)
	}
	return nil
}
