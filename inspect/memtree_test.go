package inspect

import (
	"context"
	"path"
	"sort"
	"strings"
	"syscall"
)

// memTree is an in-memory Tree for unit tests: paths ending in "/" are
// directories, "->target" bodies are symlinks.
type memTree map[string]string

func (m memTree) kind(p string) (Stat, bool) {
	p = path.Clean(p)
	if b, ok := m[p]; ok {
		if t, ok := strings.CutPrefix(b, "->"); ok {
			return Stat{Mode: syscall.S_IFLNK | 0o777, Size: int64(len(t))}, true
		}
		return Stat{Mode: syscall.S_IFREG | 0o644, Size: int64(len(b))}, true
	}
	if p == "/" {
		return Stat{Mode: syscall.S_IFDIR | 0o755}, true
	}
	for k := range m {
		if strings.HasPrefix(k, p+"/") {
			return Stat{Mode: syscall.S_IFDIR | 0o755}, true
		}
	}
	return Stat{}, false
}

func (m memTree) resolve(p string) string {
	for i := 0; i < 10; i++ {
		b, ok := m[path.Clean(p)]
		t, isLink := strings.CutPrefix(b, "->")
		if !ok || !isLink {
			return p
		}
		if !strings.HasPrefix(t, "/") {
			t = path.Join(path.Dir(p), t)
		}
		p = t
	}
	return p
}

func (m memTree) Lstat(_ context.Context, p string) (Stat, error) {
	if st, ok := m.kind(p); ok {
		return st, nil
	}
	return Stat{}, syscall.ENOENT
}
func (m memTree) Stat(ctx context.Context, p string) (Stat, error) { return m.Lstat(ctx, m.resolve(p)) }
func (m memTree) ReadFile(_ context.Context, p string, limit int64) ([]byte, error) {
	b, ok := m[path.Clean(m.resolve(p))]
	if !ok {
		return nil, syscall.ENOENT
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return []byte(b), nil
}
func (m memTree) ReadHead(ctx context.Context, p string, n int) ([]byte, error) {
	b, err := m.ReadFile(ctx, p, 1<<30)
	if len(b) > n {
		b = b[:n]
	}
	return b, err
}
func (m memTree) ReadDir(_ context.Context, p string) ([]DirEntry, error) {
	p = path.Clean(p)
	seen := map[string]bool{}
	var out []DirEntry
	for k := range m {
		rest, ok := strings.CutPrefix(k, strings.TrimSuffix(p, "/")+"/")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if !seen[name] {
			seen[name] = true
			out = append(out, DirEntry{Name: name})
		}
	}
	if len(out) == 0 {
		if _, ok := m.kind(p); !ok {
			return nil, syscall.ENOENT
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
func (m memTree) Readlink(_ context.Context, p string) (string, error) {
	if t, ok := strings.CutPrefix(m[path.Clean(p)], "->"); ok {
		return t, nil
	}
	return "", syscall.EINVAL
}
func (m memTree) Failed() map[string]error { return nil }
func (m memTree) Close() error             { return nil }
