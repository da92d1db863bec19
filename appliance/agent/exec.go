package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"

	"gfs/appliance/proto"
)

// run executes an appliance tool and returns its stdout. On failure the
// error is the tool's own stderr, which is what users need to read.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runIn(ctx, nil, name, args...)
}

// runIn is run with stdin (nil for none), such as a guest file opened
// with chroot semantics.
func runIn(ctx context.Context, stdin io.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.Stdin = stdin
	debugf("run %s %s", name, strings.Join(args, " "))
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if msg == "" {
			msg = err.Error()
		}
		errno := syscall.EIO
		var ee *exec.Error
		if errors.As(err, &ee) {
			errno = syscall.ENOENT
			msg = fmt.Sprintf("%s is not available in this appliance (install it on the host and rebuild: gfs appliance build)", name)
		}
		if ctx.Err() != nil {
			errno = syscall.ECANCELED
		}
		return stdout.String(), &proto.Error{Errno: int(errno), Message: oneLine(name, msg)}
	}
	return stdout.String(), nil
}

// versionBanner matches the "tune2fs 1.47.0 (5-Feb-2023)" line that
// e2fsprogs and others print before their message.
var versionBanner = regexp.MustCompile(`^[\w.-]+ v?\d+\.\d+[\w.-]* \([^)]*\)$`)

// oneLine turns a tool's stderr into one error line: no version
// banner, no blank lines, no "tool: " prefix (the shell names the
// command), the rest joined, and a bounded length.
func oneLine(tool, msg string) string {
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !versionBanner.MatchString(l) {
			parts = append(parts, l)
		}
	}
	s := strings.TrimPrefix(strings.Join(parts, " "), tool+": ")
	if len(s) > 1000 {
		s = s[:1000] + "…"
	}
	return s
}

// haveTool reports whether a program exists in the appliance.
func haveTool(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// missingTools is read from the manifest the host wrote into the image.
func missingTools() []string {
	b, err := os.ReadFile("/etc/gfs/missing")
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func unameRelease() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return ""
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func agentID() string {
	b, _ := os.ReadFile("/etc/gfs/agent-id")
	return strings.TrimSpace(string(b))
}
