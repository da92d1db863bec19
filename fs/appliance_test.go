//go:build libguestfs

package fs

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// TestAgainstLibguestfs compares the readers with libguestfs' own
// appliance (Debian's 6.1 kernel, which has vfat unlike this host's): the
// lstat of every path, statvfs, directory listings and list-filesystems.
// It boots libguestfs' appliance under TCG (about 15 s per image), needs
// libguestfs-tools, and checks a third-party tool rather than gfs, so it
// is a suite of its own, not part of go test ./...: make check-libguestfs
// (go test -tags libguestfs ./fs -run AgainstLibguestfs). gfs's own
// appliance is compared with these readers in the default suite.
func TestAgainstLibguestfs(t *testing.T) {
	needTools(t, "guestfish")
	t.Run("vfat", func(t *testing.T) {
		for _, v := range []fatVariant{fatVariants[0], fatVariants[1], fatVariants[3]} {
			img, _ := buildFAT(t, v)
			compareWithAppliance(t, []string{img}, [][2]string{{"/dev/sda", "/"}})
		}
	})
	t.Run("ext with mounts", func(t *testing.T) {
		disk, _ := guestDisk(t)
		compareWithAppliance(t, []string{disk}, [][2]string{{"/dev/sda1", "/"}, {"/dev/sda2", "/boot"}, {"/dev/sda3", "/home"}})
	})
	t.Run("list-filesystems", func(t *testing.T) {
		a, b := buildListfsDisks(t)
		out := guestfish(t, []string{a, b}, "run\nlist-filesystems\necho ==parts\nlist-partitions\npart-list /dev/sda\necho ==lvm\nlvs\npvs\nvgs\n")
		out, rest, _ := strings.Cut(out, "==parts\n")
		parts, lvm, _ := strings.Cut(rest, "==lvm\n")
		d := openDisksT(t, a, b)
		var ourParts []string
		for _, p := range d.Partitions() {
			ourParts = append(ourParts, p.Name)
		}
		// part-list (parted) orders by position on the disk.
		byStart := d.Partitions()
		sort.Slice(byStart, func(i, j int) bool { return byStart[i].Start < byStart[j].Start })
		for _, p := range byStart {
			ourParts = append(ourParts, fmt.Sprintf("part_num: %d part_start: %d part_end: %d part_size: %d", p.Number, p.Start, p.End, p.Size))
		}
		var theirs []string
		var rec []string
		for _, line := range strings.Split(parts, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "/dev/"):
				theirs = append(theirs, line)
			case strings.HasPrefix(line, "part_"):
				rec = append(rec, line)
			case line == "}":
				theirs = append(theirs, strings.Join(rec, " "))
				rec = nil
			}
		}
		if strings.Join(ourParts, "\n") != strings.Join(theirs, "\n") {
			t.Errorf("partitions:\n%s\nappliance:\n%s", strings.Join(ourParts, "\n"), strings.Join(theirs, "\n"))
		}
		var ourLVM []string
		for _, lv := range d.LVs() {
			ourLVM = append(ourLVM, lv.Name)
		}
		for _, pv := range d.PVs() {
			ourLVM = append(ourLVM, pv.Device)
		}
		for _, vg := range d.VGs() {
			ourLVM = append(ourLVM, vg.Name)
		}
		if strings.TrimSpace(lvm) != strings.Join(ourLVM, "\n") {
			t.Errorf("lvs/pvs/vgs:\n%s\nappliance:\n%s", strings.Join(ourLVM, "\n"), lvm)
		}
		fss, err := d.Filesystems()
		if err != nil {
			t.Fatal(err)
		}
		var ours []string
		for _, f := range fss {
			ours = append(ours, f.Device+": "+f.Type)
		}
		if strings.TrimSpace(out) != strings.Join(ours, "\n") {
			t.Errorf("list-filesystems:\n%s\nappliance:\n%s", strings.Join(ours, "\n"), out)
		}
	})
}

func guestfish(t *testing.T, images []string, script string) string {
	args := []string{"--ro"}
	for _, img := range images {
		args = append(args, "-a", img)
	}
	cmd := exec.Command("guestfish", args...)
	cmd.Env = append(os.Environ(), "LIBGUESTFS_BACKEND=direct", "LIBGUESTFS_BACKEND_SETTINGS=force_tcg")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("guestfish: %v\n%s", err, out)
	}
	return string(out)
}

// gfQuote quotes a path for a guestfish script.
func gfQuote(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(p) + `"`
}

func compareWithAppliance(t *testing.T, images []string, mounts [][2]string) {
	var imgs []Image
	for _, p := range images {
		imgs = append(imgs, openT(t, p, "raw", false))
	}
	d, err := OpenDisks(imgs)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMounts(d)
	script := "run\n"
	for _, mp := range mounts {
		if err := m.Mount(mp[0], mp[1]); err != nil {
			t.Fatal(err)
		}
		script += fmt.Sprintf("mount-ro %s %s\n", mp[0], mp[1])
	}
	var paths, dirs []string
	m.Walk("/", func(p string, st Stat, err error) error {
		// Long directories are sampled to keep the script short.
		if n := len(paths); n > 400 && !strings.HasSuffix(p, "7") {
			return nil
		}
		paths = append(paths, p)
		if st.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, p := range paths {
		script += "lstatns " + gfQuote(p) + "\n"
	}
	script += "echo ==statvfs\n"
	for _, mp := range mounts {
		script += "statvfs " + gfQuote(mp[1]) + "\n"
	}
	for _, dir := range dirs {
		script += "echo ==ls " + gfQuote(dir) + "\nls " + gfQuote(dir) + "\n"
	}
	out := guestfish(t, images, script)
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var recs, vfs []map[string]string
	cur := map[string]string{}
	section, lsDir := "lstat", ""
	ls := map[string][]string{}
	flush := func() {
		if len(cur) > 0 {
			if section == "lstat" {
				recs = append(recs, cur)
			} else {
				vfs = append(vfs, cur)
			}
			cur = map[string]string{}
		}
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "==statvfs":
			flush()
			section = "statvfs"
			continue
		case strings.HasPrefix(line, "==ls "):
			flush()
			section, lsDir = "ls", strings.TrimPrefix(line, "==ls ")
			ls[lsDir] = []string{}
			continue
		case section == "ls":
			ls[lsDir] = append(ls[lsDir], line)
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if (k == "st_dev" || k == "bsize") && len(cur) > 0 {
			flush()
		}
		cur[k] = v
	}
	flush()
	if len(recs) != len(paths) || len(vfs) != len(mounts) {
		t.Fatalf("parsed %d lstat and %d statvfs records for %d paths", len(recs), len(vfs), len(paths))
	}
	for i, p := range paths {
		st, err := m.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		ours := map[string]int64{
			"st_mode": int64(st.Mode), "st_nlink": int64(st.Nlink), "st_uid": int64(st.Uid), "st_gid": int64(st.Gid),
			"st_rdev": int64(st.Rdev), "st_size": st.Size, "st_blksize": st.Blksize, "st_blocks": st.Blocks,
			"st_atime_sec": st.Atime.Sec, "st_atime_nsec": st.Atime.Nsec, "st_mtime_sec": st.Mtime.Sec,
			"st_mtime_nsec": st.Mtime.Nsec, "st_ctime_sec": st.Ctime.Sec, "st_ctime_nsec": st.Ctime.Nsec,
		}
		if d.PartitionTable("/dev/sda") != "" || strings.HasPrefix(mounts[0][0], "/dev/sda1") {
			ours["st_ino"] = int64(st.Ino) // ext: real inode numbers; vfat numbers by allocation order
		}
		for k, v := range ours {
			if recs[i][k] != fmt.Sprint(v) {
				t.Errorf("%s: %s = %d, appliance %s", p, k, v, recs[i][k])
			}
		}
	}
	for i, mp := range mounts {
		sv, err := m.StatFS(mp[1])
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]uint64{"bsize": uint64(sv.Bsize), "frsize": uint64(sv.Frsize), "blocks": sv.Blocks,
			"bfree": sv.Bfree, "bavail": sv.Bavail, "files": sv.Files, "ffree": sv.Ffree, "favail": sv.Favail, "namemax": uint64(sv.Namemax)} {
			if vfs[i][k] != fmt.Sprint(v) {
				t.Errorf("statvfs %s: %s = %d, appliance %s", mp[1], k, v, vfs[i][k])
			}
		}
	}
	for _, dir := range dirs {
		ents, _ := m.ReadDir(dir)
		var names []string
		for _, e := range ents {
			// guestfish prints names raw, one per line
			names = append(names, strings.Split(e.Name, "\n")...)
		}
		sort.Strings(names)
		want := ls[gfQuote(dir)[1:len(gfQuote(dir))-1]]
		if want == nil {
			want = ls[dir]
		}
		sort.Strings(want)
		if strings.Join(names, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("ls %q: %d names, appliance %d: %s", dir, len(names), len(want), firstStringDiff(names, want))
		}
	}
	t.Logf("compared %d paths, %d directories, %d statvfs", len(paths), len(dirs), len(mounts))
}
