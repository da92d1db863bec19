package tarx

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CreateOptions tune Create.
type CreateOptions struct {
	// Excludes are shell patterns matched against member names and
	// their base names, as tar --exclude does.
	Excludes []string
	// Xattrs records extended attributes in PAX headers.
	Xattrs bool
}

// Create writes a tar stream of src (a directory or a single file
// beneath rootFD). Members are named relative to src for a directory,
// or by base name for a single file; symbolic links are stored, never
// followed, and the walk runs on descriptors.
func Create(w io.Writer, rootFD int, src string, opts CreateOptions) error {
	tw := tar.NewWriter(w)
	fd, err := openIn(rootFD, src, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		unix.Close(fd)
		dfd, err := openIn(rootFD, src, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if err := addEntry(tw, dfd, ".", "./", opts); err != nil {
			unix.Close(dfd)
			return err
		}
		err = walk(tw, dfd, "", opts, 0)
		if err != nil {
			return err
		}
	} else {
		unix.Close(fd)
		parent, base, err := resolveParentExisting(rootFD, src)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		err = addEntry(tw, parent, base, base, opts)
		unix.Close(parent)
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

func resolveParentExisting(rootFD int, name string) (int, string, error) {
	dir, base := path.Split(path.Clean("/" + name))
	fd, err := openIn(rootFD, dir, unix.O_PATH|unix.O_DIRECTORY)
	return fd, base, err
}

func excluded(name string, opts CreateOptions) bool {
	for _, pat := range opts.Excludes {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
		if ok, _ := path.Match(pat, path.Base(name)); ok {
			return true
		}
	}
	return false
}

// walk adds the entries of the open directory dirFD (closing it).
func walk(tw *tar.Writer, dirFD int, prefix string, opts CreateOptions, depth int) error {
	f := os.NewFile(uintptr(dirFD), prefix)
	defer f.Close()
	if depth > 4096 {
		return fmt.Errorf("%s: directory tree too deep", prefix)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	sort.Strings(names)
	for _, n := range names {
		rel := prefix + n
		if excluded(rel, opts) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirFD, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // vanished meanwhile
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		member := "./" + rel
		if isDir {
			member += "/"
		}
		if err := addEntry(tw, dirFD, n, member, opts); err != nil {
			return err
		}
		if isDir {
			sub, err := unix.Openat(dirFD, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			if err := walk(tw, sub, rel+"/", opts, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// addEntry writes one member for name inside dirFD.
func addEntry(tw *tar.Writer, dirFD int, name, member string, opts CreateOptions) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirFD, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: %w", member, err)
	}
	hdr := &tar.Header{
		Name:    member,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(dirFD, name, buf)
		if err != nil {
			return fmt.Errorf("%s: %w", member, err)
		}
		hdr.Linkname = string(buf[:n])
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets cannot be archived
	}
	if opts.Xattrs && hdr.Typeflag != tar.TypeSymlink {
		addXattrs(hdr, dirFD, name)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	fd, err := unix.Openat(dirFD, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", member, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// Copy exactly the size in the header even if the file changes.
	n, err := io.Copy(tw, io.LimitReader(f, hdr.Size))
	if err == nil && n < hdr.Size {
		_, err = io.CopyN(tw, zeroReader{}, hdr.Size-n)
	}
	return err
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func addXattrs(hdr *tar.Header, dirFD int, name string) {
	fd, err := unix.Openat(dirFD, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	p := fmt.Sprintf("/proc/self/fd/%d", fd)
	buf := make([]byte, 64<<10)
	n, err := unix.Listxattr(p, buf)
	if err != nil || n <= 0 {
		return
	}
	for _, key := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		val := make([]byte, 64<<10)
		m, err := unix.Getxattr(p, key, val)
		if err != nil {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+key] = string(val[:m])
	}
}
