package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"gfs/shell"
)

// --listen: the gfs the user runs starts a copy of itself in a new
// session with the same options (that copy owns the appliance and the
// socket), waits until it is ready and prints the line to eval. The
// copy serves until a client sends quit or until the process that ran
// `gfs --listen` (usually the user's shell script) has exited.

const (
	listenChildEnv = "GFS_LISTEN_CHILD"
	listenOwnerEnv = "GFS_LISTEN_OWNER"
)

func listenParent(args []string, o *options) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gfs: --listen:", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gfs: --listen:", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gfs: --listen:", err)
		return 1
	}
	defer null.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), listenChildEnv+"=1", fmt.Sprintf("%s=%d", listenOwnerEnv, os.Getppid()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "gfs: --listen:", err)
		return 1
	}
	w.Close()
	status, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	status = strings.TrimSuffix(status, "\n")
	if status != "OK" {
		if status == "" {
			status = "gfs: --listen: the listener exited before it was ready"
		}
		fmt.Fprintln(os.Stderr, status)
		cmd.Wait()
		return 1
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	if o.csh {
		fmt.Printf("setenv GUESTFISH_PID %d\n", pid)
	} else {
		fmt.Printf("GUESTFISH_PID=%d; export GUESTFISH_PID\n", pid)
	}
	return 0
}

// listenReady returns, in a listener child, the function that reports
// readiness ("" = ready, else the error) to the parent; nil otherwise.
func listenReady() func(msg string) {
	if os.Getenv(listenChildEnv) == "" {
		return nil
	}
	f := os.NewFile(3, "listen-ready")
	done := false
	return func(msg string) {
		if done || f == nil {
			return
		}
		done = true
		if msg == "" {
			msg = "OK"
		}
		fmt.Fprintln(f, strings.ReplaceAll(msg, "\n", " "))
		f.Close()
	}
}

func serveListener(ctx context.Context, s *shell.Session, ready func(string)) int {
	l, err := shell.Listen(s)
	if err != nil {
		msg := "gfs: --listen: " + err.Error()
		if ready != nil {
			ready(msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		return 1
	}
	defer l.Close()
	owner, _ := strconv.Atoi(os.Getenv(listenOwnerEnv))
	if ready != nil {
		ready("")
	}
	if err := l.Serve(ctx, owner); err != nil {
		return 1
	}
	return 0
}
