package shell

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestLineRange(t *testing.T) {
	lines := []string{"1", "2", "3", "4", "5"}
	for _, tc := range []struct {
		name string
		n    int64
		want []string
	}{
		{"head-n", 2, []string{"1", "2"}},
		{"head-n", 9, lines},
		{"head-n", -2, []string{"1", "2", "3"}},
		{"head-n", -9, []string{}},
		{"head-n", 0, nil},
		{"tail-n", 2, []string{"4", "5"}},
		{"tail-n", 9, lines},
		{"tail-n", -2, []string{"2", "3", "4", "5"}},
		{"tail-n", -1, lines},
		{"tail-n", -9, []string{}},
		{"tail-n", 0, nil},
	} {
		got := lineRange(tc.name, tc.n, lines)
		if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%s %d = %q, want %q", tc.name, tc.n, got, tc.want)
		}
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
		var c cksum
		c.Write(in)
		want := coreutils(t, in, "cksum")
		if got := fmt.Sprint(c.Sum32()); got != strings.Fields(want)[0] {
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
