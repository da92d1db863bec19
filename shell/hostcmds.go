package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"gfs/appliance"
	"gfs/appliance/api"
)

// hostCommand runs the table's Host commands that need a guest; they
// use only the Guest primitives, so the VM-less backend serves them too.
func (s *Session) hostCommand(ctx context.Context, g Guest, cmd *api.Command, p *parsedArgs, stdout io.Writer) error {
	if isInspectCommand(cmd.Name) {
		return s.inspectCommand(ctx, g, cmd, p, stdout)
	}
	switch cmd.Name {
	case "ll":
		out, err := s.longListing(ctx, g, p.str(0))
		if err != nil {
			return err
		}
		// ll is an RString: guestfish prints it followed by a newline.
		_, err = io.WriteString(stdout, out+"\n")
		return err
	case "cat":
		// RString in guestfish: the content, then a newline. Streamed.
		bw := bufio.NewWriterSize(stdout, 64<<10)
		if err := g.Download(ctx, p.str(0), bw); err != nil {
			bw.Flush()
			return err
		}
		bw.WriteString("\n")
		return bw.Flush()
	case "read-file":
		return g.Download(ctx, p.str(0), stdout)
	case "read-lines":
		var buf bytes.Buffer
		if err := g.Download(ctx, p.str(0), &buf); err != nil {
			return err
		}
		// read-lines drops CRLF endings; head and tail, like the
		// programs, only split at LF (and stream).
		bw := bufio.NewWriter(stdout)
		for _, l := range splitLines(buf.String()) {
			bw.WriteString(l + "\n")
		}
		return bw.Flush()
	case "head":
		return s.headTail(ctx, g, "head-n", 10, p.str(0), stdout)
	case "tail":
		return s.headTail(ctx, g, "tail-n", 10, p.str(0), stdout)
	case "head-n", "tail-n":
		return s.headTail(ctx, g, cmd.Name, p.int(0), p.str(1), stdout)
	case "wc-l", "wc-w", "wc-c":
		return s.wc(ctx, g, cmd.Name, p.str(0), stdout)
	case "checksum":
		return s.checksum(ctx, g, p.str(0), p.str(1), stdout)
	case "filesize":
		st, err := g.Statns(ctx, p.str(0))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, st.Size)
		return err
	}
	return fmt.Errorf("%s: not implemented", cmd.Name)
}

// splitLines splits file content into lines without their LF or CRLF
// endings; a final line without a newline still counts.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// longListing is ll: ls -la of a directory, or the one line of any
// other file. Like guestfish, which resolves the path before running
// ls, symbolic links in the path are followed: a link to a directory
// lists the directory, a link to a file shows the file under its
// resolved name.
func (s *Session) longListing(ctx context.Context, g Guest, p string) (string, error) {
	now := s.opts.Now()
	orig := p
	// An error while following a link names the path the user gave.
	named := func(err error) error {
		var ae *appliance.Error
		if p == orig || !errors.As(err, &ae) {
			return err
		}
		cause := ae.Msg[strings.LastIndex(ae.Msg, ": ")+2:]
		return &appliance.Error{Op: ae.Op, Errno: ae.Errno, Msg: orig + ": " + cause}
	}
	for hops := 0; p != "/"; hops++ {
		dir, base := path.Split(strings.TrimRight(p, "/"))
		if dir == "" {
			dir = "/"
		}
		if base == "" || base == "." || base == ".." {
			break
		}
		self, err := g.Lstatnslist(ctx, dir, []string{base})
		if err != nil {
			return "", named(err)
		}
		if len(self) != 1 || self[0].Mode&sIFMT == sIFDIR {
			break
		}
		if self[0].Mode&sIFMT == sIFLNK && hops < 40 {
			target := self[0].Link
			if !strings.HasPrefix(target, "/") {
				target = path.Join(dir, target)
			}
			p = path.Clean(target)
			continue
		}
		self[0].Name = p
		return LongListing(self, now, false), nil
	}
	entries, err := g.Lstatnslist(ctx, p, nil)
	if err != nil {
		return "", named(err)
	}
	return LongListing(entries, now, true), nil
}

func fallocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, size)
}
