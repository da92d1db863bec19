package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"gfs/appliance/proto"
)

// Options configure a Handle. The zero value works: auto acceleration,
// the newest host kernel, the default cache.
type Options struct {
	Accel        string // auto (default), kvm or tcg; GFS_ACCEL overrides the default
	Kernel       string // bzImage to boot; GFS_KERNEL
	Agent        string // program used as /init; GFS_AGENT
	CacheDir     string // GFS_CACHEDIR
	MemoryMB     int    // GFS_MEMSIZE; default 1024
	CPUs         int    // GFS_SMP; default 2
	AllowBacking bool   // let qcow2 images use backing files
	Verbose      bool   // console and progress to Log
	Log          io.Writer
	// LaunchTimeout bounds the wait for the agent's hello under TCG;
	// KVMProbeTimeout bounds it for a first KVM attempt, after which
	// gfs falls back to TCG and remembers that KVM hangs here.
	LaunchTimeout   time.Duration
	KVMProbeTimeout time.Duration
	// StallTimeout: a boot that has not said hello by then is taken
	// for stalled, killed and tried once more (within LaunchTimeout).
	// Boots take seconds; a rare one hangs outright.
	StallTimeout time.Duration
	// AgentTimeout is how long a call may see no frame at all (the agent
	// sends a heartbeat every second) before the appliance is declared hung.
	AgentTimeout time.Duration
	// AppendCmdline is added to the kernel command line (debugging).
	AppendCmdline string
}

// Handle is one appliance session: drives are added, then Launch boots
// the VM, calls run, and Close shuts it down.
type Handle struct {
	opts   Options
	drives []Drive

	mu    sync.Mutex
	vm    *vm
	conn  *conn
	hello proto.Hello
	img   *Image
}

// New returns a handle with no drives.
func New(opts Options) *Handle {
	if opts.Accel == "" {
		opts.Accel = os.Getenv("GFS_ACCEL")
	}
	if opts.Accel == "" {
		opts.Accel = AccelAuto
	}
	if opts.MemoryMB == 0 {
		if n, err := fmt.Sscan(os.Getenv("GFS_MEMSIZE"), &opts.MemoryMB); n != 1 || err != nil {
			opts.MemoryMB = 1024
		}
	}
	if opts.CPUs == 0 {
		if n, err := fmt.Sscan(os.Getenv("GFS_SMP"), &opts.CPUs); n != 1 || err != nil {
			// Two vCPUs let the guest kernel's I/O and the agent overlap
			// (upload 40 → 60 MiB/s under TCG) and load drivers in the
			// background without stalling calls.
			opts.CPUs = 2
		}
	}
	if opts.LaunchTimeout == 0 {
		opts.LaunchTimeout = 120 * time.Second
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = 45 * time.Second
	}
	if opts.KVMProbeTimeout == 0 {
		opts.KVMProbeTimeout = 10 * time.Second
	}
	if opts.AgentTimeout == 0 {
		opts.AgentTimeout = 60 * time.Second
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	return &Handle{opts: opts}
}

// ErrNotLaunched is returned by calls made before Launch.
var ErrNotLaunched = errors.New("call launch before using this function (in the shell, 'run')")

// AddDrive attaches an image; only before Launch.
func (h *Handle) AddDrive(d Drive) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		return errors.New("add-drive: drives must be added before launch")
	}
	r, err := resolveDrive(d, h.opts.AllowBacking)
	if err != nil {
		return err
	}
	h.drives = append(h.drives, r)
	return nil
}

// Drives returns the attached drives in order.
func (h *Handle) Drives() []Drive {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Drive(nil), h.drives...)
}

// Launched reports whether the appliance is running.
func (h *Handle) Launched() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conn != nil
}

// Accel returns the accelerator the running appliance uses.
func (h *Handle) Accel() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vm == nil {
		return ""
	}
	return h.vm.accel
}

// Launch builds (or reuses) the appliance and boots it with the drives.
func (h *Handle) Launch(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil {
		return errors.New("the appliance is already launched")
	}
	qemu, err := findQEMU()
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	var buildLog io.Writer
	if h.opts.Verbose {
		buildLog = h.opts.Log
	}
	img, err := Build(BuildConfig{Kernel: h.opts.Kernel, Agent: h.opts.Agent, CacheDir: h.opts.CacheDir, Log: buildLog})
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	h.img = img
	cache, _ := CacheDir(h.opts.CacheDir)
	accels, err := plan(h.opts.Accel, kvmUsable(), loadVerdict(cache, qemu))
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	var lastErr error
	// kvmFailure holds why a KVM probe failed. It becomes the remembered
	// verdict only once TCG boots with the same drives: if TCG fails too,
	// the fault was not KVM's (a bad image, a broken kernel).
	var kvmFailure string
	for _, accel := range accels {
		timeout := h.opts.LaunchTimeout
		probing := accel == AccelKVM && len(accels) > 1
		if probing {
			timeout = h.opts.KVMProbeTimeout
		}
		boot := h.bootOrRetry
		if probing {
			boot = h.boot // a silent KVM probe means KVM hangs: no retry
		}
		v, c, hello, err := boot(ctx, qemu, img, accel, timeout)
		var se *startError
		if errors.As(err, &se) {
			// QEMU could not even start: that says nothing about KVM.
			return fmt.Errorf("launch: %w", err)
		}
		if err == nil {
			switch {
			case probing:
				saveVerdict(cache, qemu, "works", "")
			case kvmFailure != "":
				saveVerdict(cache, qemu, "broken", kvmFailure)
				if h.opts.Verbose {
					fmt.Fprintf(h.opts.Log, "gfs: KVM does not work here (%s); using TCG from now on\n", kvmFailure)
				}
			}
			h.vm, h.conn, h.hello = v, c, hello
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		if probing {
			kvmFailure = firstLine(err.Error())
			if h.opts.Verbose {
				fmt.Fprintf(h.opts.Log, "gfs: KVM attempt failed (%s); trying TCG\n", kvmFailure)
			}
		}
	}
	return fmt.Errorf("launch: %w", lastErr)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// bootOrRetry is boot, except that a boot still silent at the stall
// deadline is killed and tried once more within the same timeout.
func (h *Handle) bootOrRetry(ctx context.Context, qemu string, img *Image, accel string, timeout time.Duration) (*vm, *conn, proto.Hello, error) {
	if timeout <= 2*h.opts.StallTimeout {
		return h.boot(ctx, qemu, img, accel, timeout)
	}
	v, c, hello, err := h.boot(ctx, qemu, img, accel, h.opts.StallTimeout)
	var stalled noHelloError
	if !errors.As(err, &stalled) || ctx.Err() != nil {
		return v, c, hello, err
	}
	if h.opts.Verbose {
		fmt.Fprintf(h.opts.Log, "gfs: %v; booting once more\n", firstLine(err.Error()))
	}
	return h.boot(ctx, qemu, img, accel, timeout-h.opts.StallTimeout)
}

// boot starts one QEMU and waits for the agent's hello.
func (h *Handle) boot(ctx context.Context, qemu string, img *Image, accel string, timeout time.Duration) (*vm, *conn, proto.Hello, error) {
	v, err := startVM(vmConfig{
		qemu: qemu, img: img, drives: h.drives, accel: accel,
		memMB: h.opts.MemoryMB, cpus: h.opts.CPUs, verbose: h.opts.Verbose,
		console: h.opts.Log, appendCL: h.opts.AppendCmdline,
	})
	if err != nil {
		return nil, nil, proto.Hello{}, &startError{err}
	}
	c := newConn(v.conn, h.opts.AgentTimeout)
	c.exitReason = v.exitError
	c.exited = v.exited
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// QEMU exiting early (KVM abort, bad drive) must end the wait at once.
	go func() {
		select {
		case <-v.exited:
			cancel()
		case <-hctx.Done():
		}
	}()
	hello, err := c.hello(hctx)
	if err != nil {
		// The channel usually notices a dying QEMU before Wait does;
		// give Wait a moment so the error quotes QEMU's own message.
		v.wait(context.Background(), time.Second)
		if xerr := v.exitError(); xerr != nil {
			err = xerr
		} else if errors.Is(err, context.DeadlineExceeded) {
			err = noHelloError(fmt.Sprintf("the appliance (%s) did not answer within %s", accel, timeout))
			if t := v.console.tail(8); t != "" && h.opts.Verbose {
				err = fmt.Errorf("%w; console:\n%s", err, t)
			}
		}
		v.kill()
		return nil, nil, proto.Hello{}, err
	}
	c.start()
	// If QEMU dies later, fail the connection right away rather than
	// waiting for the socket to notice.
	go func() {
		<-v.exited
		c.fail(v.exitError())
	}()
	return v, c, hello, nil
}

// noHelloError: QEMU ran but the agent never said hello in time.
type noHelloError string

func (e noHelloError) Error() string { return string(e) }

// startError is a failure to start QEMU at all (missing binary, bad
// drive file), as opposed to a guest that does not boot.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// Call runs one agent call. args are JSON-encodable positional
// arguments; opts are optional arguments by name. in is streamed to the
// agent (upload), out receives the agent's stream (download).
func (h *Handle) Call(ctx context.Context, name string, args []any, opts map[string]any, in io.Reader, out io.Writer) (json.RawMessage, error) {
	h.mu.Lock()
	c := h.conn
	h.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotLaunched)
	}
	res, err := c.call(ctx, name, args, opts, in, out)
	if err != nil {
		var pe *proto.Error
		if errors.As(err, &pe) {
			return nil, &Error{Op: name, Errno: pe.Errno, Msg: pe.Message}
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// Error is a failed agent call: the operation and the agent's message.
type Error struct {
	Op    string
	Errno int
	Msg   string
}

func (e *Error) Error() string { return e.Op + ": " + e.Msg }

// Unwrap exposes the errno so errors.Is(err, fs.ErrNotExist) works.
func (e *Error) Unwrap() error {
	return (&proto.Error{Errno: e.Errno}).Unwrap()
}

// Close syncs and unmounts the guest filesystems, stops the appliance
// and removes every temporary file. It is safe to call more than once.
func (h *Handle) Close() error {
	h.mu.Lock()
	v, c := h.vm, h.conn
	h.vm, h.conn = nil, nil
	h.mu.Unlock()
	if v == nil {
		return nil
	}
	var err error
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = c.call(ctx, "shutdown", nil, nil, nil, nil)
		cancel()
		if err != nil && v.exitError() != nil {
			err = nil // it already exited; nothing left to flush
		}
		if err == nil && !v.wait(context.Background(), 10*time.Second) {
			err = errors.New("close: the appliance did not power off")
		}
		c.close()
	}
	v.kill()
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// Kill stops the appliance without syncing (for error paths and signals).
func (h *Handle) Kill() {
	h.mu.Lock()
	v, c := h.vm, h.conn
	h.vm, h.conn = nil, nil
	h.mu.Unlock()
	if c != nil {
		c.close()
	}
	if v != nil {
		v.kill()
	}
}

// Image returns the appliance image the handle booted.
func (h *Handle) Image() *Image {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.img
}

// PID of the QEMU process, for tests.
func (h *Handle) PID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.vm == nil || h.vm.cmd == nil || h.vm.cmd.Process == nil {
		return 0
	}
	return h.vm.cmd.Process.Pid
}

// Live VMs, so that a signal handler can stop them all (KillAll).
var (
	liveMu sync.Mutex
	live   = map[*vm]bool{}
)

func registerChild(v *vm)   { liveMu.Lock(); live[v] = true; liveMu.Unlock() }
func unregisterChild(v *vm) { liveMu.Lock(); delete(live, v); liveMu.Unlock() }

// KillAll stops every appliance this process started and removes their
// temporary files. cmd/gfs calls it on SIGINT/SIGTERM.
func KillAll() {
	liveMu.Lock()
	vms := make([]*vm, 0, len(live))
	for v := range live {
		vms = append(vms, v)
	}
	liveMu.Unlock()
	for _, v := range vms {
		v.kill()
	}
}
