package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// vm is one running QEMU with its channel and console.
type vm struct {
	cmd     *exec.Cmd
	conn    net.Conn
	console *ring
	tmp     string // private directory for overlays; removed on close
	exited  chan struct{}
	waitErr error
	accel   string
}

// ring keeps the last part of the console for error messages.
type ring struct {
	mu  sync.Mutex
	buf []byte
	max int
	tee io.Writer
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tee != nil {
		r.tee.Write(p)
	}
	r.buf = append(r.buf, p...)
	if len(r.buf) > r.max {
		r.buf = append([]byte(nil), r.buf[len(r.buf)-r.max:]...)
	}
	return len(p), nil
}

// telling picks the console line that best explains a failure.
func (r *ring) telling() string {
	lines := strings.Split(r.tail(200), "\n")
	for _, key := range []string{"qemu-system", "Kernel panic", "fatal:", "error"} {
		for _, l := range lines {
			if strings.Contains(l, key) {
				return shortenQEMUError(strings.TrimSpace(l))
			}
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			return s
		}
	}
	return ""
}

// shortenQEMUError turns QEMU's "-blockdev {…json…}: message" into
// "cannot open FILE: message": the user named the file, not the JSON.
func shortenQEMUError(line string) string {
	_, rest, ok := strings.Cut(line, ": -blockdev ")
	if !ok {
		return line
	}
	// The JSON ends where "}: " starts the message.
	i := strings.LastIndex(rest, "}: ")
	if i < 0 {
		return line
	}
	var node struct {
		File struct {
			Filename string `json:"filename"`
		} `json:"file"`
		Backing struct {
			File struct {
				Filename string `json:"filename"`
			} `json:"file"`
		} `json:"backing"`
	}
	if json.Unmarshal([]byte(rest[:i+1]), &node) != nil {
		return line
	}
	name := node.File.Filename
	if node.Backing.File.Filename != "" {
		name = node.Backing.File.Filename
	}
	return "QEMU cannot open " + name + ": " + rest[i+3:]
}

// tail returns the last n lines of the console.
func (r *ring) tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(r.buf), "\r\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], "\r")
	}
	return strings.Join(lines, "\n")
}

type vmConfig struct {
	qemu     string
	img      *Image
	drives   []Drive
	accel    string
	memMB    int
	cpus     int
	verbose  bool
	console  io.Writer
	appendCL string
}

func findQEMU() (string, error) {
	if q := os.Getenv("GFS_QEMU"); q != "" {
		p, err := exec.LookPath(q)
		if err != nil {
			return "", fmt.Errorf("GFS_QEMU=%s: %w", q, unwrapPathErr(err))
		}
		return p, nil
	}
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", errors.New("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
	}
	return p, nil
}

// kernelCmdline trims boot work that is slow under emulation and tells
// the agent which disks are read-only.
func kernelCmdline(cfg vmConfig) string {
	args := []string{
		"console=ttyS0", "panic=1", "reboot=t", "no_timer_check", "noreplace-smp",
		"i8042.noaux", "i8042.nokbd", "i8042.nopnp", "i8042.dumbkbd", "8250.nr_uarts=1",
		"random.trust_cpu=on", "mitigations=off", "scsi_mod.scan=sync", "cryptomgr.notests",
		"edd=off", "tsc=reliable", "nokaslr", "audit=0", "selinux=0",
	}
	if cfg.verbose {
		args = append(args, "gfs.verbose=1", "loglevel=7")
	} else {
		args = append(args, "quiet", "loglevel=3")
	}
	var ro []string
	for i, d := range cfg.drives {
		if d.ReadOnly {
			ro = append(ro, diskName(i))
		}
	}
	if len(ro) > 0 {
		args = append(args, "gfs.ro="+strings.Join(ro, ","))
	}
	if extra := os.Getenv("GFS_APPEND"); extra != "" {
		args = append(args, extra)
	}
	if cfg.appendCL != "" {
		args = append(args, cfg.appendCL)
	}
	return strings.Join(args, " ")
}

// diskName is the Linux name of the i-th SCSI disk: sda…sdz, sdaa…
func diskName(i int) string {
	name := ""
	for n := i; ; n = n/26 - 1 {
		name = string(rune('a'+n%26)) + name
		if n < 26 {
			break
		}
	}
	return "sd" + name
}

// blockdevJSON describes one drive to QEMU without any format probing:
// the format is always explicit, and a read-only drive is the backing
// of a throwaway qcow2 overlay so the guest can replay journals while the
// image itself is opened read-only by QEMU.
func blockdevJSON(d Drive, i int, overlay string) (string, error) {
	base := map[string]any{
		"driver": d.Format,
		"file": map[string]any{
			"driver": "file", "filename": d.Path, "read-only": d.ReadOnly,
			"aio": "threads", "locking": "off",
		},
		"read-only": d.ReadOnly,
		"discard":   "unmap",
	}
	node := base
	if d.ReadOnly {
		node = map[string]any{
			"driver":  "qcow2",
			"file":    map[string]any{"driver": "file", "filename": overlay},
			"backing": base,
			"discard": "unmap",
		}
	}
	node["node-name"] = fmt.Sprintf("drive%d", i)
	b, err := json.Marshal(node)
	return string(b), err
}

func (cfg vmConfig) args(tmp string) ([]string, error) {
	m := cfg.img.Manifest
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-machine", "q35,accel=" + cfg.accel,
		"-m", strconv.Itoa(cfg.memMB),
		"-smp", strconv.Itoa(cfg.cpus),
		"-kernel", m.BootKernel,
		"-initrd", m.Initrd,
		"-append", kernelCmdline(cfg),
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", "socket,id=channel,fd=3",
		"-device", "virtserialport,bus=vser.0,chardev=channel,name=org.gfs.channel.0",
		"-device", "virtio-scsi-pci,id=scsi",
	}
	if m.ToolsDisk != "" {
		// The agent finds it as /dev/vda: not a SCSI disk, so it never
		// shows among the user's drives.
		js, _ := json.Marshal(map[string]any{
			"driver": "raw", "node-name": "tools", "read-only": true,
			"file": map[string]any{"driver": "file", "filename": m.ToolsDisk, "read-only": true, "locking": "off"},
		})
		args = append(args, "-blockdev", string(js), "-device", "virtio-blk-pci,drive=tools")
	}
	if cfg.accel == AccelKVM {
		args = append(args, "-cpu", "host")
	} else {
		args = append(args, "-cpu", "max")
	}
	for i, d := range cfg.drives {
		overlay := ""
		if d.ReadOnly {
			overlay = filepath.Join(tmp, fmt.Sprintf("overlay%d.qcow2", i))
			if err := createOverlay(overlay, d); err != nil {
				return nil, err
			}
		}
		js, err := blockdevJSON(d, i, overlay)
		if err != nil {
			return nil, err
		}
		args = append(args, "-blockdev", js,
			"-device", fmt.Sprintf("scsi-hd,bus=scsi.0,channel=0,scsi-id=%d,lun=0,drive=drive%d,serial=gfs%d", i, i, i))
	}
	return args, nil
}

// createOverlay makes an empty qcow2 the size of the drive; QEMU is told
// its backing explicitly, so the overlay names no file itself.
func createOverlay(path string, d Drive) error {
	size, err := virtualSize(d)
	if err != nil {
		return err
	}
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", path, strconv.FormatInt(size, 10)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("create overlay for %s: %v: %s", d.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// virtualSize asks qemu-img for a drive's size, with the format fixed.
func virtualSize(d Drive) (int64, error) {
	if d.Format == "raw" {
		fi, err := os.Stat(d.Path)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	out, err := exec.Command("qemu-img", "info", "--output=json", "-f", d.Format, d.Path).Output()
	if err != nil {
		return 0, fmt.Errorf("qemu-img info %s: %w", d.Name, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, err
	}
	return info.VirtualSize, nil
}

// sweepVMDirs removes the per-launch directories (gfs-PID-*) of gfs
// processes that no longer exist: a process killed with SIGKILL cannot
// clean up after itself, so the next launch does.
func sweepVMDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gfs-*-*"))
	for _, d := range dirs {
		parts := strings.SplitN(filepath.Base(d), "-", 3)
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if syscall.Lstat(d, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// startVM launches QEMU. It does not wait for the agent.
func startVM(cfg vmConfig) (*vm, error) {
	sweepVMDirs()
	tmp, err := os.MkdirTemp(os.Getenv("TMPDIR"), fmt.Sprintf("gfs-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	v := &vm{tmp: tmp, exited: make(chan struct{}), accel: cfg.accel, console: &ring{max: 64 << 10}}
	if cfg.verbose {
		v.console.tee = cfg.console
	}
	args, err := cfg.args(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	ours := os.NewFile(uintptr(fds[0]), "channel")
	theirs := os.NewFile(uintptr(fds[1]), "channel-qemu")
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		theirs.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	v.conn = conn

	cmd := exec.Command(cfg.qemu, args...)
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout = v.console
	cmd.Stderr = v.console
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a Ctrl-C at the terminal reaches gfs, which
		// shuts the appliance down in order, not QEMU directly.
		Setpgid: true,
		// If gfs dies without cleaning up, the kernel kills QEMU.
		Pdeathsig: syscall.SIGKILL,
	}
	if cfg.verbose && cfg.console != nil {
		fmt.Fprintf(cfg.console, "gfs: %s %s\n", cfg.qemu, shellQuote(args))
	}
	if err := cmd.Start(); err != nil {
		theirs.Close()
		conn.Close()
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start %s: %w", cfg.qemu, err)
	}
	theirs.Close()
	v.cmd = cmd
	registerChild(v)
	go func() {
		v.waitErr = cmd.Wait()
		close(v.exited)
	}()
	return v, nil
}

// exitError explains in one line why QEMU is gone: its exit status and
// the most telling console line (QEMU's own error, a kernel panic).
// The whole console is shown live under -v.
func (v *vm) exitError() error {
	select {
	case <-v.exited:
	default:
		return nil
	}
	why := "appliance exited"
	if v.waitErr != nil {
		why = fmt.Sprintf("appliance exited (%v)", v.waitErr)
	}
	if line := v.console.telling(); line != "" {
		why += ": " + line
	}
	return errors.New(why)
}

// kill stops QEMU at once and removes the private directory.
func (v *vm) kill() {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Signal(syscall.SIGKILL)
		<-v.exited
	}
	if v.conn != nil {
		v.conn.Close()
	}
	os.RemoveAll(v.tmp)
	unregisterChild(v)
}

// wait waits for QEMU to exit by itself, up to d; false if it did not.
func (v *vm) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-v.exited:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " '\"{}$,") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}
