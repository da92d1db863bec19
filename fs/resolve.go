package fs

// Component-by-component path resolution over a Mounts table.

import (
	"errors"
	iofs "io/fs"
	"strings"
	"syscall"
)

const (
	maxSymlinkHops = 40   // the kernel's MAXSYMLINKS
	maxPathLen     = 4096 // PATH_MAX, including the terminating NUL
	maxWalkSteps   = 1 << 20
)

type frame struct {
	m    *mount
	ino  Ino
	name string
}

// walker resolves one path. stack holds the directories walked so far
// (stack[0] is the root), so ".." is the previous element: the physical
// parent, which never rises above the guest root.
type walker struct {
	ms    *Mounts
	op    string
	orig  string
	stack []frame
	hops  int
	steps int
}

func (m *Mounts) newWalker(op, path string) *walker { return &walker{ms: m, op: op, orig: path} }

// fail wraps err as the PathError callers print.
func (w *walker) fail(err error) error {
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &iofs.PathError{Op: w.op, Path: w.orig, Err: err}
}

// path returns the canonical path of the current position.
func (w *walker) path() string {
	if len(w.stack) <= 1 {
		return "/"
	}
	var b strings.Builder
	for _, f := range w.stack[1:] {
		b.WriteByte('/')
		b.WriteString(f.name)
	}
	return b.String()
}

// resolve walks path from the guest root. follow says whether a final
// symlink is followed (a trailing slash always follows and requires a
// directory, as in the kernel).
func (w *walker) resolve(path string, follow bool) (frame, error) {
	if path == "" || path[0] != '/' {
		return frame{}, w.fail(ErrNotAbsolute)
	}
	if len(path) >= maxPathLen {
		return frame{}, w.fail(syscall.ENAMETOOLONG)
	}
	root := w.ms.root()
	if root == nil {
		return frame{}, w.fail(errors.New("no filesystem is mounted on /"))
	}
	rm, ri := w.ms.cross(root, root.fs.Root())
	w.stack = []frame{{m: rm, ino: ri}}
	// A trailing "/", "/." or "/.." requires a directory (and follows a
	// final symlink), as in the kernel.
	mustDir := strings.HasSuffix(path, "/") || strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..")
	if mustDir {
		follow = true
	}
	todo := splitPath(path)
	for len(todo) > 0 {
		if w.steps++; w.steps > maxWalkSteps {
			return frame{}, w.fail(syscall.ELOOP)
		}
		c := todo[0]
		todo = todo[1:]
		last := len(todo) == 0
		if c == ".." {
			if len(w.stack) > 1 {
				w.stack = w.stack[:len(w.stack)-1]
			}
			continue
		}
		if len(c) > maxNameLen {
			return frame{}, w.fail(syscall.ENAMETOOLONG)
		}
		cur := w.stack[len(w.stack)-1]
		ino, err := cur.m.fs.Lookup(cur.ino, c)
		if err != nil {
			return frame{}, w.fail(err)
		}
		m, ino := w.ms.cross(cur.m, ino)
		st, err := m.fs.Stat(ino)
		if err != nil {
			return frame{}, w.fail(err)
		}
		if st.IsSymlink() && (!last || follow) {
			if w.hops++; w.hops > maxSymlinkHops {
				return frame{}, w.fail(syscall.ELOOP)
			}
			target, err := m.fs.Readlink(ino)
			if err != nil {
				return frame{}, w.fail(err)
			}
			if target == "" {
				return frame{}, w.fail(syscall.ENOENT)
			}
			if target[0] == '/' {
				w.stack = w.stack[:1] // absolute: the guest root, never the host's
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if !last && !st.IsDir() {
			return frame{}, w.fail(syscall.ENOTDIR)
		}
		w.stack = append(w.stack, frame{m: m, ino: ino, name: c})
	}
	fr := w.stack[len(w.stack)-1]
	if mustDir {
		st, err := fr.m.fs.Stat(fr.ino)
		if err != nil {
			return frame{}, w.fail(err)
		}
		if !st.IsDir() {
			return frame{}, w.fail(syscall.ENOTDIR)
		}
	}
	return fr, nil
}

// splitPath returns the components of a path, without empty ones and ".".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}
