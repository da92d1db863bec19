package main

// gfs ls: virt-ls's four output modes. Plain, -l and -R print what the
// shell's ls, ll and find print; -lR is virt-ls's own recursive long
// listing, one line per file with optional fields, or CSV.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gfs/appliance/api"
	"gfs/shell"
)

func lsTool(ctx context.Context, s *shell.Session, c *toolConfig, stdout io.Writer) int {
	code := 0
	for _, dir := range c.args {
		var err error
		switch {
		case c.long && c.recursive:
			err = (&lsLR{s: s, c: c, now: time.Now().Unix()}).run(ctx, dir, stdout)
		case c.long:
			// ll's output as virt-ls prints it: without the newline
			// guestfish adds after a string result.
			var buf bytes.Buffer
			err = s.RunTo(ctx, "ll", []string{dir}, &buf)
			if err == nil {
				_, err = stdout.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
			}
		case c.recursive:
			err = s.RunTo(ctx, "find", []string{dir}, stdout)
		default:
			err = s.RunTo(ctx, "ls", []string{dir}, stdout)
		}
		if err != nil {
			code = 1
		}
	}
	return code
}

// lsLR is virt-ls -lR: the directory itself, then every entry below it
// depth first in name order, symbolic links not followed.
type lsLR struct {
	s   *shell.Session
	c   *toolConfig
	now int64
	w   *bufio.Writer
}

func (l *lsLR) run(ctx context.Context, dir string, stdout io.Writer) error {
	l.w = bufio.NewWriterSize(stdout, 64<<10)
	defer l.w.Flush()
	st, err := l.s.Lstat(ctx, dir, l.c.extraStats)
	if err != nil {
		l.w.Flush()
		l.s.Report("lstatns", err)
		return err
	}
	link := ""
	if st.Mode&0o170000 == 0o120000 {
		var buf bytes.Buffer
		l.w.Flush()
		if err := l.s.RunTo(ctx, "readlink", []string{dir}, &buf); err != nil {
			return err
		}
		link = strings.TrimSuffix(buf.String(), "\n")
	}
	if err := l.show(ctx, fullPath(dir, ""), st, link); err != nil {
		return err
	}
	return l.visit(ctx, dir, 0)
}

func (l *lsLR) visit(ctx context.Context, dir string, depth int) error {
	if depth > 4096 {
		l.w.Flush()
		err := fmt.Errorf("%s: directory tree too deep", dir)
		l.s.Report("ls", err)
		return err
	}
	ents, err := l.s.ReadDirStat(ctx, dir, l.c.extraStats)
	if err != nil {
		l.w.Flush()
		l.s.Report("ls", err)
		return err
	}
	for _, e := range ents {
		p := fullPath(dir, e.Name)
		if err := l.show(ctx, p, e.StatNS, e.Link); err != nil {
			return err
		}
		if e.Mode&0o170000 == 0o040000 {
			if err := l.visit(ctx, p, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// fullPath joins as virt-ls does: one trailing slash of dir dropped,
// "/" + name at the root.
func fullPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	dir = strings.TrimSuffix(dir, "/")
	if name == "" {
		return dir
	}
	return dir + "/" + name
}

// show prints one line: type, permissions, size, then --uids, --times,
// --extra-stats and --checksum fields, the path and a link's target.
func (l *lsLR) show(ctx context.Context, p string, st api.StatNS, link string) error {
	c := l.c
	var f []string
	str := func(s string) {
		if c.csv {
			s = csvQuote(s)
		}
		f = append(f, s)
	}
	str(fileType(st.Mode))
	f = append(f, fmt.Sprintf("%04o", st.Mode&0o7777))
	size := strconv.FormatInt(st.Size, 10)
	if c.human {
		size = humanSize(uint64(st.Size))
	}
	if !c.csv {
		size = fmt.Sprintf("%10s", size)
	}
	f = append(f, size)
	if c.uids {
		f = append(f, fmt.Sprintf("%4d", st.UID), fmt.Sprintf("%4d", st.GID))
	}
	if c.times {
		for _, t := range []int64{st.AtimeSec, st.MtimeSec, st.CtimeSec} {
			f = append(f, l.timeField(t))
		}
	}
	if c.extraStats {
		f = append(f, devString(st.Dev), strconv.FormatInt(st.Ino, 10), strconv.FormatInt(st.Nlink, 10),
			devString(st.Rdev), strconv.FormatInt(st.Blocks, 10))
	}
	if c.checksum != "" {
		if st.Mode&0o170000 == 0o100000 {
			sum, err := l.sum(ctx, p)
			if err != nil {
				return err
			}
			str(sum)
		} else if c.csv {
			f = append(f, "")
		}
	}
	str(p)
	if st.Mode&0o170000 == 0o120000 {
		if c.csv {
			str(link)
		} else {
			f = append(f, "-> "+link)
		}
	}
	sep := " "
	if c.csv {
		sep = ","
	}
	l.w.WriteString(strings.Join(f, sep))
	l.w.WriteByte('\n')
	return nil
}

func (l *lsLR) timeField(sec int64) string {
	if !l.c.timeT {
		return time.Unix(sec, 0).Format("2006-01-02 15:04:05")
	}
	switch l.c.timeRelative {
	case 1:
		return fmt.Sprintf("%8d", l.now-sec)
	case 2:
		return fmt.Sprintf("%3d", (l.now-sec)/86400)
	}
	return fmt.Sprintf("%10d", sec)
}

// sum is --checksum: the file's bytes, read as download reads them,
// hashed on the host (the digest the checksum command prints).
func (l *lsLR) sum(ctx context.Context, p string) (string, error) {
	h := shell.NewChecksum(l.c.checksum)
	l.w.Flush()
	if err := l.s.RunTo(ctx, "download", []string{p, "-"}, h); err != nil {
		return "", err
	}
	return shell.FormatChecksum(h), nil
}

func fileType(mode int64) string {
	switch mode & 0o170000 {
	case 0o100000:
		return "-"
	case 0o040000:
		return "d"
	case 0o020000:
		return "c"
	case 0o060000:
		return "b"
	case 0o010000:
		return "p"
	case 0o120000:
		return "l"
	case 0o140000:
		return "s"
	}
	return "u"
}

// devString is major:minor of a Linux dev_t (glibc's encoding).
func devString(d int64) string {
	u := uint64(d)
	major := (u>>8)&0xfff | (u>>32)&^0xfff
	minor := u&0xff | (u>>12)&^0xff
	return fmt.Sprintf("%d:%d", major, minor)
}

// csvQuote quotes a field holding a space, a double quote, a newline or
// a comma, doubling the quotes inside.
func csvQuote(s string) string {
	if !strings.ContainsAny(s, " \"\n,") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// humanSize is virt-ls -h: powers of 1024 with the letters K M G T P E
// Z Y, one decimal below 10 and rounded to nearest (GNU's
// human_readable with autoscale, base 1024, SI letters).
func humanSize(n uint64) string {
	const base = 1024
	amount, tenths, rounding, exp := n, uint64(0), uint64(0), 0
	frac := ""
	if amount >= base {
		for {
			r10 := (amount%base)*10 + tenths
			r2 := (r10%base)*2 + rounding>>1
			amount /= base
			tenths = r10 / base
			if r2 < base {
				rounding = b2u(r2 != 0) + b2u(rounding != 0)
			} else {
				rounding = 2 + b2u(base < r2+rounding)
			}
			exp++
			if amount < base || exp >= 8 {
				break
			}
		}
		if amount < 10 {
			if 2 < rounding+(tenths&1) {
				tenths++
				rounding = 0
				if tenths == 10 {
					amount++
					tenths = 0
				}
			}
			if amount < 10 {
				frac = "." + strconv.FormatUint(tenths, 10)
				tenths, rounding = 0, 0
			}
		}
	}
	if 5 < tenths+b2u(0 < rounding+(amount&1)) {
		amount++
		if amount == base && exp < 8 {
			exp++
			frac = ".0"
			amount = 1
		}
	}
	return strconv.FormatUint(amount, 10) + frac + []string{"", "K", "M", "G", "T", "P", "E", "Z", "Y"}[exp]
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
