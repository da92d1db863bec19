package shell

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"syscall"

	"gfs/appliance"
)

// The text commands of guestfish that read a whole file (head-n,
// tail-n, wc-*, checksum) are built on Download, so both backends serve
// them and the file is streamed where it can be.

// lineRange is head-n and tail-n's choice of lines out of all.
func lineRange(name string, n int64, lines []string) []string {
	total := int64(len(lines))
	clamp := func(k int64) int64 { return max(0, min(k, total)) }
	switch {
	case n == 0:
		return nil
	case name == "head-n" && n > 0:
		return lines[:clamp(n)]
	case name == "head-n": // all but the last -n
		return lines[:clamp(total+n)]
	case n > 0: // tail-n: the last n
		return lines[clamp(total-n):]
	default: // tail-n: from line -n on (1-based)
		return lines[clamp(-n-1):]
	}
}

func (s *Session) headTailN(ctx context.Context, g Guest, name string, n int64, path string, stdout io.Writer) error {
	var buf bytes.Buffer
	if err := g.Download(ctx, path, &buf); err != nil {
		return err
	}
	bw := bufio.NewWriter(stdout)
	for _, l := range lineRange(name, n, splitLines(buf.String(), false)) {
		bw.WriteString(l + "\n")
	}
	return bw.Flush()
}

// wcCounter counts as coreutils wc does in the C locale (what
// libguestfs runs): newlines, bytes, and words, which are runs holding a
// printable character ended by white space; other bytes neither start
// nor end a word.
type wcCounter struct {
	lines, words, bytes int64
	inWord              bool
}

func (w *wcCounter) Write(b []byte) (int, error) {
	for _, c := range b {
		switch {
		case c == '\n' || c == '\r' || c == '\f' || c == '\t' || c == '\v' || c == ' ':
			if c == '\n' {
				w.lines++
			}
			if w.inWord {
				w.words++
				w.inWord = false
			}
		case c > ' ' && c < 0x7f:
			w.inWord = true
		}
	}
	w.bytes += int64(len(b))
	return len(b), nil
}

func (w *wcCounter) wordCount() int64 {
	if w.inWord {
		return w.words + 1
	}
	return w.words
}

func (s *Session) wc(ctx context.Context, g Guest, name, path string, stdout io.Writer) error {
	var w wcCounter
	if err := g.Download(ctx, path, &w); err != nil {
		return err
	}
	n := map[string]int64{"wc-l": w.lines, "wc-w": w.wordCount(), "wc-c": w.bytes}[name]
	_, err := fmt.Fprintln(stdout, n)
	return err
}

func (s *Session) checksum(ctx context.Context, g Guest, kind, path string, stdout io.Writer) error {
	var h hash.Hash
	switch kind {
	case "crc":
		h = &cksum{}
	case "md5":
		h = md5.New()
	case "sha1":
		h = sha1.New()
	case "sha224":
		h = sha256.New224()
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	default:
		return &appliance.Error{Op: "checksum", Errno: int(syscall.EINVAL),
			Msg: kind + ": unknown checksum type (crc, md5, sha1, sha224, sha256, sha384, sha512)"}
	}
	if err := g.Download(ctx, path, h); err != nil {
		return err
	}
	out := hex.EncodeToString(h.Sum(nil))
	if c, ok := h.(*cksum); ok {
		out = fmt.Sprint(c.Sum32())
	}
	_, err := fmt.Fprintln(stdout, out)
	return err
}

// cksum is the POSIX cksum CRC: polynomial 0x04C11DB7 fed MSB first,
// then the length in as few bytes as it takes, then complemented.
type cksum struct {
	crc uint32
	n   uint64
}

var cksumTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func (c *cksum) Write(b []byte) (int, error) {
	for _, x := range b {
		c.crc = c.crc<<8 ^ cksumTable[byte(c.crc>>24)^x]
	}
	c.n += uint64(len(b))
	return len(b), nil
}

func (c *cksum) Sum32() uint32 {
	crc := c.crc
	for n := c.n; n > 0; n >>= 8 {
		crc = crc<<8 ^ cksumTable[byte(crc>>24)^byte(n)]
	}
	return ^crc
}

func (c *cksum) Sum(b []byte) []byte {
	v := c.Sum32()
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (c *cksum) Reset()         { *c = cksum{} }
func (c *cksum) Size() int      { return 4 }
func (c *cksum) BlockSize() int { return 1 }
