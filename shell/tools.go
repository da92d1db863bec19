package shell

// Entry points for the virt-* style tools (gfs cat, ls, copy-out): they
// run on a read-only Session like a script would, and reach the guest
// only through withGuest, so they ride the VM-less reader while it can
// answer and fall back to the appliance as the table commands do.

import (
	"context"
	"io"
	"path"
	"sort"

	"gfs/appliance/api"
)

// RunTo runs one command with its argument words as a script line
// would (with -x tracing), writing its output to stdout instead of the
// session's. A failure is reported on the session's stderr as the shell
// reports it ("gfs: error: CMD: cause") and returned.
func (s *Session) RunTo(ctx context.Context, name string, words []string, stdout io.Writer) error {
	s.cmdNum++
	err := withCommandContext(ctx, func(ctx context.Context) error {
		return s.runWords(ctx, name, words, stdout)
	})
	if err != nil {
		s.report(name, err)
	}
	return err
}

// Report prints an error as the shell does: "gfs: error: NAME: cause".
func (s *Session) Report(name string, err error) { s.report(name, err) }

// Lstat is lstatns of one guest path. With exactDev the device number
// must be the one the appliance's kernel reports (virt-ls
// --extra-stats): where the VM-less reader cannot know it (LVs), the
// appliance answers.
func (s *Session) Lstat(ctx context.Context, p string, exactDev bool) (api.StatNS, error) {
	var st api.StatNS
	err := s.withGuest(ctx, api.Lookup("lstatns"), func(g Guest) error {
		var err error
		if v, ok := g.(*vmless); ok {
			if len(v.mounts.Mountpoints()) == 0 {
				return needAppliance("lstatns with nothing mounted")
			}
			fst, err := v.mounts.Lstat(p)
			if err != nil {
				return guestErr("lstatns", p, err)
			}
			st, err = v.statNS(p, fst, exactDev)
			return err
		}
		st, err = g.Lstatns(ctx, p)
		return err
	})
	return st, err
}

// ReadDirStat lists a guest directory as virt-ls -lR visits it: every
// entry but "." and "..", sorted by name, with its lstat and, for
// symbolic links, the target. exactDev is as for Lstat (and also sends
// vfat to the appliance: its inode numbers are the kernel's).
func (s *Session) ReadDirStat(ctx context.Context, dir string, exactDev bool) ([]api.FileStat, error) {
	var out []api.FileStat
	err := s.withGuest(ctx, api.Lookup("ll"), func(g Guest) error {
		var all []api.FileStat
		var err error
		if v, ok := g.(*vmless); ok {
			all, err = v.dirStat(dir, exactDev)
		} else {
			all, err = g.Lstatnslist(ctx, dir, nil)
		}
		if err != nil {
			return err
		}
		out = make([]api.FileStat, 0, len(all))
		for _, e := range all {
			if e.Name != "." && e.Name != ".." {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}

// dirStat is Lstatnslist of a whole directory, with the stat commands'
// exactness when exactDev is set.
func (v *vmless) dirStat(dir string, exactDev bool) ([]api.FileStat, error) {
	if len(v.mounts.Mountpoints()) == 0 {
		return nil, needAppliance("lstatnslist with nothing mounted")
	}
	if !exactDev {
		return v.Lstatnslist(context.Background(), dir, nil)
	}
	ents, err := v.mounts.ReadDir(dir)
	if err != nil {
		return nil, guestErr("lstatnslist", dir, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	out := make([]api.FileStat, 0, len(ents))
	for _, e := range ents {
		p := path.Join(dir, e.Name)
		st, err := v.mounts.Lstat(p)
		if err != nil {
			return nil, guestErr("lstatnslist", p, err)
		}
		ns, err := v.statNS(p, st, true)
		if err != nil {
			return nil, err
		}
		fs := api.FileStat{Name: e.Name, StatNS: ns}
		if st.IsSymlink() {
			if fs.Link, err = v.mounts.Readlink(p); err != nil {
				return nil, guestErr("lstatnslist", p, err)
			}
		}
		out = append(out, fs)
	}
	return out, nil
}
