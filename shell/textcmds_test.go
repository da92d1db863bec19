package shell

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

func TestSelectLines(t *testing.T) {
	file := "1\n2\n3\r\n\n5" // five lines, the last without LF
	for _, tc := range []struct {
		name string
		n    int64
		want string
	}{
		{"head-n", 2, "1\n2\n"},
		{"head-n", 9, "1\n2\n3\r\n\n5\n"},
		{"head-n", -2, "1\n2\n3\r\n"},
		{"head-n", -9, ""},
		{"head-n", 0, ""},
		{"tail-n", 2, "\n5\n"},
		{"tail-n", 9, "1\n2\n3\r\n\n5\n"},
		{"tail-n", -2, "2\n3\r\n\n5\n"},
		{"tail-n", -1, "1\n2\n3\r\n\n5\n"},
		{"tail-n", -9, ""},
		{"tail-n", 0, ""},
	} {
		for _, chunk := range []int{1, 3, 100} {
			written := 0
			download := func(w io.Writer) error {
				for i := 0; i < len(file); i += chunk {
					n, err := w.Write([]byte(file[i:min(i+chunk, len(file))]))
					written += n
					if err != nil {
						return err
					}
				}
				return nil
			}
			var out bytes.Buffer
			if err := selectLines(tc.name, tc.n, download, &out); err != nil {
				t.Fatalf("%s %d: %v", tc.name, tc.n, err)
			}
			if out.String() != tc.want {
				t.Errorf("%s %d (chunks of %d) = %q, want %q", tc.name, tc.n, chunk, out.String(), tc.want)
			}
			// head stops the download once it has its lines.
			if tc.name == "head-n" && tc.n == 2 && chunk == 1 && written > len("1\n2\n") {
				t.Errorf("head-n 2 read %d bytes, want it to stop after the second line", written)
			}
		}
	}
	// A download error still fails the command.
	boom := errors.New("boom")
	if err := selectLines("tail-n", 3, func(io.Writer) error { return boom }, io.Discard); !errors.Is(err, boom) {
		t.Errorf("download error = %v", err)
	}
}

// The CRC and the counts must be what the coreutils programs, which
// libguestfs runs, print for the same bytes.
func TestChecksumAndCountsMatchCoreutils(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := [][]byte{nil, []byte("hello world\n"), []byte("  two\twords\v\f\r\n\n x"), []byte{0, 0xff, 0x85, 0xa0, ' ', 'a'}}
	for _, n := range []int{1, 255, 256, 70000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		inputs = append(inputs, b)
	}
	for i, in := range inputs {
		c := NewChecksum("crc")
		c.Write(in)
		want := coreutils(t, in, "cksum")
		if got := FormatChecksum(c); got != strings.Fields(want)[0] {
			t.Errorf("input %d: cksum %s, coreutils %s", i, got, want)
		}
		var w wcCounter
		// Split writes: words may straddle them.
		for j := 0; j < len(in); j += 7 {
			w.Write(in[j:min(j+7, len(in))])
		}
		got := fmt.Sprint(w.lines, w.wordCount(), w.bytes)
		if want := strings.Join(strings.Fields(coreutils(t, in, "wc", "-l", "-w", "-c")), " "); got != want {
			t.Errorf("input %d: wc %s, coreutils %s", i, got, want)
		}
	}
}

func coreutils(t *testing.T, in []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = []string{"LC_ALL=C"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}
