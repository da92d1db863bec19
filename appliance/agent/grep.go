package agent

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/api"
	"gfs/appliance/proto"
)

func init() {
	for _, c := range api.Commands {
		if _, _, _, _, ok := api.GrepFlags(c.Name); ok {
			handle(c.Name, grepHandler(c.Name))
		}
	}
}

func grepHandler(name string) handler {
	return func(c *call) (any, error) {
		ext, fixed, icase, z, _ := api.GrepFlags(name)
		if name == "grep" {
			ext, fixed = c.optBool("extended", false), c.optBool("fixed", false)
			icase, z = c.optBool("insensitive", false), c.optBool("compressed", false)
		}
		if ext && fixed {
			return nil, &proto.Error{Errno: int(syscall.EINVAL), Message: "only one of extended and fixed may be true"}
		}
		args := []string{"-e", c.str(0)}
		switch {
		case ext:
			args = append([]string{"-E"}, args...)
		case fixed:
			args = append([]string{"-F"}, args...)
		}
		if icase {
			args = append([]string{"-i"}, args...)
		}
		return grepFile(c, c.str(1), z, args)
	}
}

// decompressors by magic number, for the compressed variants; anything
// else is searched as it is, as zgrep does.
var decompressors = []struct {
	magic string
	tool  string
}{
	{"\x1f\x8b", "gzip"},
	{"\xfd7zXZ\x00", "xz"},
	{"BZh", "bzip2"},
	{"\x28\xb5\x2f\xfd", "zstd"},
}

// grepFile runs grep over a guest file opened with chroot semantics and
// fed on standard input (through a decompressor if asked).
func grepFile(c *call, p string, compressed bool, args []string) ([]string, error) {
	f, err := openFile(p, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, pathErr(p, syscall.EISDIR)
	}
	var in io.Reader = f
	var unz *exec.Cmd
	var unzOut io.Closer
	var unzErr bytes.Buffer
	if compressed {
		head := make([]byte, 6)
		n, _ := io.ReadFull(f, head)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, pathErr(p, err)
		}
		for _, d := range decompressors {
			if strings.HasPrefix(string(head[:n]), d.magic) {
				unz = exec.CommandContext(c.ctx, d.tool, "-dc")
				unz.Stdin, unz.Stderr = f, &unzErr
				out, err := unz.StdoutPipe()
				if err != nil {
					return nil, err
				}
				if err := unz.Start(); err != nil {
					return nil, &proto.Error{Errno: int(syscall.ENOENT), Message: d.tool + " is not available in this appliance"}
				}
				in, unzOut = out, out
				break
			}
		}
	}
	cmd := exec.CommandContext(c.ctx, "grep", args...)
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if unz != nil {
		// Our copy of the pipe's read end goes first: a decompressor
		// still writing when grep gave up then stops instead of
		// blocking.
		unzOut.Close()
		// A corrupt compressed file ends grep's input early: say so
		// rather than return what matched before the damage.
		if werr := unz.Wait(); werr != nil && err == nil || werr != nil && isExit(err, 1) {
			msg := strings.TrimSpace(unzErr.String())
			if msg == "" {
				msg = werr.Error()
			}
			return nil, &proto.Error{Errno: int(syscall.EIO), Message: p + ": " + oneLine(unz.Args[0], msg)}
		}
	}
	if isExit(err, 1) {
		return []string{}, nil // no match
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, &proto.Error{Errno: int(syscall.EIO), Message: oneLine("grep", msg)}
	}
	return outputLines(stdout.String(), nil)
}

func isExit(err error, code int) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == code
}
