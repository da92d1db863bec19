package appliance

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
	"github.com/u-root/u-root/pkg/ldd"
)

// tree is the file list of an initramfs being assembled: guest path →
// what to put there. Host files are copied at their own paths, so that
// tools find their libraries exactly where the host's dynamic linker
// looks for them.
type tree struct {
	entries map[string]entry
}

type entry struct {
	mode    uint64 // cpio S_IF* | permission bits
	host    string // copy this host file's content
	data    []byte // or this content
	symlink string
}

func newTree() *tree { return &tree{entries: map[string]entry{}} }

func (t *tree) dir(p string) {
	p = path.Clean(p)
	for p != "/" && p != "." {
		if _, ok := t.entries[p]; ok {
			return
		}
		t.entries[p] = entry{mode: cpio.S_IFDIR | 0o755}
		p = path.Dir(p)
	}
}

func (t *tree) file(p string, data []byte, perm uint64) {
	t.dir(path.Dir(p))
	t.entries[path.Clean(p)] = entry{mode: cpio.S_IFREG | perm, data: data}
}

func (t *tree) link(p, target string) {
	t.dir(path.Dir(p))
	t.entries[path.Clean(p)] = entry{mode: cpio.S_IFLNK | 0o777, symlink: target}
}

// addHost copies a host path into the tree, reproducing every symlink on
// the way (/lib → usr/lib on merged-/usr systems, mkfs.ext4 → mke2fs),
// so the result resolves exactly as on the host.
func (t *tree) addHost(p string) error {
	return t.addHostDepth(p, 0)
}

func (t *tree) addHostDepth(p string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	p = path.Clean(p)
	// Walk the parents first: a parent may itself be a symlink.
	dir := "/"
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, part := range parts {
		cur := path.Join(dir, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return err
		}
		last := i == len(parts)-1
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(cur)
			if err != nil {
				return err
			}
			t.link(cur, target)
			abs := target
			if !path.IsAbs(target) {
				abs = path.Join(dir, target)
			}
			rest := path.Join(parts[i+1:]...)
			return t.addHostDepth(path.Join(abs, rest), depth+1)
		case last && fi.Mode().IsRegular():
			t.dir(dir)
			t.entries[cur] = entry{mode: cpio.S_IFREG | uint64(fi.Mode().Perm()), host: cur}
		case last && fi.IsDir():
			t.dir(cur)
		case !fi.IsDir():
			return fmt.Errorf("%s: not a directory", cur)
		}
		dir = cur
	}
	return nil
}

// write emits the tree as a newc cpio archive, parents before children.
func (t *tree) write(w io.Writer) error {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	rw := cpio.Newc.Writer(w)
	ino := uint64(1)
	for _, n := range names {
		e := t.entries[n]
		info := cpio.Info{Name: strings.TrimPrefix(n, "/"), Mode: e.mode, Ino: ino, NLink: 1}
		ino++
		var rec cpio.Record
		switch {
		case e.symlink != "":
			rec = cpio.StaticRecord([]byte(e.symlink), info)
		case e.host != "":
			f, err := os.Open(e.host)
			if err != nil {
				return err
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return err
			}
			info.FileSize = uint64(fi.Size())
			rec = cpio.Record{ReaderAt: f, Info: info}
			err = rw.WriteRecord(rec)
			f.Close()
			if err != nil {
				return fmt.Errorf("cpio %s: %w", n, err)
			}
			continue
		case e.data != nil:
			rec = cpio.StaticRecord(e.data, info)
		default:
			info.NLink = 2
			rec = cpio.StaticRecord(nil, info)
		}
		if err := rw.WriteRecord(rec); err != nil {
			return fmt.Errorf("cpio %s: %w", n, err)
		}
	}
	return cpio.WriteTrailer(rw)
}

// lookTool finds a tool in the sbin/bin directories, as the agent's
// PATH will.
func lookTool(name string) string {
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// scriptInterpreter returns the #! interpreter of a script, if any.
func scriptInterpreter(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	if !strings.HasPrefix(line, "#!") {
		return ""
	}
	fields := strings.Fields(strings.TrimPrefix(line, "#!"))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

func isDynamicELF(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// addPrograms adds host programs and every shared library they load.
func (t *tree) addPrograms(progs []string) error {
	var elves []string
	seen := map[string]bool{}
	var add func(p string) error
	add = func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		if err := t.addHost(p); err != nil {
			return err
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return err
		}
		if interp := scriptInterpreter(real); interp != "" {
			return add(interp)
		}
		if isDynamicELF(real) {
			elves = append(elves, real)
		}
		return nil
	}
	for _, p := range progs {
		if err := add(p); err != nil {
			return err
		}
	}
	if len(elves) == 0 {
		return nil
	}
	libs, err := ldd.FList(elves...)
	if err != nil {
		return fmt.Errorf("list shared libraries: %w", err)
	}
	for _, l := range libs {
		if err := t.addHost(l); err != nil {
			return err
		}
	}
	return nil
}
