// Package shell is gfs's guestfish-compatible shell: the ><fs> prompt,
// scripts and command-line commands, all driven by the command table in
// appliance/api.
//
// A Session holds the drives, the lazily launched appliance, the mounts
// the user made and the host working directory; Session.Exec is the one
// place where a table command is parsed, checked, run and printed.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gfs/appliance"
	"gfs/appliance/api"
	"gfs/inspect"
)

// Options configure a Session.
type Options struct {
	Accel        string // auto, kvm, tcg
	AllowBacking bool   // let qcow2 images use backing files
	Verbose      bool   // appliance console and progress on Stderr
	Trace        bool   // -x: echo each command on Stderr
	NoSync       bool   // -n: do not sync the disks when the session ends
	// Interactive makes errors non-fatal (they are reported and the
	// shell goes on) and omits the script:line prefix.
	Interactive bool
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	// Now is the clock ll uses for its six-month rule (tests fix it).
	Now func() time.Time
	// ForceAppliance turns off the VM-less reader: every command runs
	// in the appliance (--force-appliance, GFS_FORCE_APPLIANCE=1).
	ForceAppliance bool
}

// MountCall is one mount the user made, in order. The session keeps
// them so that a backend started later (the VM-less reader now, the
// appliance later) can replay them.
type MountCall struct {
	Cmd        string // mount, mount-ro, mount-options or mount-vfs
	Options    string
	VFSType    string
	Mountable  string
	Mountpoint string
}

// Session is one shell session.
type Session struct {
	opts     Options
	drives   []appliance.Drive
	prepared []*Prepared
	h        *appliance.Handle
	mounts   []MountCall
	cwd      string
	// fast is the VM-less backend (vmless.go), opened on first use;
	// fastOff records that it cannot serve these drives at all.
	fast    *vmless
	fastOff bool
	// oses is what the last inspect-os found (nil before one ran).
	oses []inspect.OS

	quit   bool
	cmdNum int // commands issued so far, for the first-command hint

	// input name and line of the command running, for error messages
	// ("" when interactive or from the command line).
	inputName string
	lineNo    int
	// heredoc reads the lines of a "-<<END" here document from the
	// script being run (nil when not running a script).
	heredoc func(end string) (string, error)
	// greeting follows the banner at the prompt (-i's mounts).
	greeting string
}

// New returns a session with no drives. Nothing is started until a
// command needs the appliance.
func New(opts Options) *Session {
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cwd, _ := os.Getwd()
	s := &Session{opts: opts, cwd: cwd}
	s.h = s.newHandle()
	return s
}

func (s *Session) newHandle() *appliance.Handle {
	return appliance.New(appliance.Options{
		Accel: s.opts.Accel, AllowBacking: s.opts.AllowBacking,
		Verbose: s.opts.Verbose, Log: s.opts.Stderr,
	})
}

// SetInteractive switches between prompt mode (errors are reported and
// the shell continues) and script mode (the first error stops it).
func (s *Session) SetInteractive(on bool) { s.opts.Interactive = on }

// Quit reports whether the user asked to leave (quit, exit, q).
func (s *Session) Quit() bool { return s.quit }

// Drives returns the drives added so far.
func (s *Session) Drives() []appliance.Drive { return append([]appliance.Drive(nil), s.drives...) }

// Mounts returns the mounts made so far, in order.
func (s *Session) Mounts() []MountCall { return append([]MountCall(nil), s.mounts...) }

// Launched reports whether the appliance is running.
func (s *Session) Launched() bool { return s.h != nil && s.h.Launched() }

// Handle returns the appliance handle (for tests and -i/-m setup).
func (s *Session) Handle() *appliance.Handle { return s.h }

// Dir is the host working directory that relative host paths use.
func (s *Session) Dir() string { return s.cwd }

// SetDir sets the host working directory (lcd; --remote clients).
func (s *Session) SetDir(dir string) { s.cwd = dir }

// hostPath resolves a host path against the session's directory.
func (s *Session) hostPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.cwd, p)
}

// AddDrive adds a disk image; only before launch.
func (s *Session) AddDrive(d appliance.Drive) error {
	if s.Launched() {
		return errors.New("drives must be added before the appliance is launched (use reopen to start again)")
	}
	if d.Name == "" {
		d.Name = d.Path
	}
	d.Path = s.hostPath(d.Path)
	if err := s.h.AddDrive(d); err != nil {
		return err
	}
	s.drives = append(s.drives, s.h.Drives()[len(s.h.Drives())-1])
	return nil
}

// Launch boots the appliance if it is not running, prepares the -N
// disks and replays the recorded mounts.
func (s *Session) Launch(ctx context.Context) error {
	if s.Launched() {
		return nil
	}
	if len(s.drives) == 0 {
		return errors.New("launch: no disk image was added: use -a IMAGE, -N TYPE, or the add, alloc or sparse commands first")
	}
	if err := s.h.Launch(ctx); err != nil {
		return err
	}
	s.closeFast()
	for _, p := range s.prepared {
		if p.done {
			continue
		}
		if err := p.build(ctx, s.h); err != nil {
			return err
		}
		p.done = true
	}
	for _, m := range s.mounts {
		if err := mountOn(ctx, s.h, m); err != nil {
			return fmt.Errorf("%s %s %s: %w", m.Cmd, m.Mountable, m.Mountpoint, err)
		}
	}
	return nil
}

func mountOn(ctx context.Context, g Guest, m MountCall) error {
	var args []any
	switch m.Cmd {
	case "mount", "mount-ro":
		args = []any{m.Mountable, m.Mountpoint}
	case "mount-options":
		args = []any{m.Options, m.Mountable, m.Mountpoint}
	case "mount-vfs":
		args = []any{m.Options, m.VFSType, m.Mountable, m.Mountpoint}
	}
	_, err := g.Call(ctx, m.Cmd, args, nil, nil, nil)
	return err
}

// Close ends the session: the appliance syncs every filesystem (unless
// NoSync) and shuts down, and its temporary files are removed.
func (s *Session) Close() error {
	s.closeFast()
	if s.h == nil {
		return nil
	}
	h := s.h
	s.h = nil
	if s.opts.NoSync {
		h.Kill()
		return nil
	}
	return h.Close()
}

// Kill stops the appliance at once, without syncing.
func (s *Session) Kill() {
	if s.h != nil {
		s.h.Kill()
	}
}

// reopen closes the appliance (syncing) and starts a fresh handle with
// the same drives; it launches again on the next command that needs it.
func (s *Session) reopen() error {
	var err error
	if s.h != nil {
		err = s.h.Close()
	}
	s.h = s.newHandle()
	s.mounts = nil
	s.closeFast()
	s.fastOff = false
	s.oses = nil
	for _, d := range s.drives {
		if aerr := s.h.AddDrive(d); aerr != nil && err == nil {
			err = aerr
		}
	}
	return err
}

// readOnlyDrives names the drives added read-only.
func (s *Session) readOnlyDrives() []appliance.Drive {
	var out []appliance.Drive
	for _, d := range s.drives {
		if d.ReadOnly {
			out = append(out, d)
		}
	}
	return out
}

// driveOf returns the drive behind /dev/sdX or /dev/sdXN, if any.
func (s *Session) driveOf(dev string) (appliance.Drive, bool) {
	name, ok := strings.CutPrefix(dev, "/dev/sd")
	if !ok {
		name, ok = strings.CutPrefix(dev, "/dev/vd")
	}
	if !ok {
		return appliance.Drive{}, false
	}
	letters := strings.TrimRight(name, "0123456789")
	if letters == "" || strings.Trim(letters, "abcdefghijklmnopqrstuvwxyz") != "" {
		return appliance.Drive{}, false
	}
	idx := 0
	for _, c := range letters {
		idx = idx*26 + int(c-'a') + 1
	}
	idx--
	if idx < 0 || idx >= len(s.drives) {
		return appliance.Drive{}, false
	}
	return s.drives[idx], true
}

// mountFor returns the recorded mount holding a guest path.
func (s *Session) mountFor(p string) (MountCall, bool) {
	best, found := MountCall{}, false
	for _, m := range s.mounts {
		mp := strings.TrimSuffix(m.Mountpoint, "/")
		if p == m.Mountpoint || mp == "" || p == mp || strings.HasPrefix(p, mp+"/") {
			if !found || len(m.Mountpoint) >= len(best.Mountpoint) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// checkWritable refuses, before anything runs, a command that changes
// the guest when the drive it would change was added read-only.
func (s *Session) checkWritable(cmd *api.Command, p *parsedArgs) error {
	ro := s.readOnlyDrives()
	if len(ro) == 0 {
		return nil
	}
	refuse := func(d appliance.Drive) error {
		return fmt.Errorf("%s: refusing to change %s: it was added read-only (--ro or add-ro); use --rw to allow writes", cmd.Name, d.Name)
	}
	if len(ro) == len(s.drives) {
		return refuse(ro[0])
	}
	check := func(dev string) error {
		if d, ok := s.driveOf(dev); ok && d.ReadOnly {
			return refuse(d)
		}
		return nil
	}
	for i, a := range cmd.Args {
		if p == nil || i >= len(p.values) {
			break
		}
		switch a.Kind {
		case api.Device, api.Mountable:
			if err := check(p.str(i)); err != nil {
				return err
			}
		case api.DeviceList:
			l, _ := p.values[i].([]string)
			for _, d := range l {
				if err := check(d); err != nil {
					return err
				}
			}
		case api.Pathname:
			if m, ok := s.mountFor(p.str(i)); ok {
				if err := check(m.Mountable); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// recordMount keeps the session's list of mounts in step after a
// successful mount or umount.
func (s *Session) recordMount(cmd *api.Command, p *parsedArgs) {
	switch cmd.Name {
	case "mount", "mount-ro":
		s.mounts = append(s.mounts, MountCall{Cmd: cmd.Name, Mountable: p.str(0), Mountpoint: p.str(1)})
	case "mount-options":
		s.mounts = append(s.mounts, MountCall{Cmd: cmd.Name, Options: p.str(0), Mountable: p.str(1), Mountpoint: p.str(2)})
	case "mount-vfs":
		s.mounts = append(s.mounts, MountCall{Cmd: cmd.Name, Options: p.str(0), VFSType: p.str(1), Mountable: p.str(2), Mountpoint: p.str(3)})
	case "umount":
		t := p.str(0)
		for i := len(s.mounts) - 1; i >= 0; i-- {
			if s.mounts[i].Mountpoint == t || s.mounts[i].Mountable == t {
				s.mounts = append(s.mounts[:i], s.mounts[i+1:]...)
				break
			}
		}
	case "umount-all":
		s.mounts = nil
	}
}
