package agent

import (
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os/exec"
	"syscall"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
	"gfs/appliance/tarx"
)

func init() {
	handle("tar-in", func(c *call) (any, error) { return nil, tarIn(c, c.str(0), c.optStr("compress", "")) })
	handle("tar-out", func(c *call) (any, error) { return nil, tarOut(c, c.str(0), c.optStr("compress", "")) })
}

// decompressor wraps the upload stream; decompression runs in Go, so no
// appliance tool is needed to read a compressed archive.
func decompressor(r io.Reader, compress string) (io.Reader, error) {
	switch compress {
	case "", "none":
		return r, nil
	case "gzip":
		return gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	case "bzip2":
		return bzip2.NewReader(bufio.NewReaderSize(r, 1<<20)), nil
	case "xz":
		return xz.NewReader(bufio.NewReaderSize(r, 1<<20))
	case "zstd":
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return nil, &proto.Error{Errno: int(syscall.EINVAL), Message: "unknown compression " + compress + ": use gzip, bzip2, xz or zstd"}
}

func tarIn(c *call, dir, compress string) error {
	if err := checkPath(dir); err != nil {
		return err
	}
	r, err := decompressor(c.input(), compress)
	if err != nil {
		return err
	}
	root, err := openRoot()
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if err := tarx.Extract(r, root, dir, tarx.ExtractOptions{SameOwner: true, Xattrs: true}); err != nil {
		return &proto.Error{Errno: int(errnoOf(unwrapAll(err))), Message: dir + ": " + err.Error()}
	}
	return nil
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// tarOut streams a directory as a tar archive, compressed by the
// appliance's own tool when asked (bzip2 has no Go writer).
func tarOut(c *call, dir, compress string) error {
	if err := checkPath(dir); err != nil {
		return err
	}
	root, err := openRoot()
	if err != nil {
		return err
	}
	defer unix.Close(root)
	opts := tarx.CreateOptions{Xattrs: c.optBool("xattrs", false)}
	if ex, ok := c.opts["excludes"].([]any); ok {
		for _, e := range ex {
			opts.Excludes = append(opts.Excludes, fmt.Sprint(e))
		}
	}
	out := io.Writer(c.output())
	var finish func() error
	switch compress {
	case "", "none":
	case "gzip", "bzip2", "xz", "zstd":
		cmd := exec.CommandContext(c.ctx, compress, "-c")
		pw, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		cmd.Stdout = c.output()
		if err := cmd.Start(); err != nil {
			return &proto.Error{Errno: int(syscall.ENOENT), Message: compress + " is not available in this appliance"}
		}
		out = pw
		finish = func() error { pw.Close(); return cmd.Wait() }
	default:
		return &proto.Error{Errno: int(syscall.EINVAL), Message: "unknown compression " + compress + ": use gzip, bzip2, xz or zstd"}
	}
	err = tarx.Create(out, root, dir, opts)
	if finish != nil {
		if ferr := finish(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return &proto.Error{Errno: int(errnoOf(unwrapAll(err))), Message: err.Error()}
	}
	return nil
}
