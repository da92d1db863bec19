package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"gfs/appliance"
)

// The text commands of guestfish that read a whole file (head-n,
// tail-n, wc-*, checksum) are built on Download, so both backends serve
// them and the file is streamed where it can be.

// errEnough ends a download early: the command has all it needs.
var errEnough = errors.New("enough")

// maxLine bounds one line held in memory while streaming.
const maxLine = 16 << 20

// lineWriter splits a stream into lines at LF (a last line without one
// still counts) and hands each to fn, so head and tail never hold the
// whole file.
type lineWriter struct {
	buf []byte
	fn  func(line []byte) error
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	start := 0
	for {
		i := bytes.IndexByte(w.buf[start:], '\n')
		if i < 0 {
			break
		}
		if err := w.fn(w.buf[start : start+i]); err != nil {
			return len(b), err
		}
		start += i + 1
	}
	w.buf = append(w.buf[:0], w.buf[start:]...)
	if len(w.buf) > maxLine {
		return len(b), fmt.Errorf("a line is longer than %d MiB", maxLine>>20)
	}
	return len(b), nil
}

// flush passes on the last line if it had no LF.
func (w *lineWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	return w.fn(w.buf)
}

// headTail streams the lines head, head-n, tail and tail-n select:
// head-n N the first N, head-n -N all but the last N, tail-n N the last
// N, tail-n -N those from line N on, 0 none.
func (s *Session) headTail(ctx context.Context, g Guest, name string, n int64, path string, stdout io.Writer) error {
	return selectLines(name, n, func(w io.Writer) error { return g.Download(ctx, path, w) }, stdout)
}

// selectLines is headTail on any stream: download writes the file into
// the writer it is given and may be stopped by its error.
func selectLines(name string, n int64, download func(io.Writer) error, stdout io.Writer) error {
	bw := bufio.NewWriter(stdout)
	emit := func(l []byte) { bw.Write(l); bw.WriteByte('\n') }
	var ring [][]byte // the last lines, for head-n -N and tail-n N
	var seen int64
	keep := func(l []byte) []byte {
		ring = append(ring, bytes.Clone(l))
		if int64(len(ring)) > max(n, -n) {
			first := ring[0]
			ring = ring[1:]
			return first
		}
		return nil
	}
	var fn func([]byte) error
	switch {
	case n == 0:
		fn = func([]byte) error { return errEnough }
	case name == "head-n" && n > 0:
		fn = func(l []byte) error {
			emit(l)
			if seen++; seen >= n {
				return errEnough
			}
			return nil
		}
	case name == "head-n":
		fn = func(l []byte) error {
			if old := keep(l); old != nil {
				emit(old)
			}
			return nil
		}
	case n > 0:
		fn = func(l []byte) error { keep(l); return nil }
	default:
		fn = func(l []byte) error {
			if seen++; seen >= -n {
				emit(l)
			}
			return nil
		}
	}
	lw := &lineWriter{fn: fn}
	err := download(lw)
	if err == nil {
		err = lw.flush()
	}
	if err != nil && !errors.Is(err, errEnough) {
		bw.Flush()
		return err
	}
	if name == "tail-n" && n > 0 {
		for _, l := range ring {
			emit(l)
		}
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
	h := NewChecksum(kind)
	if h == nil {
		return &appliance.Error{Op: "checksum", Errno: int(syscall.EINVAL),
			Msg: kind + ": unknown checksum type (crc, md5, sha1, sha224, sha256, sha384, sha512)"}
	}
	if err := g.Download(ctx, path, h); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, FormatChecksum(h))
	return err
}
