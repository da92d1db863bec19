// Package appliancetest helps tests boot the real appliance: it builds
// the gfs binary that serves as the agent, makes disk images with the
// real tools, and checks that nothing (QEMU processes, temporary
// directories) outlives a test run.
package appliancetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	agentPath string
	buildErr  error
	buildDir  string
)

// Agent builds gfs (statically, as the appliance needs) once per test
// process, points GFS_AGENT at it and returns its path.
func Agent() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("GFS_AGENT"); p != "" {
			agentPath = p
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "gfs-test-agent-")
		if buildErr != nil {
			return
		}
		agentPath = filepath.Join(buildDir, "gfs")
		cmd := exec.Command("go", "build", "-o", agentPath, "gfs/cmd/gfs")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build the agent: %v\n%s", err, out)
			return
		}
		os.Setenv("GFS_AGENT", agentPath)
	})
	return agentPath, buildErr
}

// Main wraps testing.M.Run for packages that boot appliances: it builds
// the agent first and, after the tests and the package's own cleanups,
// fails the run if any QEMU child or temporary directory was left.
func Main(m *testing.M, cleanups ...func()) int {
	if _, err := Agent(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if err := CheckNoOrphans(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: leftovers after the tests:", err)
		return 1
	}
	return code
}

// CheckNoOrphans reports QEMU processes this process started that are
// still running, and gfs temporary directories of this process.
func CheckNoOrphans() error {
	var problems []string
	for _, pid := range Children("qemu-system") {
		problems = append(problems, fmt.Sprintf("QEMU process %d still running", pid))
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("gfs-%d-*", os.Getpid())))
	for _, d := range dirs {
		problems = append(problems, "temporary directory "+d+" not removed")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// Children lists live child processes of this process whose command
// name starts with prefix.
func Children(prefix string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces, so split
		// after the last parenthesis.
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		comm := s[open+1 : close]
		fields := strings.Fields(s[close+1:])
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		if ppid == me && strings.HasPrefix(comm, prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// QemuImg runs qemu-img and fails the test on error.
func QemuImg(t testing.TB, args ...string) {
	t.Helper()
	Run(t, "qemu-img", args...)
}

// Run runs a host command and fails the test on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		if _, lerr := exec.LookPath(name); lerr != nil {
			t.Fatalf("%s is not installed (run make deps as root): %v", name, lerr)
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Blank creates an empty image of the given format and size (qemu-img
// syntax: 512M, 1G) in the test's temporary directory.
func Blank(t testing.TB, name, format, size string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	QemuImg(t, "create", "-q", "-f", format, p, size)
	return p
}

// Sha256 hashes a file.
func Sha256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
