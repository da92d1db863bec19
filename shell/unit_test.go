package shell

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gfs/appliance"
	"gfs/appliance/api"
)

// Lines as guestfish 1.48 splits them (checked with the real guestfish:
// see the report of issue 3).
func TestParseLine(t *testing.T) {
	home := os.Getenv("HOME")
	for _, tc := range []struct {
		in   string
		want Line
		err  string
	}{
		{in: "", want: Line{Kind: LineEmpty}},
		{in: "   # comment", want: Line{Kind: LineEmpty}},
		{in: "echo a # b", want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"a", "#", "b"}}},
		{in: `echo "a\tb" 'c d'`, want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"a\tb", "c d"}}},
		{in: `echo a\tb`, want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{`a\tb`}}},
		{in: `echo 'a\nb'`, want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{`a\nb`}}},
		{in: `echo "\x41\102\"\\"`, want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{`AB"\`}}},
		{in: `echo a'b c'd`, want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"a'b", "c'd"}}},
		{in: `echo "" x`, want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"", "x"}}},
		{in: "echo ~ ~/x", want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{home, home + "/x"}}},
		{in: "echo '~'", want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"~"}}},
		{in: "echo a|b", want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"a|b"}}},
		{in: "ls / | head -2", want: Line{Kind: LineCommand, Cmd: "ls", Args: []string{"/"}, Pipe: " head -2", HasPipe: true}},
		{in: "echo a |b", want: Line{Kind: LineCommand, Cmd: "echo", Args: []string{"a"}, Pipe: "b", HasPipe: true}},
		{in: "-rm /x", want: Line{Kind: LineCommand, IgnoreError: true, Cmd: "rm", Args: []string{"/x"}}},
		{in: "- rm /x", want: Line{Kind: LineCommand, IgnoreError: true, Cmd: "rm", Args: []string{"/x"}}},
		{in: "!echo hi", want: Line{Kind: LineHost, Host: "echo hi"}},
		{in: "-!false", want: Line{Kind: LineHost, IgnoreError: true, Host: "false"}},
		{in: "<! echo ls /", want: Line{Kind: LineInline, Host: " echo ls /"}},
		{in: "\tchmod 0755 /x\t", want: Line{Kind: LineCommand, Cmd: "chmod", Args: []string{"0755", "/x"}}},
		{in: `echo "a b"c`, err: "command arguments not separated by whitespace"},
		{in: `echo 'a b'c`, err: "command arguments not separated by whitespace"},
		{in: `echo "abc`, err: "unterminated double quote"},
		{in: `echo 'abc`, err: "unterminated single quote"},
		{in: `echo "\q"`, err: "invalid escape sequence in string (starting at offset 0)"},
		{in: `echo "ab\x4"`, err: "invalid escape sequence in string (starting at offset 2)"},
		{in: `echo "\000"`, err: "invalid escape sequence in string (starting at offset 0)"},
	} {
		got, err := ParseLine(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseLine(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLine(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLine(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "777": 777, "0755": 0o755, "0x1ff": 0x1ff, "0X10": 16, "-64": -64, "+5": 5,
		"1K": 1024, "1k": 1024, "1KiB": 1024, "1KB": 1000, "1kB": 1000, "10M": 10 << 20,
		"2G": 2 << 30, "1GB": 1e9, "1T": 1 << 40, "1E": 1 << 60, "0x10K": 16 << 10,
	} {
		got, err := ParseInt(in)
		if err != nil || got != want {
			t.Errorf("ParseInt(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "abc", "08", "1B", "1Kx", "0x", "1Z", "99999999999999999999", "1_000", "0b11", "1.5"} {
		if n, err := ParseInt(bad); err == nil {
			t.Errorf("ParseInt(%q) = %d, want an error", bad, n)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"true", "TRUE", "yes", "y", "1", "on", "t"} {
		if b, err := ParseBool(s); err != nil || !b {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, err)
		}
	}
	for _, s := range []string{"false", "No", "n", "0", "off", "f"} {
		if b, err := ParseBool(s); err != nil || b {
			t.Errorf("ParseBool(%q) = %v, %v", s, b, err)
		}
	}
	_, err := ParseBool("maybe")
	if err == nil || err.Error() != "gfs: 'maybe': invalid boolean value, use 'true' or 'false'" {
		t.Errorf("ParseBool(maybe) = %v", err)
	}
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{
		"":                           {},
		"/dev/sda1 /dev/sdb1":        {"/dev/sda1", "/dev/sdb1"},
		"  a\t b  ":                  {"a", "b"},
		"'a b' c":                    {"a b", "c"},
		"This' is a sing'l'e to'ken": {"This is a single token"},
		`it\'s`:                      {"it's"},
	} {
		got, err := SplitList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := SplitList("'a"); err == nil {
		t.Error("SplitList with a runaway quote: no error")
	}
}

// LongListing must print what GNU ls -lan prints (UTC, C locale) for
// the same lstat data: build a directory with every kind of entry on
// the host and compare with the real ls.
func TestLongListingMatchesLs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes device nodes and chowns files: run it as root")
	}
	dir := filepath.Join(t.TempDir(), "d")
	os.Mkdir(dir, 0o755)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "hello"), []byte("hello world\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "empty"), nil, 0o4755))
	must(os.Chmod(filepath.Join(dir, "empty"), 0o4755))
	must(os.WriteFile(filepath.Join(dir, "setgid-noexec"), nil, 0o644))
	must(os.Chmod(filepath.Join(dir, "setgid-noexec"), 0o2644))
	f, err := os.Create(filepath.Join(dir, "big"))
	must(err)
	must(f.Truncate(123456789))
	f.Close()
	must(os.WriteFile(filepath.Join(dir, "blocks"), bytes.Repeat([]byte("x"), 70000), 0o600))
	must(os.Symlink("hello", filepath.Join(dir, "link")))
	must(os.Symlink("/nonexistent/very/long/target", filepath.Join(dir, "dangling")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(unix.Mknod(filepath.Join(dir, "blk"), unix.S_IFBLK|0o640, int(unix.Mkdev(8, 1))))
	must(unix.Mknod(filepath.Join(dir, "chr"), unix.S_IFCHR|0o666, int(unix.Mkdev(259, 123456))))
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(os.Chmod(filepath.Join(dir, "sub"), 0o1777))
	must(os.Mkdir(filepath.Join(dir, "sticky-noexec"), 0o755))
	must(os.Chmod(filepath.Join(dir, "sticky-noexec"), 0o1754))
	must(os.Chown(filepath.Join(dir, "hello"), 1000, 100))
	must(os.Lchown(filepath.Join(dir, "link"), 123456, 7))
	old := time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC)
	must(os.Chtimes(filepath.Join(dir, "hello"), old, old))
	recent := time.Now().Add(-30 * 24 * time.Hour)
	must(os.Chtimes(filepath.Join(dir, "big"), recent, recent))
	future := time.Now().Add(400 * 24 * time.Hour)
	must(os.Chtimes(filepath.Join(dir, "blocks"), future, future))
	nearlyOld := time.Now().Add(-170 * 24 * time.Hour)
	must(os.Chtimes(filepath.Join(dir, "empty"), nearlyOld, nearlyOld))
	justOld := time.Now().Add(-190 * 24 * time.Hour)
	must(os.Chtimes(filepath.Join(dir, "fifo"), justOld, justOld))

	cmd := exec.Command("ls", "-lan", dir)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	out, err := cmd.Output()
	must(err)
	now := time.Now()

	names := []string{".", ".."}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var fs []api.FileStat
	for _, n := range names {
		var st unix.Stat_t
		must(unix.Lstat(filepath.Join(dir, n), &st))
		e := api.FileStat{Name: n, StatNS: api.StatNS{
			Mode: int64(st.Mode), Nlink: int64(st.Nlink), UID: int64(st.Uid), GID: int64(st.Gid),
			Rdev: int64(st.Rdev), Size: st.Size, Blocks: st.Blocks, MtimeSec: st.Mtim.Sec, MtimeNsec: st.Mtim.Nsec,
		}}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			e.Link, _ = os.Readlink(filepath.Join(dir, n))
		}
		fs = append(fs, e)
	}
	got := LongListing(fs, now, true)
	if got != string(out) {
		t.Errorf("LongListing differs from ls -lan:\n--- gfs\n%s--- ls\n%s", got, out)
	}
	// A single file: no total line.
	one := LongListing(fs[len(fs)-1:], now, false)
	if strings.HasPrefix(one, "total") || strings.Count(one, "\n") != 1 {
		t.Errorf("single entry listing = %q", one)
	}
}

func TestModeString(t *testing.T) {
	for mode, want := range map[int64]string{
		sIFREG | 0o644: "-rw-r--r--", sIFDIR | 0o1777: "drwxrwxrwt", sIFDIR | 0o1776: "drwxrwxrwT",
		sIFREG | 0o4755: "-rwsr-xr-x", sIFREG | 0o4644: "-rwSr--r--", sIFREG | 0o2755: "-rwxr-sr-x",
		sIFREG | 0o2745: "-rwxr-Sr-x", sIFLNK | 0o777: "lrwxrwxrwx", sIFSOCK | 0o755: "srwxr-xr-x",
		sIFCHR | 0o620: "crw--w----", sIFBLK | 0o660: "brw-rw----", sIFIFO | 0o600: "prw-------",
	} {
		if got := modeString(mode); got != want {
			t.Errorf("modeString(%o) = %s, want %s", mode, got, want)
		}
	}
}

func TestPrintResult(t *testing.T) {
	cmd := func(name string) *api.Command { return api.Lookup(name) }
	for _, tc := range []struct {
		cmd  *api.Command
		json string
		want string
	}{
		{cmd("is-dir"), `true`, "true\n"},
		{cmd("exists"), `false`, "false\n"},
		{cmd("blockdev-getsize64"), `209715200`, "209715200\n"},
		{cmd("umask"), `18`, "022\n"},
		{cmd("umask"), `0`, "0\n"},
		{cmd("part-get-mbr-id"), `131`, "0x83\n"},
		{cmd("vfs-type"), `"ext4"`, "ext4\n"},
		{cmd("vfs-label"), `""`, "\n"},
		{cmd("ls"), `["a","b c"]`, "a\nb c\n"},
		{cmd("ls"), `[]`, ""},
		{cmd("list-filesystems"), `["/dev/sda1","ext4","/dev/VG/LV","swap"]`, "/dev/sda1: ext4\n/dev/VG/LV: swap\n"},
		{cmd("part-list"), `[{"part_num":1,"part_start":32768,"part_end":67141631,"part_size":67108864}]`,
			"[0] = {\n  part_num: 1\n  part_start: 32768\n  part_end: 67141631\n  part_size: 67108864\n}\n"},
		{cmd("statvfs"), `{"bsize":1024,"namemax":255}`, "bsize: 1024\nfrsize: 0\nblocks: 0\nbfree: 0\nbavail: 0\nfiles: 0\nffree: 0\nfavail: 0\nfsid: 0\nflag: 0\nnamemax: 255\n"},
		{cmd("lvs-full"), `[{"lv_name":"LV","snap_percent":-1,"copy_percent":50}]`, "snap_percent: \n"},
		{cmd("lstatnslist"), `[{"name":"x","st_mode":33188,"link":"t"}]`, "[0] = {\n  name: x\n  st_dev: 0\n"},
	} {
		var b bytes.Buffer
		if err := printResult(&b, tc.cmd, json.RawMessage(tc.json)); err != nil {
			t.Errorf("%s %s: %v", tc.cmd.Name, tc.json, err)
			continue
		}
		if tc.cmd.Name == "lvs-full" || tc.cmd.Name == "lstatnslist" {
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("%s %s printed\n%s\nwant it to contain %q", tc.cmd.Name, tc.json, b.String(), tc.want)
			}
			continue
		}
		if b.String() != tc.want {
			t.Errorf("%s %s printed %q, want %q", tc.cmd.Name, tc.json, b.String(), tc.want)
		}
	}
	var b bytes.Buffer
	printResult(&b, api.Lookup("lvs-full"), json.RawMessage(`[{"copy_percent":50}]`))
	if !strings.Contains(b.String(), "  copy_percent: 50 %\n") || !strings.HasSuffix(b.String(), "  modules: \n}\n") {
		t.Errorf("lvs-full printed\n%s", b.String())
	}
}

func TestParseArgs(t *testing.T) {
	chmod := api.Lookup("chmod")
	p, err := parseArgs(chmod, "chmod", []string{"0755", "/x"})
	if err != nil || p.values[0] != int64(0o755) || p.values[1] != "/x" {
		t.Errorf("chmod 0755 /x = %+v, %v", p, err)
	}
	for _, tc := range []struct {
		cmd   string
		words []string
		err   string
	}{
		{"chmod", []string{"0755"}, "error: incorrect number of arguments\nusage: chmod mode path\ntype 'help chmod' for more help on chmod"},
		{"mount", []string{"a", "b", "c"}, "error: incorrect number of arguments\nusage: mount mountable mountpoint\ntype 'help mount' for more help on mount"},
		{"chmod", []string{"abc", "/x"}, "chmod: mode: invalid integer parameter (not a number)"},
		{"chmod", []string{"999999999999", "/x"}, "chmod: mode: integer out of range"},
		{"is-file", []string{"/x", "nosuchopt:1"}, `is-file: unknown optional argument "nosuchopt:1"`},
		{"is-file", []string{"/x", "followsymlinks"}, `is-file: unknown optional argument "followsymlinks"`},
		{"is-file", []string{"/x", "followsymlinks:maybe"}, "gfs: 'maybe': invalid boolean value, use 'true' or 'false'"},
		{"ls", []string{"dir"}, "ls: dir: path must start with a / character"},
	} {
		_, err := parseArgs(api.Lookup(tc.cmd), tc.cmd, tc.words)
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s %q: error %v, want %q", tc.cmd, tc.words, err, tc.err)
		}
	}
	p, err = parseArgs(api.Lookup("is-file"), "is-file", []string{"/x", "followsymlinks:yes"})
	if err != nil || p.opts["followsymlinks"] != true {
		t.Errorf("followsymlinks:yes = %+v, %v", p, err)
	}
	p, err = parseArgs(api.Lookup("vgcreate"), "vgcreate", []string{"VG", "/dev/sda1 /dev/sdb1"})
	if err != nil || !reflect.DeepEqual(p.values[1], []string{"/dev/sda1", "/dev/sdb1"}) {
		t.Errorf("vgcreate list = %+v, %v", p, err)
	}
}

func TestSynopsis(t *testing.T) {
	for name, want := range map[string]string{
		"mount":   "mount mountable mountpoint",
		"add":     "add-drive filename [readonly:true|false] [format:..] [name:..]",
		"mkfs":    "mkfs fstype device [blocksize:N] [features:..] [inode:N] [sectorsize:N] [label:..]",
		"copy-in": "copy-in localpath [localpath ...] remotedir",
		"time":    "time command [args...]",
		"echo":    "echo [params] ...",
	} {
		if got := api.Lookup(name).Synopsis(); got != want {
			t.Errorf("synopsis of %s = %q, want %q", name, got, want)
		}
	}
}

func TestPreparedParse(t *testing.T) {
	p, err := ParsePrepared("fs", 1)
	if err != nil || p.File != "test1.img" || p.Params["filesystem"] != "ext2" || p.Params["size"] != "1G" || p.Params["partition"] != "mbr" {
		t.Errorf("fs = %+v, %v", p, err)
	}
	p, err = ParsePrepared("out.img=bootrootlv:/dev/vg/root::ext4:200M", 3)
	if err != nil || p.File != "out.img" || p.Params["name"] != "/dev/vg/root" || p.Params["bootfs"] != "ext2" ||
		p.Params["rootfs"] != "ext4" || p.Params["size"] != "200M" || p.Params["bootsize"] != "128M" {
		t.Errorf("bootrootlv = %+v, %v", p, err)
	}
	p, err = ParsePrepared("disk:10M", 2)
	if err != nil || p.File != "test2.img" || p.Params["size"] != "10M" {
		t.Errorf("disk:10M = %+v, %v", p, err)
	}
	for _, bad := range []string{"nosuch", "fs:ext4:1G:mbr:extra", "lv:VG/LV", "disk:lots", "part:1G:bsd"} {
		if _, err := ParsePrepared(bad, 1); err == nil {
			t.Errorf("-N %s: no error", bad)
		}
	}
	if diskLetters(0) != "a" || diskLetters(25) != "z" || diskLetters(26) != "aa" {
		t.Error("diskLetters")
	}
	var b bytes.Buffer
	PreparedHelp(&b)
	for _, typ := range []string{"disk", "part", "fs", "lv", "lvfs", "bootroot", "bootrootlv", "test1.img"} {
		if !strings.Contains(b.String(), typ) {
			t.Errorf("-N help does not mention %s", typ)
		}
	}
}

func TestHelp(t *testing.T) {
	var b bytes.Buffer
	ListCommands(&b)
	lines := strings.Split(b.String(), "\n")
	if lines[0] != "    Command              Description" || !strings.HasPrefix(lines[1], "help   ") || !strings.HasPrefix(lines[2], "quit   ") {
		t.Errorf("command list starts\n%s", strings.Join(lines[:3], "\n"))
	}
	if !strings.Contains(b.String(), "\nadd                  alias for 'add-drive'\n") ||
		!strings.Contains(b.String(), "\nvi                   alias for 'edit'\n") {
		t.Error("aliases are not listed as guestfish lists them")
	}
	b.Reset()
	if !CommandHelp(&b, "add_drive_ro") || !strings.HasPrefix(b.String(), "NAME\n    add-drive-ro - add a disk image read-only\n\nSYNOPSIS\n     add-drive-ro filename\n\nDESCRIPTION\n") ||
		!strings.Contains(b.String(), "You can use 'add-ro' as an alias for this command.") {
		t.Errorf("help add_drive_ro:\n%s", b.String())
	}
	b.Reset()
	CommandHelp(&b, "rm")
	if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), "refused when the disk it would change was added read-only") {
		t.Errorf("help rm does not say it needs write access:\n%s", b.String())
	}
	if CommandHelp(&b, "nosuch") {
		t.Error("help nosuch succeeded")
	}
}

// docs/commands.md is generated from the table and must be current.
func TestDocsCurrent(t *testing.T) {
	want, err := os.ReadFile("../docs/commands.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != Markdown() {
		t.Error("docs/commands.md is out of date: run make docs")
	}
	md := Markdown()
	for _, c := range api.Commands {
		if !strings.Contains(md, "### "+c.Name+"\n\n    "+c.Synopsis()+"\n") {
			t.Errorf("docs/commands.md lacks %s", c.Name)
		}
	}
}

func TestCompleteCommandsAndHostPaths(t *testing.T) {
	s := New(Options{})
	got := s.Complete(nil, "list-f")
	if !reflect.DeepEqual(got, []string{"list-filesystems "}) {
		t.Errorf("complete list-f = %q", got)
	}
	got = s.Complete([]string{"help"}, "mkswap")
	if !reflect.DeepEqual(got, []string{"mkswap ", "mkswap-opts "}) {
		t.Errorf("complete help mkswap = %q", got)
	}
	got = s.Complete([]string{"is-file", "/x"}, "foll")
	if !reflect.DeepEqual(got, []string{"followsymlinks:"}) {
		t.Errorf("complete optional argument = %q", got)
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "images"), 0o755)
	os.WriteFile(filepath.Join(dir, "image.qcow2"), nil, 0o644)
	s.SetDir(dir)
	got = s.Complete([]string{"add"}, "ima")
	sort.Strings(got)
	if !reflect.DeepEqual(got, []string{"image.qcow2 ", "images/"}) {
		t.Errorf("complete host path = %q", got)
	}
	// Guest paths need a running appliance: none here, so nothing.
	if got := s.Complete([]string{"ls"}, "/et"); got != nil {
		t.Errorf("guest completion without an appliance = %q", got)
	}
	w, cur := splitForCompletion(`upload "my file" /et`)
	if !reflect.DeepEqual(w, []string{"upload", "my file"}) || cur != "/et" {
		t.Errorf("splitForCompletion = %q %q", w, cur)
	}
}

// Errors before launch: unknown commands, wrong counts, and writes to
// a read-only drive are refused without booting anything.
func TestErrorsWithoutAppliance(t *testing.T) {
	img := filepath.Join(t.TempDir(), "ro.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o644)
	var out, errb bytes.Buffer
	s := New(Options{Stdout: &out, Stderr: &errb})
	defer s.Close()
	if err := s.AddDrive(appliancDrive(img, true)); err != nil {
		t.Fatal(err)
	}
	script := "nosuchcmd\n-nosuch2\n-mount /dev/sda1\n-touch /x\n-mkfs ext4 /dev/sda1\n-echo \"unterminated\n-lcd /nonexistent\n-help nosuch\necho done\n"
	err := s.RunScript(t.Context(), strings.NewReader(script), "t.gfs")
	if err != ErrFailed {
		t.Fatalf("RunScript = %v, want ErrFailed at the first line", err)
	}
	want := "nosuchcmd: unknown command\nDid you mean to open a disk image?  gfs -a disk.img\n"
	if !strings.HasPrefix(errb.String(), want) {
		t.Errorf("stderr = %q", errb.String())
	}
	errb.Reset()
	if err := s.RunScript(t.Context(), strings.NewReader(script[len("nosuchcmd\n"):]), "t.gfs"); err != nil {
		t.Fatalf("RunScript of ignored errors = %v", err)
	}
	wantErr := "nosuch2: unknown command\n" +
		"error: incorrect number of arguments\nusage: mount mountable mountpoint\ntype 'help mount' for more help on mount\n" +
		"t.gfs:3: gfs: error: touch: refusing to change ro.img: it was added read-only (--ro or add-ro); use --rw to allow writes\n" +
		"t.gfs:4: gfs: error: mkfs: refusing to change ro.img: it was added read-only (--ro or add-ro); use --rw to allow writes\n" +
		"gfs: unterminated double quote\n" +
		"/nonexistent: No such file or directory\n" +
		"nosuch: command not known: use 'help --list' to list all commands\n"
	if errb.String() != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", errb.String(), wantErr)
	}
	if out.String() != "done\n" {
		t.Errorf("stdout = %q", out.String())
	}
	if s.Launched() {
		t.Error("the errors launched the appliance")
	}
}

func appliancDrive(path string, ro bool) appliance.Drive {
	return appliance.Drive{Path: path, ReadOnly: ro, Format: "raw", Name: filepath.Base(path)}
}
