package fs

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The tests build real images with real tools. A missing tool is a test
// failure that says what to install, never a silent skip.
const installHint = "apt-get install -y qemu-utils e2fsprogs dosfstools xfsprogs btrfs-progs gdisk fdisk lvm2 mtools genisoimage cryptsetup-bin squashfs-tools ntfs-3g"

func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("test needs %q, which is not installed; install it with: %s", tool, installHint)
		}
	}
}

// run runs a command and fails the test if it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return runIn(t, "", nil, name, args...)
}

func runIn(t testing.TB, dir string, stdin []byte, name string, args ...string) string {
	t.Helper()
	needTools(t, name)
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1")
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// writeFile creates a file of the given size filled by fill (or sparse).
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// patterned returns n bytes mixing random data, runs of zeros and
// repeated text, so compressed and sparse encodings are all exercised.
func patterned(seed int64, n int) []byte {
	r := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	for off := 0; off < n; {
		l := 1 + r.Intn(200000)
		if off+l > n {
			l = n - off
		}
		switch r.Intn(3) {
		case 0:
			r.Read(b[off : off+l])
		case 1: // zeros
		case 2:
			for i := off; i < off+l; i++ {
				b[i] = "gfs qcow2 test pattern "[i%23]
			}
		}
		off += l
	}
	return b
}

func openT(t testing.TB, path, format string, allowBacking bool) Image {
	t.Helper()
	img, err := OpenImage(path, format, allowBacking)
	if err != nil {
		t.Fatalf("OpenImage(%s, %q): %v", path, format, err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// readAll reads a whole image through ReadAt in uneven chunks.
func readAll(t testing.TB, img Image, chunk int) []byte {
	t.Helper()
	out := make([]byte, img.Size())
	for off := 0; off < len(out); off += chunk {
		end := min(off+chunk, len(out))
		if n, err := img.ReadAt(out[off:end], int64(off)); err != nil && !(err.Error() == "EOF" && n == end-off) {
			t.Fatalf("ReadAt(%d, %d): n=%d err=%v", off, end-off, n, err)
		}
	}
	return out
}
