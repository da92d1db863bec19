package appliance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// modDep is modules.dep: module name → its file and direct dependencies.
type modDep struct {
	dir   string
	files map[string]string   // name → path relative to dir
	deps  map[string][]string // name → names
}

func modName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

func readModDep(dir string) (*modDep, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := &modDep{dir: dir, files: map[string]string{}, deps: map[string][]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		file, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := modName(file)
		m.files[name] = file
		for _, d := range strings.Fields(deps) {
			m.deps[name] = append(m.deps[name], modName(d))
		}
	}
	return m, sc.Err()
}

// closure returns the wanted modules that exist plus all their
// dependencies, sorted; names the kernel lacks are returned separately
// (they may be built in, which is fine).
func (m *modDep) closure(want []string) (have, absent []string) {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range m.deps[n] {
			visit(d)
		}
	}
	for _, w := range want {
		w = strings.ReplaceAll(w, "-", "_")
		if _, ok := m.files[w]; ok {
			visit(w)
		} else {
			absent = append(absent, w)
		}
	}
	for n := range seen {
		have = append(have, n)
	}
	sort.Strings(have)
	return have, absent
}

// addModules copies modules into the tree under /lib/modules/<ver>,
// decompressing .ko.xz/.ko.zst/.ko.gz on the host (much faster than in
// an emulated guest), with a modules.dep listing only what is there.
// With a prefix, the modules go below it (prefix/usr/lib/modules/<ver>),
// where u-root's kmodule finds them given RootDir: prefix.
func (t *tree) addModules(k Kernel, names []string, m *modDep, prefix string) error {
	// Place modules at the host's real path (on merged-/usr systems
	// /lib is a symlink to usr/lib), reproducing the symlinks on the way.
	if prefix == "" {
		if err := t.addHost(k.ModulesDir); err != nil {
			return err
		}
	}
	root, err := filepath.EvalSymlinks(k.ModulesDir)
	if err != nil {
		return err
	}
	root = path.Join(prefix, root)
	rename := map[string]string{}
	for _, n := range names {
		rel := m.files[n]
		src := filepath.Join(m.dir, rel)
		dst := rel
		for _, ext := range []string{".xz", ".zst", ".gz"} {
			if strings.HasSuffix(rel, ".ko"+ext) {
				dst = strings.TrimSuffix(rel, ext)
			}
		}
		rename[rel] = dst
		if dst == rel {
			t.dir(path.Dir(path.Join(root, dst)))
			t.entries[path.Join(root, dst)] = entry{mode: 0o100644, host: src}
			continue
		}
		data, err := decompressFile(src)
		if err != nil {
			return fmt.Errorf("module %s: %w", n, err)
		}
		t.file(path.Join(root, dst), data, 0o644)
	}
	var dep bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&dep, "%s:", rename[m.files[n]])
		for _, d := range m.deps[n] {
			fmt.Fprintf(&dep, " %s", rename[m.files[d]])
		}
		dep.WriteByte('\n')
	}
	t.file(path.Join(root, "modules.dep"), dep.Bytes(), 0o644)
	if b, err := os.ReadFile(filepath.Join(m.dir, "modules.builtin")); err == nil {
		t.file(path.Join(root, "modules.builtin"), b, 0o644)
	}
	return nil
}

func decompressFile(p string) ([]byte, error) {
	var prog string
	switch {
	case strings.HasSuffix(p, ".xz"):
		prog = "xz"
	case strings.HasSuffix(p, ".zst"):
		prog = "zstd"
	case strings.HasSuffix(p, ".gz"):
		prog = "gzip"
	}
	out, err := exec.Command(prog, "-dc", p).Output()
	if err != nil {
		return nil, fmt.Errorf("%s -dc %s: %w", prog, p, err)
	}
	return out, nil
}
