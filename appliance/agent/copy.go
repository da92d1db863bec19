package agent

import (
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"gfs/appliance/proto"
)

func init() {
	handle("cp", func(c *call) (any, error) { return nil, copyTree(c.str(0), c.str(1), copyFileOnly) })
	handle("cp-r", func(c *call) (any, error) { return nil, copyTree(c.str(0), c.str(1), copyRecursive) })
	handle("cp-a", func(c *call) (any, error) { return nil, copyTree(c.str(0), c.str(1), copyArchive) })
	handle("find", func(c *call) (any, error) { return find(c.str(0)) })
	handle("glob-expand", func(c *call) (any, error) { return globExpand(c.str(0), c.optBool("directoryslash", true)) })
}

type copyMode int

const (
	copyFileOnly  copyMode = iota // cp: one file, content and mode
	copyRecursive                 // cp -r
	copyArchive                   // cp -a: also owner, times, symlinks as symlinks
)

// copyTree copies within the guest like cp(1): into an existing
// directory under the source's name, otherwise to the given name.
func copyTree(src, dst string, mode copyMode) error {
	follow := mode != copyArchive
	st, err := statPath(src, follow)
	if err != nil {
		return err
	}
	if dt, err := statPath(dst, true); err == nil && uint32(dt.Mode)&unix.S_IFMT == unix.S_IFDIR {
		dst = path.Join(dst, path.Base(src))
	}
	if uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR && mode == copyFileOnly {
		return &proto.Error{Errno: int(syscall.EISDIR), Message: src + ": is a directory (use cp-r or cp-a)"}
	}
	sdir, sbase, err := parent(src)
	if err != nil {
		return err
	}
	defer unix.Close(sdir)
	ddir, dbase, err := parent(dst)
	if err != nil {
		return err
	}
	defer unix.Close(ddir)
	if err := copyAt(sdir, sbase, ddir, dbase, mode, follow, 0); err != nil {
		return pathErr(src, err)
	}
	return nil
}

func copyAt(sdir int, sname string, ddir int, dname string, mode copyMode, follow bool, depth int) error {
	if depth > 4096 {
		return unix.ELOOP
	}
	var st unix.Stat_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow && depth == 0 {
		flags = 0
	}
	if err := unix.Fstatat(sdir, sname, &st, flags); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(ddir, dname, st.Mode&0o7777|0o700); err != nil && err != unix.EEXIST {
			return err
		}
		sfd, err := unix.Openat(sdir, sname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|noFollowUnless(follow && depth == 0), 0)
		if err != nil {
			return err
		}
		sf := os.NewFile(uintptr(sfd), sname)
		defer sf.Close()
		dfd, err := unix.Openat(ddir, dname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(dfd)
		names, err := sf.Readdirnames(-1)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := copyAt(sfd, n, dfd, n, mode, false, depth+1); err != nil {
				return err
			}
		}
		if err := unix.Fchmod(dfd, st.Mode&0o7777); err != nil {
			return err
		}
	case unix.S_IFLNK:
		if mode != copyArchive {
			// cp -r without -a follows nothing below the top either; keep
			// the link, as GNU cp -r does.
		}
		target, err := readlinkAt(sdir, sname)
		if err != nil {
			return err
		}
		unix.Unlinkat(ddir, dname, 0)
		if err := unix.Symlinkat(target, ddir, dname); err != nil {
			return err
		}
	case unix.S_IFREG:
		if err := copyFile(sdir, sname, ddir, dname, st.Mode&0o7777, follow && depth == 0); err != nil {
			return err
		}
	default:
		if err := unix.Mknodat(ddir, dname, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	}
	if mode == copyArchive {
		unix.Fchownat(ddir, dname, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			// chown clears set-id bits; put the mode back.
			unix.Fchmodat(ddir, dname, st.Mode&0o7777, 0)
		}
		ts := []unix.Timespec{st.Atim, st.Mtim}
		unix.UtimesNanoAt(ddir, dname, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func noFollowUnless(follow bool) int {
	if follow {
		return 0
	}
	return unix.O_NOFOLLOW
}

func copyFile(sdir int, sname string, ddir int, dname string, perm uint32, follow bool) error {
	sfd, err := unix.Openat(sdir, sname, unix.O_RDONLY|unix.O_CLOEXEC|noFollowUnless(follow), 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(sfd), sname)
	defer src.Close()
	dfd, err := unix.Openat(ddir, dname, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(dfd), dname)
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// find lists everything below dir, relative to it and sorted, like
// libguestfs find (which is find dir -printf '%P\n' | sort).
func find(dir string) ([]string, error) {
	fd, err := openIn(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	out := []string{}
	// Names relative to dir with a leading slash, as libguestfs prints
	// them (find /etc lists /passwd, /ssh/ssh_config…), except when dir
	// ends in a slash (find / lists bin, etc/passwd…): libguestfs cuts
	// the directory as written off find's paths.
	lead := "/"
	if strings.HasSuffix(dir, "/") {
		lead = ""
	}
	err = walkAt(fd, "", 0, func(rel string) { out = append(out, lead+rel) })
	if err != nil {
		return nil, pathErr(dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// walkAt visits every entry below the open directory fd (closing it),
// never following symlinks.
func walkAt(fd int, prefix string, depth int, visit func(rel string)) error {
	f := os.NewFile(uintptr(fd), prefix)
	defer f.Close()
	if depth > 4096 {
		return unix.ELOOP
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := n
		if prefix != "" {
			rel = prefix + "/" + n
		}
		visit(rel)
		var st unix.Stat_t
		if unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue // unreadable subdirectories are skipped, as find does
		}
		if err := walkAt(sub, rel, depth+1, visit); err != nil {
			return err
		}
	}
	return nil
}

// globExpand expands a shell pattern against the guest tree, like glob(3)
// with GLOB_MARK: directories come back with a trailing slash.
func globExpand(pattern string, dirSlash bool) ([]string, error) {
	if err := checkPath(pattern); err != nil {
		return nil, err
	}
	parts := strings.Split(strings.Trim(pattern, "/"), "/")
	matches := []string{"/"}
	for _, part := range parts {
		if part == "" {
			continue
		}
		var next []string
		for _, m := range matches {
			if !hasMeta(part) {
				p := path.Join(m, part)
				if _, err := statPath(p, false); err == nil {
					next = append(next, p)
				}
				continue
			}
			names, err := readDirNames(m)
			if err != nil {
				continue
			}
			for _, n := range names {
				if strings.HasPrefix(n, ".") && !strings.HasPrefix(part, ".") {
					continue
				}
				if ok, _ := path.Match(part, n); ok {
					next = append(next, path.Join(m, n))
				}
			}
		}
		matches = next
	}
	out := []string{}
	for _, m := range matches {
		if m == "/" && pattern != "/" {
			continue
		}
		if dirSlash {
			if st, err := statPath(m, true); err == nil && uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR && m != "/" {
				m += "/"
			}
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
