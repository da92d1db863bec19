package fs

// Recursive traversal for find, ls -R, copy-out and du: never follows
// symlinks, visits each directory inode once (a crafted image can make a
// directory its own descendant), and stops after a fixed number of
// entries so a hostile tree cannot spin for ever.

import (
	"errors"
	iofs "io/fs"
	"sort"
	"syscall"
)

// maxWalkEntries bounds one Walk.
const maxWalkEntries = 50_000_000

// WalkFunc is called for every path under the walked root, the root
// first, parents before children, names in byte order. st is the lstat
// of path; if err is non-nil st is zero. Returning io/fs.SkipDir from a
// directory skips its contents; io/fs.SkipAll ends the walk; any other
// error ends the walk and is returned.
type WalkFunc func(path string, st Stat, err error) error

// Walk walks the tree at root (root itself is resolved following
// symlinks, like find -H).
func (m *Mounts) Walk(root string, fn WalkFunc) (err error) {
	defer guardPath(&err, "walk", root)
	m.mu.RLock()
	defer m.mu.RUnlock()
	w := m.newWalker("walk", root)
	fr, err := w.resolve(root, true)
	if err != nil {
		return err
	}
	rootPath := w.path()
	type key struct {
		m   *mount
		ino Ino
	}
	visited := map[key]bool{}
	count := 0
	var visit func(path string, mt *mount, ino Ino) error
	visit = func(path string, mt *mount, ino Ino) error {
		if count++; count > maxWalkEntries {
			return &iofs.PathError{Op: "walk", Path: path, Err: unsupportedf("more than %d entries", maxWalkEntries)}
		}
		st, err := m.statAt(mt, ino)
		if err != nil {
			return fn(path, Stat{}, &iofs.PathError{Op: "lstat", Path: path, Err: err})
		}
		if err := fn(path, st, nil); err != nil || !st.IsDir() {
			if errors.Is(err, iofs.SkipDir) {
				return nil
			}
			return err
		}
		if visited[key{mt, ino}] {
			// A directory seen before: a cycle (or a bind-like loop).
			return nil
		}
		visited[key{mt, ino}] = true
		ents, err := mt.fs.ReadDir(ino)
		if err != nil {
			return fn(path, st, &iofs.PathError{Op: "readdir", Path: path, Err: err})
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
		for _, e := range ents {
			cm, ci := m.cross(mt, e.Ino)
			child := path + "/" + e.Name
			if path == "/" {
				child = "/" + e.Name
			}
			if len(child) >= maxPathLen {
				// Also bounds the recursion depth.
				if err := fn(child, Stat{}, &iofs.PathError{Op: "lstat", Path: child, Err: syscall.ENAMETOOLONG}); err != nil && !errors.Is(err, iofs.SkipDir) {
					return err
				}
				continue
			}
			if err := visit(child, cm, ci); err != nil {
				return err
			}
		}
		return nil
	}
	err = visit(rootPath, fr.m, fr.ino)
	if errors.Is(err, iofs.SkipAll) {
		return nil
	}
	return err
}
