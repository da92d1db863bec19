package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/chzyer/readline"
)

// current command cancellation, for Ctrl-C.
var (
	curMu     sync.Mutex
	curCancel context.CancelFunc
)

// Interrupt cancels the command that is running, if any, and reports
// whether there was one. cmd/gfs calls it on SIGINT: in the middle of a
// command Ctrl-C cancels that command (and its agent call).
func Interrupt() bool {
	curMu.Lock()
	defer curMu.Unlock()
	if curCancel == nil {
		return false
	}
	curCancel()
	return true
}

// withCommandContext runs f with a context that Interrupt cancels.
func withCommandContext(ctx context.Context, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithCancel(ctx)
	curMu.Lock()
	curCancel = cancel
	curMu.Unlock()
	defer func() {
		curMu.Lock()
		curCancel = nil
		curMu.Unlock()
		cancel()
	}()
	return f(cctx)
}

// SetGreeting adds text after the banner (what -i mounted).
func (s *Session) SetGreeting(text string) { s.greeting = text }

// HistoryFile is where the prompt keeps its history: ~/.gfs_history.
func HistoryFile() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".gfs_history")
}

// Interactive runs the ><fs> prompt on a terminal: readline editing,
// history in HistoryFile, tab completion of command names, guest paths
// and devices (looked up live in the running appliance) and host paths.
// Errors are reported and the prompt continues; Ctrl-C clears the line;
// quit, exit or Ctrl-D leave.
func (s *Session) Interactive(ctx context.Context, stdin io.ReadCloser, banner bool) error {
	s.opts.Interactive = true
	if banner {
		fmt.Fprint(s.opts.Stdout, Banner+s.greeting)
	}
	prompt := Prompt
	for _, v := range []string{"GFS_PS1", "GUESTFISH_PS1"} {
		if ps1 := os.Getenv(v); ps1 != "" {
			prompt = ps1
			break
		}
	}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            prompt,
		HistoryFile:       HistoryFile(),
		HistoryLimit:      1000,
		AutoComplete:      &completer{s: s},
		InterruptPrompt:   "^C",
		EOFPrompt:         "",
		HistorySearchFold: true,
		Stdin:             stdin,
		Stdout:            s.opts.Stdout,
		Stderr:            s.opts.Stderr,
	})
	if err != nil {
		return err
	}
	defer rl.Close()
	for !s.quit {
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		withCommandContext(ctx, func(ctx context.Context) error { return s.RunLine(ctx, line) })
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintln(s.opts.Stdout)
	return nil
}
