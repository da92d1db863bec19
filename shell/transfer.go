package shell

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gfs/appliance/api"
	"gfs/appliance/tarx"
)

// copyIn copies host files and directories into a guest directory as
// tar streams (permissions, times and, as root, owners are kept).
func (s *Session) copyIn(ctx context.Context, cmd *api.Command, locals []string, remote string) error {
	if !strings.HasPrefix(remote, "/") {
		return fmt.Errorf("%s: path must start with a / character", remote)
	}
	if err := s.checkWritable(cmd, &parsedArgs{values: []any{"", remote}}); err != nil {
		return err
	}
	for _, l := range locals {
		if _, err := os.Lstat(s.hostPath(l)); err != nil {
			return fmt.Errorf("%s: %s", l, errnoText(unwrapPath(err)))
		}
	}
	g, err := s.backend(ctx, cmd)
	if err != nil {
		return err
	}
	if st, err := g.Statns(ctx, remote); err != nil {
		return err
	} else if st.Mode&sIFMT != sIFDIR {
		return fmt.Errorf("target '%s' is not a directory", remote)
	}
	for _, l := range locals {
		if err := s.copyInOne(ctx, g, s.hostPath(l), remote); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) copyInOne(ctx context.Context, g Guest, local, remote string) error {
	local = filepath.Clean(local)
	parent, base := filepath.Dir(local), filepath.Base(local)
	fd, err := unix.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %v", parent, err)
	}
	defer unix.Close(fd)
	fi, err := os.Lstat(local)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		var err error
		if fi.IsDir() {
			// Name the members base/… so the directory itself is created
			// with its mode and times.
			inner, innerW := io.Pipe()
			go func() { innerW.CloseWithError(tarx.Create(innerW, fd, base, tarx.CreateOptions{})) }()
			err = prefixTar(pw, inner, base)
			inner.CloseWithError(err)
		} else {
			err = tarx.Create(pw, fd, base, tarx.CreateOptions{})
		}
		pw.CloseWithError(err)
	}()
	err = g.TarIn(ctx, pr, remote, nil)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

// prefixTar copies a tar stream, putting prefix/ in front of every
// member name (and hard link target); "./" becomes "prefix/".
func prefixTar(w io.Writer, r io.Reader, prefix string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		hdr.Name = joinMember(prefix, hdr.Name)
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = joinMember(prefix, hdr.Linkname)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}

func joinMember(prefix, name string) string {
	dir := strings.HasSuffix(name, "/")
	n := path.Join(prefix, path.Clean("/"+name))
	if dir {
		n += "/"
	}
	return n
}

// copyOut copies guest files and directories into a host directory.
// Extraction is confined to that directory whatever the guest holds.
func (s *Session) copyOut(ctx context.Context, cmd *api.Command, remotes []string, local string) error {
	for _, r := range remotes {
		if !strings.HasPrefix(r, "/") {
			return fmt.Errorf("%s: path must start with a / character", r)
		}
	}
	dir := s.hostPath(local)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: %s", local, errnoText(unwrapPath(err)))
	}
	if !fi.IsDir() {
		return fmt.Errorf("target '%s' is not a directory", local)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %v", local, err)
	}
	defer unix.Close(fd)
	return s.withGuest(ctx, cmd, func(g Guest) error { return copyOutTo(ctx, g, fd, remotes) })
}

// copyOutTo extracts each remote path into the open host directory fd.
func copyOutTo(ctx context.Context, g Guest, fd int, remotes []string) error {
	for _, r := range remotes {
		if lst, err := g.Lstatns(ctx, r); err == nil && lst.Mode&sIFMT == sIFLNK {
			// A symbolic link is copied as the link it is: never
			// followed, so nothing is read or written through it.
			if err := copyOutLink(ctx, g, fd, r, lst); err != nil {
				return err
			}
			continue
		}
		st, err := g.Statns(ctx, r)
		if err != nil {
			return err
		}
		isDir := st.Mode&sIFMT == sIFDIR
		if !isDir && st.Mode&sIFMT != sIFREG {
			return fmt.Errorf("%s: not a regular file or directory", r)
		}
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			var err error
			opts := tarx.ExtractOptions{SameOwner: os.Geteuid() == 0}
			if isDir {
				inner, innerW := io.Pipe()
				go func() { innerW.CloseWithError(prefixTar(innerW, pr, path.Base(path.Clean(r)))) }()
				err = tarx.Extract(inner, fd, "/", opts)
				inner.CloseWithError(io.ErrClosedPipe)
			} else {
				err = tarx.Extract(pr, fd, "/", opts)
			}
			pr.CloseWithError(io.ErrClosedPipe)
			done <- err
		}()
		err = g.TarOut(ctx, r, pw, nil)
		pw.CloseWithError(err)
		xerr := <-done
		if err != nil {
			return err
		}
		if xerr != nil {
			return fmt.Errorf("%s: %v", r, xerr)
		}
	}
	return nil
}

// copyOutLink recreates a guest symbolic link in the host directory fd
// (owner, as root, and times included).
func copyOutLink(ctx context.Context, g Guest, fd int, r string, st api.StatNS) error {
	res, err := g.Call(ctx, "readlink", []any{r}, nil, nil, nil)
	if err != nil {
		return err
	}
	var target string
	if err := json.Unmarshal(res, &target); err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: path.Base(r), Linkname: target,
		Mode: st.Mode & 0o7777, Uid: int(st.UID), Gid: int(st.GID),
		ModTime: time.Unix(st.MtimeSec, st.MtimeNsec), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := tarx.Extract(&buf, fd, "/", tarx.ExtractOptions{SameOwner: os.Geteuid() == 0}); err != nil {
		return fmt.Errorf("%s: %v", r, err)
	}
	return nil
}
