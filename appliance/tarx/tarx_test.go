package tarx

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type member struct {
	name, link string
	typ        byte
	body       string
}

func archive(t *testing.T, members []member) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Linkname: m.link, Typeflag: m.typ, Mode: 0o644, Size: int64(len(m.body)), ModTime: time.Unix(1e9, 0)}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if m.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(m.body))
		}
	}
	tw.Close()
	return &buf
}

func openRoot(t *testing.T, dir string) int {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// A hostile archive (the guest's side of copy-out) cannot write outside
// the root, whatever its names, links and hard links.
func TestExtractIsConfined(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	os.Mkdir(root, 0o755)
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600)

	evil := archive(t, []member{
		{name: "../outside/dotdot", typ: tar.TypeReg, body: "x"},
		{name: "/" + strings.TrimPrefix(outside, "/") + "/absolute", typ: tar.TypeReg, body: "x"},
		{name: "escape", typ: tar.TypeSymlink, link: outside},
		{name: "escape/through-link", typ: tar.TypeReg, body: "x"},
		{name: "up", typ: tar.TypeSymlink, link: "../.."},
		{name: "up/outside/through-dots", typ: tar.TypeReg, body: "x"},
		{name: "hard", typ: tar.TypeLink, link: "../outside/secret"},
		{name: "ok/file", typ: tar.TypeReg, body: "fine"},
	})
	err := Extract(evil, openRoot(t, root), "/", ExtractOptions{})
	// The hard link target does not exist inside the root: an error is
	// fine, escaping is not.
	t.Logf("extract: %v", err)
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 || entries[0].Name() != "secret" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files appeared outside the root: %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "host secret" {
		t.Fatalf("the file outside was changed")
	}
	// Links are stored as links inside the root.
	if target, err := os.Readlink(filepath.Join(root, "escape")); err != nil || target != outside {
		t.Errorf("symlink member: %q %v", target, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "outside/dotdot")); string(b) != "x" {
		t.Errorf("../outside/dotdot was not confined to root/outside/dotdot")
	}
}

func TestCreateExtractRoundTrip(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "d/e"), 0o750)
	os.WriteFile(filepath.Join(src, "d/e/f"), []byte("content"), 0o640)
	os.Symlink("../d/e/f", filepath.Join(src, "d/link"))
	os.WriteFile(filepath.Join(src, "skip.tmp"), []byte("no"), 0o644)
	mtime := time.Unix(1234567890, 0)
	os.Chtimes(filepath.Join(src, "d/e/f"), mtime, mtime)

	var buf bytes.Buffer
	if err := Create(&buf, openRoot(t, src), "/", CreateOptions{Excludes: []string{"*.tmp"}}); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Extract(&buf, openRoot(t, dst), "/sub", ExtractOptions{SameOwner: true}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "sub/d/e/f"))
	if err != nil || string(b) != "content" {
		t.Fatalf("file: %q %v", b, err)
	}
	fi, _ := os.Stat(filepath.Join(dst, "sub/d/e/f"))
	if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mtime) {
		t.Errorf("mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	if di, _ := os.Stat(filepath.Join(dst, "sub/d/e")); di.Mode().Perm() != 0o750 {
		t.Errorf("dir mode %v", di.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(dst, "sub/d/link")); l != "../d/e/f" {
		t.Errorf("link = %q", l)
	}
	if _, err := os.Stat(filepath.Join(dst, "sub/skip.tmp")); err == nil {
		t.Errorf("excluded file was archived")
	}
	// A single file archives under its base name.
	buf.Reset()
	if err := Create(&buf, openRoot(t, src), "/d/e/f", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	h, err := tr.Next()
	if err != nil || h.Name != "f" || h.Size != 7 {
		t.Errorf("single-file member = %+v %v", h, err)
	}
}
