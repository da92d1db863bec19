// Package tarx reads and writes tar streams confined to a root
// directory. Extraction resolves every member path with chroot semantics
// (openat2 RESOLVE_IN_ROOT): whatever names, ".." components or symbolic
// links an archive or an existing tree holds, nothing is created outside
// the root. The agent uses it for tar-in/tar-out inside the guest, and the
// host uses it for copy-out, where the guest is the untrusted side.
package tarx

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExtractOptions tune Extract.
type ExtractOptions struct {
	// SameOwner restores numeric owners (as tar does for root).
	SameOwner bool
	// Xattrs restores extended attributes recorded in PAX headers.
	Xattrs bool
}

// Extract unpacks r into dir, where dir is a path beneath the root
// directory rootFD ("/" for the root itself).
func Extract(r io.Reader, rootFD int, dir string, opts ExtractOptions) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		name  string
		mtime time.Time
	}
	var dirTimes []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := path.Join("/", dir, path.Clean("/"+hdr.Name))
		if name == "/" && hdr.Typeflag == tar.TypeDir {
			continue
		}
		if err := extractOne(tr, hdr, rootFD, dir, name, opts); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeDir {
			dirTimes = append(dirTimes, dirTime{name, hdr.ModTime})
		}
	}
	// Directory times last: creating their entries changed them.
	for i := len(dirTimes) - 1; i >= 0; i-- {
		d := dirTimes[i]
		setTimes(rootFD, d.name, d.mtime)
	}
	return nil
}

// resolveParent opens the parent of name beneath root and returns it
// with the last component.
func resolveParent(rootFD int, name string) (int, string, error) {
	dir, base := path.Split(name)
	if base == "" || base == "." || base == ".." {
		return -1, "", syscall.EINVAL
	}
	fd, err := openIn(rootFD, dir, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, syscall.ENOENT) {
		// Archives need not list parents first: create them.
		if err := mkdirAll(rootFD, dir); err != nil {
			return -1, "", err
		}
		fd, err = openIn(rootFD, dir, unix.O_PATH|unix.O_DIRECTORY)
	}
	return fd, base, err
}

// openIn resolves p beneath rootFD with chroot semantics.
func openIn(rootFD int, p string, flags int) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		p = "."
	}
	for {
		fd, err := unix.Openat2(rootFD, p, how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

func mkdirAll(rootFD int, p string) error {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	if fd, err := openIn(rootFD, p, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		unix.Close(fd)
		return nil
	}
	if err := mkdirAll(rootFD, path.Dir(p)); err != nil {
		return err
	}
	parent, err := openIn(rootFD, path.Dir(p), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	if err := unix.Mkdirat(parent, path.Base(p), 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

func extractOne(tr *tar.Reader, hdr *tar.Header, rootFD int, dir, name string, opts ExtractOptions) error {
	parent, base, err := resolveParent(rootFD, name)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	if hdr.Typeflag != tar.TypeDir {
		// Replace what is there, but never follow it: an existing
		// symlink is removed, not written through.
		if err := unix.Unlinkat(parent, base, 0); err != nil && err != unix.ENOENT && err != unix.EISDIR && err != unix.EPERM {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(parent, base, 0o700); err != nil && err != unix.EEXIST {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return syscall.ENOTDIR
		}
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		return finish(parent, base, hdr, opts, unix.Symlinkat(hdr.Linkname, parent, base))
	case tar.TypeLink:
		// Hard link targets name another member, relative to the archive.
		target := path.Join("/", dir, path.Clean("/"+hdr.Linkname))
		tparent, tbase, err := resolveParent(rootFD, target)
		if err != nil {
			return err
		}
		defer unix.Close(tparent)
		return unix.Linkat(tparent, tbase, parent, base, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(parent, base, kind|0o600, int(dev)); err != nil {
			return err
		}
	default:
		return nil // pax globals, GNU long names are handled by the reader
	}
	return finish(parent, base, hdr, opts, nil)
}

// finish applies owner, mode, xattrs and times, in that order (chown
// clears set-id bits, so the mode comes after it).
func finish(parent int, base string, hdr *tar.Header, opts ExtractOptions, err error) error {
	if err != nil {
		return err
	}
	isLink := hdr.Typeflag == tar.TypeSymlink
	if opts.SameOwner {
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && err != unix.EPERM {
			return err
		}
	}
	if !isLink {
		if err := unix.Fchmodat(parent, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return err
		}
		if opts.Xattrs {
			for k, v := range hdr.PAXRecords {
				if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
					fd, err := unix.Openat(parent, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
					if err == nil {
						unix.Setxattr(fmt.Sprintf("/proc/self/fd/%d", fd), name, []byte(v), 0)
						unix.Close(fd)
					}
				}
			}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	unix.UtimesNanoAt(parent, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	return nil
}

func setTimes(rootFD int, name string, mtime time.Time) {
	parent, base, err := resolveParent(rootFD, name)
	if err != nil {
		return
	}
	defer unix.Close(parent)
	ts := unix.NsecToTimespec(mtime.UnixNano())
	unix.UtimesNanoAt(parent, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
