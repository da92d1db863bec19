package shell

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"

	"gfs/appliance/api"
)

type typedKey struct{}

// typedName is the name the user typed for cmd (an alias such as vi,
// emacs or less changes the program used).
func typedName(ctx context.Context, cmd *api.Command) string {
	if n, ok := ctx.Value(typedKey{}).(string); ok && n != "" {
		return n
	}
	return cmd.Name
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// edit downloads a guest file, runs the editor on a local copy and, only
// if the content changed, uploads it next to the original and renames
// it into place with the original's mode and owner.
func (s *Session) edit(ctx context.Context, cmd *api.Command, p string) error {
	g, err := s.backend(ctx, cmd)
	if err != nil {
		return err
	}
	st, err := g.Statns(ctx, p)
	if err != nil {
		return err
	}
	if st.Mode&sIFMT != sIFREG {
		return fmt.Errorf("%s: not a regular file", p)
	}
	dir, err := os.MkdirTemp("", "gfs-edit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, path.Base(p))
	before, err := downloadTo(ctx, g, p, local)
	if err != nil {
		return err
	}
	editor := os.Getenv("EDITOR")
	switch typedName(ctx, cmd) {
	case "vi":
		editor = "vi"
	case "emacs":
		editor = "emacs -nw"
	}
	if editor == "" {
		editor = "vi"
	}
	if err := s.runHostProgram(ctx, editor, local); err != nil {
		return err
	}
	after, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	if bytes.Equal(before, after) {
		return nil
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := path.Join(path.Dir(p), ".gfs-edit-"+hex.EncodeToString(rnd[:]))
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	steps := []func() error{
		func() error { return g.Upload(ctx, f, tmp) },
		func() error { _, err := g.Call(ctx, "chmod", []any{st.Mode & 0o7777, tmp}, nil, nil, nil); return err },
		func() error { _, err := g.Call(ctx, "lchown", []any{st.UID, st.GID, tmp}, nil, nil, nil); return err },
		func() error { _, err := g.Call(ctx, "rename", []any{tmp, p}, nil, nil, nil); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			g.Call(context.WithoutCancel(ctx), "rm-f", []any{tmp}, nil, nil, nil)
			return err
		}
	}
	return nil
}

// downloadTo copies a guest file to a new local file and returns its
// content.
func downloadTo(ctx context.Context, g Guest, p, local string) ([]byte, error) {
	var buf bytes.Buffer
	if err := g.Download(ctx, p, &buf); err != nil {
		return nil, err
	}
	if err := os.WriteFile(local, buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// runHostProgram runs "PROGRAM FILE" through the host shell (PROGRAM may
// carry its own arguments, as $EDITOR often does) on the session's
// terminal.
func (s *Session) runHostProgram(ctx context.Context, program, file string) error {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", program+` "$1"`, "sh", file)
	c.Dir = s.cwd
	c.Stdin, c.Stdout, c.Stderr = s.opts.Stdin, s.opts.Stdout, s.opts.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %v", program, err)
	}
	return nil
}

// view is more/less (the pager) and display (an image viewer) on a
// downloaded copy of a guest file.
func (s *Session) view(ctx context.Context, cmd *api.Command, p string) error {
	g, err := s.backend(ctx, cmd)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gfs-view-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	local := filepath.Join(dir, path.Base(p))
	if _, err := downloadTo(ctx, g, p, local); err != nil {
		return err
	}
	if cmd.Name == "display" {
		prog := os.Getenv("GUESTFISH_DISPLAY_IMAGE")
		if prog == "" {
			prog = "display"
		}
		return s.runHostProgram(ctx, prog, local)
	}
	return s.page(ctx, typedName(ctx, cmd), nil, local)
}

// page shows a file (or r) in $PAGER, by default more (less for the
// less alias).
func (s *Session) page(ctx context.Context, typed string, r io.Reader, file string) error {
	pager := os.Getenv("PAGER")
	if typed == "less" {
		pager = "less"
	}
	if pager == "" {
		pager = "more"
	}
	if file != "" {
		return s.runHostProgram(ctx, pager, file)
	}
	c := exec.CommandContext(ctx, "/bin/sh", "-c", pager)
	c.Stdin, c.Stdout, c.Stderr = r, s.opts.Stdout, s.opts.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %v", pager, err)
	}
	return nil
}
