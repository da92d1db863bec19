package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// backend returns the appliance, launching it on demand (lazy launch:
// run is optional).
func (s *Session) backend(ctx context.Context, cmd *api.Command) (Guest, error) {
	if err := s.Launch(ctx); err != nil {
		return nil, err
	}
	return s.h, nil
}

// withGuest runs a command against the VM-less backend when it may
// answer, and against the appliance otherwise or when the VM-less
// backend says it cannot (errNeedAppliance). It is the only place that
// decides which backend serves a command.
func (s *Session) withGuest(ctx context.Context, cmd *api.Command, run func(Guest) error) error {
	if v := s.fastFor(cmd); v != nil {
		err := run(v)
		if !errors.Is(err, errNeedAppliance) {
			if s.opts.Verbose && err == nil {
				fmt.Fprintf(s.opts.Stderr, "gfs: %s: answered without the appliance\n", cmd.Name)
			}
			return err
		}
		if s.opts.Verbose {
			fmt.Fprintf(s.opts.Stderr, "gfs: %s: using the appliance (%v)\n", cmd.Name, err)
		}
	}
	g, err := s.backend(ctx, cmd)
	if err != nil {
		return err
	}
	return run(g)
}

// vmlessCommands may be served without the appliance besides the
// table's ReadOnlyFast rows: the mount bookkeeping they depend on.
var vmlessCommands = map[string]bool{
	"mount": true, "mount-ro": true, "mount-options": true, "mount-vfs": true,
	"umount": true, "umount-all": true, "mounts": true, "mountpoints": true,
}

// fastFor returns the VM-less backend if it may serve cmd: only while
// the appliance is not running (once it runs, it has the only true view
// of the disks), never for writes, never for disks -N has yet to build.
func (s *Session) fastFor(cmd *api.Command) *vmless {
	if s.Launched() || s.fastOff || s.opts.ForceAppliance || cmd.Writes || len(s.drives) == 0 {
		return nil
	}
	if !cmd.ReadOnlyFast && !vmlessCommands[cmd.Name] {
		return nil
	}
	for _, p := range s.prepared {
		if !p.done {
			return nil
		}
	}
	if s.fast == nil {
		v, err := openVMless(s.drives, s.opts.AllowBacking)
		if err != nil {
			s.fastOff = true
			if s.opts.Verbose {
				fmt.Fprintf(s.opts.Stderr, "gfs: the VM-less reader cannot read these disks (%v)\n", err)
			}
			return nil
		}
		s.fast = v
		// Mounts made before (none normally) are replayed into it.
		for _, m := range s.mounts {
			if err := mountOn(context.Background(), v, m); err != nil {
				s.closeFast()
				s.fastOff = true
				return nil
			}
		}
	}
	return s.fast
}

func (s *Session) closeFast() {
	if s.fast != nil {
		s.fast.close()
		s.fast = nil
	}
}
