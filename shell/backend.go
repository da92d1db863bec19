package shell

import (
	"context"
	"encoding/json"
	"io"

	"gfs/appliance"
	"gfs/appliance/api"
)

// Guest is what commands run against: the generic agent call plus the
// few primitive operations that host-side commands (ll, cat, head,
// tail, filesize, copy-out, edit…) are built from. Host-side commands
// use only these methods, never the appliance handle directly.
//
// THE BACKEND SEAM. Today *appliance.Handle is the only implementation.
// The next step adds a VM-less implementation (the pure-Go reader in
// fs/) that answers the read-only primitives while the appliance is not
// launched: Session.backend is the single place that picks one, so for
// a command whose table row is ReadOnlyFast it can return the reader
// (with Session.mounts, the ordered list of mounts the user made,
// resolved through the reader's mount table) instead of launching.
// Mounts are recorded as session state precisely so that, when the
// appliance does start later, Session.Launch replays them into it.
type Guest interface {
	// Call runs an agent command of the table by name: args in table
	// order (FileIn/FileOut arguments removed), opts by name, in the
	// upload stream, out the download stream.
	Call(ctx context.Context, name string, args []any, opts map[string]any, in io.Reader, out io.Writer) (json.RawMessage, error)
	// Lstatnslist lstats names in dir; with no names, every entry plus
	// "." and "..", sorted, with symlink targets.
	Lstatnslist(ctx context.Context, dir string, names []string) ([]api.FileStat, error)
	Statns(ctx context.Context, path string) (api.StatNS, error)
	Lstatns(ctx context.Context, path string) (api.StatNS, error)
	// Download streams a guest file into w.
	Download(ctx context.Context, path string, w io.Writer) error
	// Upload replaces a guest file with r.
	Upload(ctx context.Context, r io.Reader, path string) error
	// TarOut streams a guest directory (or file) as a tar archive.
	TarOut(ctx context.Context, dir string, w io.Writer, opts map[string]any) error
	// TarIn unpacks a tar stream into a guest directory.
	TarIn(ctx context.Context, r io.Reader, dir string, opts map[string]any) error
}

var _ Guest = (*appliance.Handle)(nil)

// backend returns the guest a command runs against. It is the only
// place that decides which backend serves a command, and the only place
// that launches the appliance on demand (lazy launch: run is optional).
func (s *Session) backend(ctx context.Context, cmd *api.Command) (Guest, error) {
	// (VM-less reader goes here: if !s.Launched() && cmd.ReadOnlyFast.)
	if err := s.Launch(ctx); err != nil {
		return nil, err
	}
	return s.h, nil
}
