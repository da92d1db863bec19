package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"gfs/appliance"
	"gfs/appliance/api"
)

// ErrFailed is returned by the Run* methods when a command failed in a
// script (non-interactive) run: the error was already reported and gfs
// exits with status 1.
var ErrFailed = errors.New("a command failed")

// errSilent is a failure that was already reported (or needs no words:
// a host command's exit status).
var errSilent = errors.New("failed")

// RunLine parses and runs one input line. Errors are reported on
// stderr; the returned error is non-nil if the line failed and its
// failure was not ignored with a leading '-'.
func (s *Session) RunLine(ctx context.Context, text string) error {
	l, err := ParseLine(text)
	if err != nil {
		s.report("", err)
		if l.IgnoreError {
			return nil
		}
		return errSilent
	}
	var runErr error
	switch l.Kind {
	case LineEmpty:
		return nil
	case LineHost:
		runErr = s.hostShell(ctx, l.Host)
	case LineInline:
		runErr = s.inline(ctx, l.Host)
	case LineCommand:
		runErr = s.RunCommand(ctx, l.Cmd, l.Args, l.Pipe, l.HasPipe)
	}
	if runErr != nil && !l.IgnoreError {
		return runErr
	}
	return nil
}

// RunCommand runs a command by name with its words, optionally piping
// its output to a host command; errors are reported on stderr.
func (s *Session) RunCommand(ctx context.Context, name string, words []string, pipe string, hasPipe bool) error {
	s.cmdNum++
	err := s.runPiped(ctx, name, words, pipe, hasPipe)
	if err != nil {
		s.report(name, err)
		return errSilent
	}
	return nil
}

func (s *Session) runPiped(ctx context.Context, name string, words []string, pipe string, hasPipe bool) error {
	if !hasPipe {
		return s.runWords(ctx, name, words, s.opts.Stdout)
	}
	c := exec.CommandContext(ctx, "/bin/sh", "-c", pipe)
	c.Dir = s.cwd
	c.Stdout, c.Stderr = s.opts.Stdout, s.opts.Stderr
	w, err := c.StdinPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	// A reader that stops early (| head) must not fail the command.
	err = s.runWords(ctx, name, words, ignoreEPIPE{w})
	w.Close()
	c.Wait()
	return err
}

type ignoreEPIPE struct{ w io.Writer }

func (i ignoreEPIPE) Write(p []byte) (int, error) {
	n, err := i.w.Write(p)
	if err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)) {
		return len(p), nil
	}
	return n, err
}

// runWords looks a command up and executes it.
func (s *Session) runWords(ctx context.Context, name string, words []string, stdout io.Writer) error {
	cmd := api.Lookup(name)
	if cmd == nil {
		msg := name + ": unknown command"
		if s.cmdNum == 1 {
			msg += "\nDid you mean to open a disk image?  gfs -a disk.img\n" +
				"For a list of commands:             gfs -h\n" +
				"For complete documentation:         gfs help --list, docs/commands.md"
		}
		return &UsageError{Msg: msg}
	}
	if s.opts.Trace {
		var b strings.Builder
		b.WriteString("gfs: trace: " + cmd.Name)
		for _, w := range words {
			b.WriteString(" " + strconv.Quote(w))
		}
		fmt.Fprintln(s.opts.Stderr, b.String())
	}
	err := s.Exec(context.WithValue(ctx, typedKey{}, name), cmd, words, stdout)
	var ue *UsageError
	if errors.As(err, &ue) && ue.cmd != nil && name != cmd.Name {
		err = usageError(cmd, name)
	}
	return err
}

// report prints an error as guestfish does: usage and argument errors
// as they are, syntax errors as "gfs: MESSAGE", and failures of a
// command as "[SCRIPT:LINE: ]gfs: error: CMD: MESSAGE".
func (s *Session) report(name string, err error) {
	if err == nil || err == errSilent {
		return
	}
	var ue *UsageError
	var ae *ArgError
	var pe *ParseError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(s.opts.Stderr, ue.Error())
		return
	case errors.As(err, &ae):
		fmt.Fprintln(s.opts.Stderr, ae.Msg)
		return
	case errors.As(err, &pe):
		fmt.Fprintln(s.opts.Stderr, "gfs: "+pe.Msg)
		return
	}
	prefix := ""
	if s.inputName != "" && !s.opts.Interactive {
		prefix = fmt.Sprintf("%s:%d: ", s.inputName, s.lineNo)
	}
	fmt.Fprintf(s.opts.Stderr, "%sgfs: error: %s\n", prefix, errorMessage(name, err))
}

// errorMessage is "CMD: cause", naming the command the user typed
// rather than the agent call that failed underneath it.
func errorMessage(name string, err error) string {
	var ae *appliance.Error
	if errors.As(err, &ae) {
		if name == "" {
			name = ae.Op
		}
		return name + ": " + ae.Msg
	}
	if errors.Is(err, context.Canceled) {
		return name + ": interrupted"
	}
	msg := err.Error()
	if name == "" || strings.HasPrefix(msg, name+": ") {
		return msg
	}
	if c := api.Lookup(name); c != nil && strings.HasPrefix(msg, c.Name+": ") {
		msg = strings.TrimPrefix(msg, c.Name+": ")
	}
	return name + ": " + msg
}

// hostShell runs !cmd with the session's standard streams.
func (s *Session) hostShell(ctx context.Context, line string) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	c.Dir = s.cwd
	c.Stdin, c.Stdout, c.Stderr = s.opts.Stdin, s.opts.Stdout, s.opts.Stderr
	if err := c.Run(); err != nil {
		var xe *exec.ExitError
		if !errors.As(err, &xe) {
			fmt.Fprintf(s.opts.Stderr, "gfs: %s: %v\n", strings.TrimSpace(line), err)
		}
		return errSilent
	}
	return nil
}

// inline runs `<! cmd`: the host command's output lines are run as
// commands, each stopping the script on error unless prefixed with '-'.
func (s *Session) inline(ctx context.Context, line string) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	c.Dir = s.cwd
	c.Stdin, c.Stderr = s.opts.Stdin, s.opts.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var failed error
	for sc.Scan() && !s.quit {
		if err := s.RunLine(ctx, sc.Text()); err != nil && !s.opts.Interactive {
			failed = err
			break
		}
	}
	io.Copy(io.Discard, out)
	if err := c.Wait(); err != nil && failed == nil {
		fmt.Fprintf(s.opts.Stderr, "gfs: <!%s: %v\n", line, err)
		failed = errSilent
	}
	return failed
}

// RunScript runs commands read from r, one per line, until the end, quit
// or (unless interactive) the first error, which returns ErrFailed.
// name is the script name used in error messages ("*stdin*" for
// standard input).
func (s *Session) RunScript(ctx context.Context, r io.Reader, name string) error {
	s.inputName, s.lineNo = name, 0
	br := bufio.NewReaderSize(r, 64<<10)
	// FileIn arguments written -<<END take the following lines, up to a
	// line END, as the file's content.
	s.heredoc = func(end string) (string, error) {
		var doc strings.Builder
		for {
			line, err := br.ReadString('\n')
			if line == "" && err != nil {
				return "", fmt.Errorf("here document: no line %q before the end of the script", end)
			}
			s.lineNo++
			if strings.TrimSuffix(line, "\n") == end {
				return doc.String(), nil
			}
			doc.WriteString(line)
		}
	}
	defer func() { s.inputName, s.heredoc = "", nil }()
	for !s.quit {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		s.lineNo++
		line = strings.TrimSuffix(line, "\n")
		rerr := withCommandContext(ctx, func(ctx context.Context) error { return s.RunLine(ctx, line) })
		if rerr != nil && !s.opts.Interactive {
			return ErrFailed
		}
		if ctx.Err() != nil {
			return ErrFailed
		}
	}
	return nil
}

// RunArgs runs commands given on the gfs command line: words separated
// by ":" words, each group a command and its arguments (a leading '-'
// ignores that command's error). It stops at the first error with
// ErrFailed.
func (s *Session) RunArgs(ctx context.Context, argv []string) error {
	for len(argv) > 0 && !s.quit {
		n := 0
		for n < len(argv) && argv[n] != ":" {
			n++
		}
		group := argv[:n]
		if n < len(argv) {
			argv = argv[n+1:]
		} else {
			argv = nil
		}
		if len(group) == 0 {
			fmt.Fprintln(s.opts.Stderr, "gfs: empty command on command line")
			return ErrFailed
		}
		name, ignore := group[0], false
		if strings.HasPrefix(name, "-") && len(name) > 1 {
			name, ignore = name[1:], true
		}
		err := withCommandContext(ctx, func(ctx context.Context) error {
			return s.RunCommand(ctx, name, group[1:], "", false)
		})
		if err != nil && !ignore {
			return ErrFailed
		}
	}
	return nil
}
