package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gfs/appliance/appliancetest"
)

// guestImage is a small Debian-like guest made with mke2fs -d, read by
// the VM-less reader (no appliance boots in these tests).
func guestImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, d := range []string{"etc", "bin", "var/lib/dpkg"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	ls, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"etc/os-release":      "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n",
		"etc/debian_version":  "12.5\n",
		"etc/hostname":        "cli.invalid\n",
		"etc/fstab":           "UUID=12345678-1234-1234-1234-123456789abc / ext4 defaults 0 1\n",
		"bin/ls":              string(ls),
		"var/lib/dpkg/status": "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: GNU Bourne Again SHell\n\n",
	} {
		os.WriteFile(filepath.Join(src, name), []byte(body), 0o644)
	}
	img := filepath.Join(dir, "guest.img")
	appliancetest.Run(t, "mkfs.ext4", "-q", "-F", "-U", "12345678-1234-1234-1234-123456789abc", "-d", src, img, "16M")
	qcow := filepath.Join(dir, "guest.qcow2")
	appliancetest.QemuImg(t, "convert", "-O", "qcow2", img, qcow)
	return qcow
}

func TestInspectCommand(t *testing.T) {
	img := guestImage(t)
	dir := t.TempDir()
	start := time.Now()
	r := gfs(t, dir, "", "inspect", img)
	took := time.Since(start)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "<?xml version=\"1.0\"?>\n<operatingsystems>\n  <operatingsystem>\n    <root>/dev/sda</root>\n") ||
		!strings.Contains(r.stdout, "    <hostname>cli.invalid</hostname>\n    <osinfo>debian12</osinfo>\n") ||
		!strings.Contains(r.stdout, "        <name>bash</name>\n") {
		t.Fatalf("gfs inspect: code %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("gfs inspect took %v", took)
	// -a, --format=qcow2, --no-applications, --json.
	r = gfs(t, dir, "", "inspect", "--format=qcow2", "-a", img, "--no-applications", "--json")
	var doc struct {
		OperatingSystems []struct {
			Root, Distro, Hostname string
			MajorVersion           int `json:"major_version"`
			Applications           []any
		} `json:"operatingsystems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
		t.Fatalf("--json: %v %d\n%s%s", err, r.code, r.stdout, r.stderr)
	}
	if len(doc.OperatingSystems) != 1 || doc.OperatingSystems[0].Distro != "debian" || doc.OperatingSystems[0].MajorVersion != 12 ||
		doc.OperatingSystems[0].Applications != nil {
		t.Errorf("--json: %+v", doc)
	}
	r = gfs(t, dir, "", "inspect", "--no-applications", img)
	if strings.Contains(r.stdout, "<applications") {
		t.Error("--no-applications printed applications")
	}
	// -v says which reader answered.
	r = gfs(t, dir, "", "inspect", "-v", img)
	if !strings.Contains(r.stderr, "answered by the vm-less reader") {
		t.Errorf("-v: %s", r.stderr)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect"}, "gfs inspect: error: you must specify at least one -a option or disk image\n"},
		{[]string{"inspect", "/nonexistent.img"}, "gfs inspect: error: /nonexistent.img: no such file or directory\n"},
		{[]string{"inspect", "--bogus", "x"}, "gfs inspect: error: unknown option --bogus\n"},
	} {
		r := gfs(t, dir, "", c.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("%v: code %d stdout %q stderr %q", c.args, r.code, r.stdout, r.stderr)
		}
	}
	// A disk with a filesystem but no OS: virt-inspector's message, exit 1.
	blank := filepath.Join(dir, "data.img")
	appliancetest.Run(t, "mkfs.ext4", "-q", "-F", blank, "8M")
	r := gfs(t, dir, "", "inspect", blank)
	if r.code != 1 || !strings.HasPrefix(r.stderr, "gfs inspect: no operating system could be detected inside this disk image.\n") || r.stdout != "" {
		t.Errorf("no OS: code %d %q", r.code, r.stderr)
	}
	r = gfs(t, dir, "", "inspect", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--no-applications") {
		t.Errorf("--help: %d %q", r.code, r.stdout)
	}
}
