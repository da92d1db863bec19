package appliance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unicode"

	"gfs/appliance/agent"
	"gfs/appliance/api"
)

func TestPlan(t *testing.T) {
	broken := &verdict{KVM: "broken"}
	works := &verdict{KVM: "works"}
	for _, tc := range []struct {
		mode    string
		usable  bool
		v       *verdict
		want    []string
		wantErr bool
	}{
		{"auto", true, nil, []string{"kvm", "tcg"}, false},
		{"auto", true, broken, []string{"tcg"}, false},
		{"auto", true, works, []string{"kvm", "tcg"}, false},
		{"auto", false, nil, []string{"tcg"}, false},
		{"", true, nil, []string{"kvm", "tcg"}, false},
		{"tcg", true, nil, []string{"tcg"}, false},
		{"kvm", true, broken, []string{"kvm"}, false},
		{"kvm", false, nil, nil, true},
		{"hvf", true, nil, nil, true},
	} {
		got, err := plan(tc.mode, tc.usable, tc.v)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("plan(%q, %v, %+v) = %v, %v; want %v", tc.mode, tc.usable, tc.v, got, err, tc.want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	vs := []string{"6.10.0-1-amd64", "6.1.0-57-amd64", "5.10.0-30-amd64", "6.1.0-9-amd64", "6.9.2"}
	sort.Slice(vs, func(i, j int) bool { return versionLess(vs[i], vs[j]) })
	want := []string{"5.10.0-30-amd64", "6.1.0-9-amd64", "6.1.0-57-amd64", "6.9.2", "6.10.0-1-amd64"}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("sorted = %v", vs)
	}
}

func TestDiskName(t *testing.T) {
	for i, want := range map[int]string{0: "sda", 1: "sdb", 25: "sdz", 26: "sdaa", 27: "sdab", 51: "sdaz", 52: "sdba", 701: "sdzz", 702: "sdaaa"} {
		if got := diskName(i); got != want {
			t.Errorf("diskName(%d) = %s, want %s", i, got, want)
		}
	}
}

// Every agent command in the table has a handler in the agent, and the
// agent serves nothing the table does not describe (besides shutdown).
func TestTableMatchesAgent(t *testing.T) {
	served := map[string]bool{}
	for _, n := range agent.Handlers() {
		served[n] = true
	}
	for _, c := range api.Commands {
		if c.Where == api.Agent && !served[c.Name] {
			t.Errorf("%s: in the table as an agent command, but the agent has no handler", c.Name)
		}
		delete(served, c.Name)
	}
	for n := range served {
		if n != "shutdown" && n != "download" && n != "upload" {
			t.Errorf("agent serves %s, which the table does not describe", n)
		}
	}
}

// The typed methods are named after table commands and take their
// arguments (after the context) in table order.
func TestTypedAPIMatchesTable(t *testing.T) {
	typ := reflect.TypeOf(&Handle{})
	camel := map[string]*api.Command{}
	for _, c := range api.Commands {
		camel[toCamel(c.Name)] = c
	}
	notCommands := map[string]bool{"AddDrive": true, "Drives": true, "Launched": true, "Accel": true, "Launch": true,
		"Call": true, "Close": true, "Kill": true, "Image": true, "PID": true, "Cat": true, "ReadFile": true}
	for i := 0; i < typ.NumMethod(); i++ {
		m := typ.Method(i)
		if notCommands[m.Name] {
			continue
		}
		c := camel[m.Name]
		if c == nil {
			t.Errorf("method %s matches no command", m.Name)
			continue
		}
		// receiver, ctx, then arguments; stream commands swap in a reader
		// or writer, optional arguments add a map.
		got := m.Type.NumIn() - 2
		want := len(c.Args)
		if len(c.Opts) > 0 && m.Type.In(m.Type.NumIn()-1).Kind() == reflect.Map {
			got--
		}
		if got != want {
			t.Errorf("%s takes %d arguments, %s has %d", m.Name, got, c.Name, want)
		}
	}
}

func toCamel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '-' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	return strings.ReplaceAll(out, "Uuid", "UUID")
}

// A launch removes the VM directories of gfs processes that died
// without cleaning up (SIGKILL), and only those.
func TestSweepVMDirs(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadDir, err := os.MkdirTemp("", fmt.Sprintf("gfs-%d-", dead.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(deadDir, "overlay.qcow2"), []byte("x"), 0o600)
	liveDir, err := os.MkdirTemp("", fmt.Sprintf("gfs-%d-", os.Getppid()))
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(liveDir)
	sweepVMDirs()
	if _, err := os.Stat(deadDir); !os.IsNotExist(err) {
		os.RemoveAll(deadDir)
		t.Errorf("the directory of dead process %d survived: %v", dead.Process.Pid, err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("the directory of a live process was removed: %v", err)
	}
}
