package shell

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gfs/appliance/appliancetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// One Session (one appliance boot) serves every test in this file.
var (
	shared    *Session
	sharedDir string
	sharedErr error
	roSum     string
	roPath    string
)

func TestMain(m *testing.M) {
	os.Exit(appliancetest.Main(m, func() {
		if shared != nil {
			shared.Close()
		}
		if sharedDir != "" {
			os.RemoveAll(sharedDir)
		}
	}))
}

// The golden clock: ll's six-month rule is computed against it.
var goldenNow = time.Unix(1790000000, 0)

// session returns the shared session: a -N bootrootlv disk (prepared
// by the session itself when it first launches) and a read-only ext4
// image made on the host.
func session(t *testing.T) *Session {
	t.Helper()
	if shared != nil || sharedErr != nil {
		if sharedErr != nil {
			t.Fatal(sharedErr)
		}
		return shared
	}
	var err error
	sharedDir, err = os.MkdirTemp("", "gfs-shell-test-")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(sharedDir, "rosrc")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("read-only hello\n"), 0o644)
	roPath = filepath.Join(sharedDir, "ro.img")
	appliancetest.Run(t, "mkfs.ext4", "-q", "-F", "-d", src, roPath, "16M")
	roSum = appliancetest.Sha256(t, roPath)

	s := New(Options{Now: func() time.Time { return goldenNow }})
	s.SetDir(sharedDir)
	p, err := ParsePrepared("golden.img=bootrootlv:/dev/VG/LV:ext4:ext4:200M:64M", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddPrepared(p); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDrive(appliancDrive(roPath, true)); err != nil {
		t.Fatal(err)
	}
	shared = s
	return s
}

// runGolden runs a script through the session, in its own working
// directory, and returns stdout and stderr with the exit status.
func runGolden(t *testing.T, s *Session, name, script, dir string) (string, string) {
	var out, errb bytes.Buffer
	s.opts.Stdout, s.opts.Stderr = &out, &errb
	s.opts.Stdin = strings.NewReader("")
	s.SetDir(dir)
	err := s.RunScript(context.Background(), strings.NewReader(script), name)
	status := 0
	if err != nil {
		status = 1
	}
	fmt.Fprintf(&errb, "[exit status %d]\n", status)
	return out.String(), errb.String()
}

// The golden scripts run in order through one session (each builds on
// the previous). Their expected outputs were checked against the shapes
// real guestfish 1.48 prints.
func TestGoldenScripts(t *testing.T) {
	s := session(t)
	scripts, _ := filepath.Glob("testdata/golden/*.gfs")
	sort.Strings(scripts)
	if len(scripts) < 6 {
		t.Fatalf("only %d golden scripts", len(scripts))
	}
	work := t.TempDir()
	for _, sc := range scripts {
		name := filepath.Base(sc)
		text, err := os.ReadFile(sc)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stdout, stderr := runGolden(t, s, name, string(text), work)
		t.Logf("%s: %v", name, time.Since(start))
		base := strings.TrimSuffix(sc, ".gfs")
		if *update {
			os.WriteFile(base+".out", []byte(stdout), 0o644)
			os.WriteFile(base+".err", []byte(stderr), 0o644)
			continue
		}
		wantOut, _ := os.ReadFile(base + ".out")
		wantErr, _ := os.ReadFile(base + ".err")
		if stdout != string(wantOut) {
			t.Errorf("%s: stdout differs:\n%s", name, diffLines(string(wantOut), stdout))
		}
		if stderr != string(wantErr) {
			t.Errorf("%s: stderr differs:\n%s", name, diffLines(string(wantErr), stderr))
		}
		if t.Failed() && name == "01-setup.gfs" {
			t.FailNow()
		}
	}
	// The session remembers the mounts, in order, for the VM-less path
	// (07-reopen started afresh and mounted only the root).
	want := []MountCall{{Cmd: "mount", Mountable: "/dev/VG/LV", Mountpoint: "/"}}
	if got := s.Mounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded mounts = %+v, want %+v", got, want)
	}
	// The read-only image was never written.
	if sum := appliancetest.Sha256(t, roPath); sum != roSum {
		t.Error("the read-only image changed")
	}
}

// Guest paths and devices are completed live from the appliance.
func TestCompleteGuest(t *testing.T) {
	s := session(t)
	if err := s.Launch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Complete([]string{"cat"}, "/bo"); !reflect.DeepEqual(got, []string{"/boot/"}) {
		t.Errorf("complete /bo = %q", got)
	}
	if got := s.Complete([]string{"mount"}, "/dev/sda"); !reflect.DeepEqual(got, []string{"/dev/sda ", "/dev/sda1 ", "/dev/sda2 "}) {
		t.Errorf("complete /dev/sda = %q", got)
	}
	if got := s.Complete([]string{"mount"}, "/dev/V"); !reflect.DeepEqual(got, []string{"/dev/VG/LV "}) {
		t.Errorf("complete /dev/V = %q", got)
	}
	if got := s.Complete([]string{"mount", "/dev/sda1"}, "/bo"); !reflect.DeepEqual(got, []string{"/boot/"}) {
		t.Errorf("complete mountpoint = %q", got)
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// Ctrl-C (Interrupt) cancels the running command and its agent call;
// the session stays usable.
func TestInterrupt(t *testing.T) {
	s := session(t)
	var out, errb bytes.Buffer
	s.opts.Stdout, s.opts.Stderr = &out, &errb
	s.opts.Interactive = true
	defer func() { s.opts.Interactive = false }()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- withCommandContext(context.Background(), func(ctx context.Context) error {
			return s.RunLine(ctx, "debug sleep '30s'")
		})
	}()
	// Let the agent call get going, then interrupt it mid-call.
	time.Sleep(1500 * time.Millisecond)
	if !Interrupt() {
		t.Fatal("no command was running")
	}
	select {
	case err := <-done:
		if err == nil || time.Since(start) > 20*time.Second {
			t.Errorf("interrupted command returned %v after %v", err, time.Since(start))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Interrupt did not cancel the command")
	}
	if !strings.Contains(errb.String(), "gfs: error: debug: ") {
		t.Errorf("stderr = %q", errb.String())
	}
	out.Reset()
	if err := s.RunLine(context.Background(), "echo still here"); err != nil || out.String() != "still here\n" {
		t.Errorf("after the interrupt: %v %q", err, out.String())
	}
}
