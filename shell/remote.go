package shell

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// --listen / --remote: a listening gfs keeps one session (one appliance
// launch) and runs commands sent by `gfs --remote` over a unix
// SOCK_SEQPACKET socket in a directory only the user can enter. Each
// request carries the client's stdin, stdout and stderr as file
// descriptors, so output, pipes and "-" streams behave as if the
// command ran in the client.

// remoteRequest is one command sent to a listener.
type remoteRequest struct {
	Words       []string `json:"words,omitempty"` // a command and its arguments
	Line        string   `json:"line,omitempty"`  // or a whole script line
	Dir         string   `json:"dir"`             // the client's working directory
	ExitOnError bool     `json:"exit_on_error"`
}

type remoteReply struct {
	Status int  `json:"status"` // 0 ok, 1 failed
	Quit   bool `json:"quit"`
}

// SocketDir is the private directory holding listener sockets:
// $XDG_RUNTIME_DIR/gfs or $TMPDIR/gfs-UID, mode 0700.
func SocketDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "gfs")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("gfs-listen-%d", os.Getuid()))
}

// SocketPath is the control socket of the listener with that pid.
func SocketPath(pid int) string {
	return filepath.Join(SocketDir(), fmt.Sprintf("socket-%d", pid))
}

// privateDir creates (or checks) the socket directory: owned by the
// user, no access for anyone else.
func privateDir() (string, error) {
	dir := SocketDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, checkPrivate(dir)
}

func checkPrivate(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("%s: %v", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 {
		return fmt.Errorf("%s: not a private directory of this user (it must be mode 0700 and yours)", dir)
	}
	return nil
}

// Listener serves a session to --remote clients.
type Listener struct {
	s    *Session
	ln   *net.UnixListener
	path string
}

// Listen creates the control socket for this process.
func Listen(s *Session) (*Listener, error) {
	if _, err := privateDir(); err != nil {
		return nil, err
	}
	path := SocketPath(os.Getpid())
	os.Remove(path)
	old := unix.Umask(0o077)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	return &Listener{s: s, ln: ln, path: path}, nil
}

// Path is the socket's path.
func (l *Listener) Path() string { return l.path }

// Close removes the socket.
func (l *Listener) Close() error { return l.ln.Close() }

// Serve runs commands from clients, one connection at a time, until a
// client sends quit, ctx ends, or the owner process (ownerPID > 0)
// exits.
func (l *Listener) Serve(ctx context.Context, ownerPID int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if ownerPID > 0 {
		go watchOwner(ctx, ownerPID, cancel)
	}
	go func() {
		<-ctx.Done()
		l.ln.Close()
	}()
	for {
		conn, err := l.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		quit := l.handle(ctx, conn)
		conn.Close()
		if quit {
			return nil
		}
	}
}

// watchOwner cancels when the process that started the listener (the
// shell that evaluated its output) is gone.
func watchOwner(ctx context.Context, pid int, cancel context.CancelFunc) {
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		defer unix.Close(fd)
		for ctx.Err() == nil {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 1000)
			if err == nil && n > 0 {
				cancel()
				return
			}
		}
		return
	}
	for ctx.Err() == nil {
		if err := unix.Kill(pid, 0); err != nil && errors.Is(err, unix.ESRCH) {
			cancel()
			return
		}
		time.Sleep(time.Second)
	}
}

// handle runs the requests of one connection; it reports whether the
// session should end.
func (l *Listener) handle(ctx context.Context, conn *net.UnixConn) bool {
	if cred, err := peerCred(conn); err != nil || int(cred.Uid) != os.Getuid() {
		return false
	}
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(3*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return false
		}
		var req remoteRequest
		if err := json.Unmarshal(buf[:n], &req); err != nil {
			return false
		}
		files := receivedFiles(oob[:oobn])
		reply := l.run(ctx, req, files)
		for _, f := range files {
			f.Close()
		}
		b, _ := json.Marshal(reply)
		if _, err := conn.Write(b); err != nil {
			return reply.Quit
		}
		if reply.Quit {
			return true
		}
	}
}

func (l *Listener) run(ctx context.Context, req remoteRequest, files []*os.File) remoteReply {
	s := l.s
	saved := s.opts
	savedDir := s.cwd
	if len(files) == 3 {
		s.opts.Stdin, s.opts.Stdout, s.opts.Stderr = files[0], files[1], files[2]
	}
	s.opts.Interactive = !req.ExitOnError
	if req.Dir != "" {
		s.cwd = req.Dir
	}
	defer func() {
		s.opts = saved
		if req.Dir != "" {
			s.cwd = savedDir
		}
	}()
	var err error
	if req.Line != "" {
		err = withCommandContext(ctx, func(ctx context.Context) error { return s.RunLine(ctx, req.Line) })
	} else if len(req.Words) > 0 {
		err = withCommandContext(ctx, func(ctx context.Context) error {
			return s.RunCommand(ctx, req.Words[0], req.Words[1:], "", false)
		})
	}
	r := remoteReply{Quit: s.quit}
	if err != nil {
		r.Status = 1
	}
	return r
}

func peerCred(conn *net.UnixConn) (*unix.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	return cred, cerr
}

func receivedFiles(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "remote"))
		}
	}
	return files
}

// RemoteClient sends commands to a listener.
type RemoteClient struct {
	conn *net.UnixConn
}

// Dial connects to the listener with that pid.
func Dial(pid int) (*RemoteClient, error) {
	if err := checkPrivate(SocketDir()); err != nil {
		return nil, err
	}
	path := SocketPath(pid)
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the gfs listener %d (%s): %v", pid, path, unwrapSyscall(err))
	}
	return &RemoteClient{conn: conn}, nil
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// Close hangs up.
func (c *RemoteClient) Close() error { return c.conn.Close() }

// send runs one request with this process's standard streams.
func (c *RemoteClient) send(req remoteRequest) (remoteReply, error) {
	req.Dir, _ = os.Getwd()
	b, err := json.Marshal(req)
	if err != nil {
		return remoteReply{}, err
	}
	rights := unix.UnixRights(int(os.Stdin.Fd()), int(os.Stdout.Fd()), int(os.Stderr.Fd()))
	if _, _, err := c.conn.WriteMsgUnix(b, rights, nil); err != nil {
		return remoteReply{}, err
	}
	buf := make([]byte, 4096)
	n, err := c.conn.Read(buf)
	if err != nil {
		return remoteReply{}, fmt.Errorf("the listener went away: %v", unwrapSyscall(err))
	}
	var r remoteReply
	err = json.Unmarshal(buf[:n], &r)
	return r, err
}

// RunRemote is `gfs --remote`: commands from argv (separated by ":") or,
// without any, lines from stdin are run by the listener. It returns the
// exit status.
func RunRemote(pid int, argv []string, stdin io.Reader, stderr io.Writer) int {
	c, err := Dial(pid)
	if err != nil {
		fmt.Fprintln(stderr, "gfs: --remote:", err)
		return 1
	}
	defer c.Close()
	fail := func(err error) int { fmt.Fprintln(stderr, "gfs: --remote:", err); return 1 }
	if len(argv) > 0 {
		for len(argv) > 0 {
			n := 0
			for n < len(argv) && argv[n] != ":" {
				n++
			}
			group := argv[:n]
			if n < len(argv) {
				argv = argv[n+1:]
			} else {
				argv = nil
			}
			if len(group) == 0 {
				fmt.Fprintln(stderr, "gfs: empty command on command line")
				return 1
			}
			exitOnError := true
			if strings.HasPrefix(group[0], "-") && len(group[0]) > 1 {
				group[0], exitOnError = group[0][1:], false
			}
			r, err := c.send(remoteRequest{Words: group, ExitOnError: exitOnError})
			if err != nil {
				return fail(err)
			}
			if r.Status != 0 && exitOnError {
				return 1
			}
			if r.Quit {
				return 0
			}
		}
		return 0
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		r, err := c.send(remoteRequest{Line: line, ExitOnError: true})
		if err != nil {
			return fail(err)
		}
		if r.Status != 0 {
			return 1
		}
		if r.Quit {
			return 0
		}
	}
	return 0
}
