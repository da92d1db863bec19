package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gfs/appliance"
	"gfs/appliance/api"
)

// Exec runs one table command with its argument words, printing its
// result on stdout. Every table command goes through here:
//
//  1. shell builtins and variable-argument commands check their own
//     words (builtins.go);
//  2. the words are parsed per argument kind (args.go) — a wrong count
//     is a UsageError;
//  3. a command that changes the guest is refused if its drive is
//     read-only;
//  4. session commands (add, launch, sparse…) run without a guest;
//  5. the guest backend is obtained (Session.backend — the seam where
//     the VM-less reader will plug in; it launches the appliance on
//     first use);
//  6. host-side commands (hostcmds.go) or the agent call run, and the
//     result is printed per return kind (print.go).
func (s *Session) Exec(ctx context.Context, cmd *api.Command, words []string, stdout io.Writer) error {
	if cmd.Where == api.Shell || cmd.VarArgs {
		return s.builtin(ctx, cmd, words, stdout)
	}
	p, err := parseArgs(cmd, cmd.Name, words)
	if err != nil {
		return err
	}
	if cmd.Writes {
		if err := s.checkWritable(cmd, p); err != nil {
			return err
		}
	}
	if cmd.NoLaunch {
		return s.sessionCommand(ctx, cmd, p)
	}
	for i, a := range cmd.Args {
		if end, ok := strings.CutPrefix(p.str(i), "-<<"); ok && a.Kind == api.FileIn && end != "" && s.heredoc == nil {
			return fmt.Errorf("%s: a here document (-<<%s) can only be used in a script", p.str(i), end)
		}
	}
	return s.withGuest(ctx, cmd, func(g Guest) error {
		if cmd.Where == api.Host {
			return s.hostCommand(ctx, g, cmd, p, stdout)
		}
		return s.agentCommand(ctx, g, cmd, p, stdout)
	})
}

// agentCommand sends an agent call: FileIn/FileOut arguments become the
// upload/download streams ("-" is the session's stdin/stdout).
func (s *Session) agentCommand(ctx context.Context, g Guest, cmd *api.Command, p *parsedArgs, stdout io.Writer) error {
	var args []any
	var in io.Reader
	var out io.Writer
	var closeOut func() error
	for i, a := range cmd.Args {
		switch a.Kind {
		case api.FileIn:
			name := p.str(i)
			if name == "-" {
				in = s.opts.Stdin
				continue
			}
			if end, ok := strings.CutPrefix(name, "-<<"); ok && end != "" {
				doc, err := s.heredoc(end)
				if err != nil {
					return err
				}
				in = strings.NewReader(doc)
				continue
			}
			f, err := os.Open(s.hostPath(name))
			if err != nil {
				return fmt.Errorf("%s: %w", name, unwrapPath(err))
			}
			defer f.Close()
			in = f
		case api.FileOut:
			name := p.str(i)
			if name == "-" {
				out = stdout
				continue
			}
			f, err := os.Create(s.hostPath(name))
			if err != nil {
				return fmt.Errorf("%s: %w", name, unwrapPath(err))
			}
			defer f.Close()
			out, closeOut = f, f.Close
		default:
			args = append(args, p.values[i])
		}
	}
	if args == nil {
		args = []any{}
	}
	res, err := g.Call(ctx, cmd.Name, args, p.opts, in, out)
	if closeOut != nil {
		if cerr := closeOut(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	s.recordMount(cmd, p)
	return printResult(stdout, cmd, res)
}

// sessionCommand runs the commands that work before launch.
func (s *Session) sessionCommand(ctx context.Context, cmd *api.Command, p *parsedArgs) error {
	switch cmd.Name {
	case "add-drive", "add-drive-ro":
		d := appliance.Drive{Path: p.str(0), ReadOnly: cmd.Name == "add-drive-ro"}
		if v, ok := p.opts["readonly"].(bool); ok {
			d.ReadOnly = v
		}
		if v, ok := p.opts["format"].(string); ok {
			d.Format = v
		}
		return s.AddDrive(d)
	case "launch":
		return s.Launch(ctx)
	case "reopen":
		return s.reopen()
	case "sparse", "alloc":
		return s.allocDrive(p.str(0), p.int(1), cmd.Name == "alloc")
	}
	return fmt.Errorf("%s: not implemented", cmd.Name)
}

// allocDrive creates a raw image (sparse, or with its space allocated)
// and adds it as the next drive.
func (s *Session) allocDrive(name string, size int64, prealloc bool) error {
	if size < 0 {
		return fmt.Errorf("%s: the size must not be negative", name)
	}
	path := s.hostPath(name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if prealloc && size > 0 {
		if err := fallocate(f, size); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return s.AddDrive(appliance.Drive{Path: path, Format: "raw", Name: name})
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
