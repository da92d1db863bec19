// Package agent is the program that runs as /init inside the appliance.
//
// It sets up a minimal Linux userland (proc, sys, dev), loads the kernel
// modules it needs, finds the virtio-serial port and serves the host's
// calls on it until told to shut down. There is no udev, no shell and no
// init system: the agent is all there is.
package agent

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PortName is the virtio-serial port the host connects to.
const PortName = "org.gfs.channel.0"

var (
	verbose bool
	bootAt  = time.Now()
	// disksReady closes once the SCSI drivers are loaded and the disks
	// scanned; disksErr says if that failed.
	disksReady = make(chan struct{})
	disksErr   error
	// toolsReady closes once the tools (and the module loader, kmods)
	// are usable; toolsErr says if that failed.
	toolsReady = make(chan struct{})
	toolsErr   error
)

// logf writes to the console (ttyS0), which the host shows under -v and
// quotes when a launch fails.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gfs-agent: [%.3f] %s\n", time.Since(bootAt).Seconds(), fmt.Sprintf(format, args...))
}

func debugf(format string, args ...any) {
	if verbose {
		logf(format, args...)
	}
}

// Main is the appliance's init. It never returns: on a fatal error it
// reports on the console and powers the VM off, so the host sees QEMU exit
// instead of waiting for a hello that will never come.
func Main() {
	if err := setupUserland(); err != nil {
		fatal("setup: %v", err)
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	verbose = strings.Contains(string(cmdline), "gfs.verbose=1")
	debugf("userland ready")

	// Boot modules come from the initramfs; with a tools disk, all the
	// others (and every tool) arrive when it is mounted (tools.go).
	boot, err := newModulesAt(bootRoot())
	if err != nil {
		fatal("modules: %v", err)
	}
	// The channel needs virtio_pci + virtio_console; disks need the SCSI
	// stack. Say hello as soon as the channel exists and let the disks
	// and the tools arrive meanwhile: calls wait for them (ready).
	go func() {
		disksErr = loadDisks(boot)
		close(disksReady)
		debugf("disk modules loaded")
	}()
	go func() {
		kmods, toolsErr = mountTools(boot)
		close(toolsReady)
		debugf("tools ready")
		if kmods != nil {
			kmods.prefetch("ext4", "crc32c_generic", "dm_mod")
		}
	}()
	if err := boot.load("virtio_pci", "virtio_console"); err != nil {
		fatal("load boot modules: %v", err)
	}
	debugf("channel modules loaded")

	port, err := openPort(PortName, 10*time.Second)
	if err != nil {
		fatal("%v", err)
	}
	debugf("channel %s open", port.Name())
	s := newServer(port)
	err = s.serve()
	if err != nil {
		logf("channel: %v", err)
	}
	shutdown()
}

func fatal(format string, args ...any) {
	logf("fatal: "+format, args...)
	shutdown()
}

// shutdown syncs, unmounts guest filesystems and resets the VM; QEMU runs
// with -no-reboot, so a reset ends it.
func shutdown() {
	umountAll()
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	// Reboot only fails without CAP_SYS_BOOT, i.e. not as the real init.
	os.Exit(1)
}

func setupUserland() error {
	mounts := []struct {
		src, dst, fstype string
		flags            uintptr
		data             string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
		{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	for _, d := range []string{"/sysroot", "/run/lock", "/run/lvm", "/run/blkid", "/dev/pts", "/dev/shm"} {
		os.MkdirAll(d, 0o755)
	}
	os.Symlink("/proc/self/fd", "/dev/fd")
	os.Symlink("/proc/self/mounts", "/etc/mtab")
	os.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	os.Setenv("LC_ALL", "C")
	os.Setenv("HOME", "/root")
	// LVM must not wait for udev, which does not exist here.
	os.Setenv("DM_DISABLE_UDEV", "1")
	os.Setenv("LVM_SUPPRESS_FD_WARNINGS", "1")
	return nil
}

// openPort finds the virtio-serial port by name. Without udev there are
// no /dev/virtio-ports symlinks, so scan sysfs for the name the host gave.
func openPort(name string, timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	for {
		entries, _ := os.ReadDir("/sys/class/virtio-ports")
		for _, e := range entries {
			b, err := os.ReadFile("/sys/class/virtio-ports/" + e.Name() + "/name")
			if err == nil && strings.TrimSpace(string(b)) == name {
				return os.OpenFile("/dev/"+e.Name(), os.O_RDWR, 0)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("virtio-serial port %s not found", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
