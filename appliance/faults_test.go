package appliance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gfs/appliance"
	"gfs/appliance/appliancetest"
)

// bootWithFile launches an appliance on a fresh disk holding a file of
// the given size at /f, for the fault tests.
func bootWithFile(t *testing.T, opts appliance.Options, size int64) *appliance.Handle {
	t.Helper()
	disk := appliancetest.Blank(t, "fault.qcow2", "qcow2", "512M")
	h := appliance.New(opts)
	must(t, h.AddDrive(appliance.Drive{Path: disk}))
	must(t, h.Launch(ctx))
	t.Cleanup(h.Kill)
	must(t, h.Mkfs(ctx, "ext4", "/dev/sda", nil))
	must(t, h.Mount(ctx, "/dev/sda", "/"))
	must(t, h.Upload(ctx, io.LimitReader(zeros{}, size), "/f"))
	return h
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// slowWriter accepts data slowly, so a download is still running when
// the test kills QEMU.
type slowWriter struct{}

func (slowWriter) Write(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return len(p), nil
}

func TestQEMUKilledDuringDownload(t *testing.T) {
	h := bootWithFile(t, appliance.Options{}, 100<<20)
	pid := h.PID()
	errc := make(chan error, 1)
	go func() { errc <- h.Download(ctx, "/f", slowWriter{}) }()
	time.Sleep(500 * time.Millisecond)
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("download succeeded although QEMU was killed")
		}
		if !strings.Contains(err.Error(), "appliance exited") && !strings.Contains(err.Error(), "closed") {
			t.Errorf("error does not say the appliance died: %v", err)
		}
		t.Logf("error after %v: %v", time.Since(killed), err)
	case <-time.After(5 * time.Second):
		t.Fatal("no error within 5 s of killing QEMU")
	}
	// Later calls fail at once, too.
	start := time.Now()
	if _, err := h.Ls(ctx, "/"); err == nil || time.Since(start) > time.Second {
		t.Errorf("call after death: %v in %v", err, time.Since(start))
	}
}

func TestAgentStopsAnswering(t *testing.T) {
	h := bootWithFile(t, appliance.Options{AgentTimeout: 3 * time.Second}, 1<<20)
	// Freeze the whole VM: the agent neither answers nor sends heartbeats.
	if err := syscall.Kill(h.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(h.PID(), syscall.SIGCONT)
	start := time.Now()
	_, err := h.Ls(ctx, "/")
	took := time.Since(start)
	if !errors.Is(err, appliance.ErrAgentTimeout) {
		t.Fatalf("ls on a frozen appliance: %v", err)
	}
	if took < 3*time.Second || took > 8*time.Second {
		t.Errorf("timed out after %v, want about 3 s", took)
	}
	h.Kill()
	if n := len(appliancetest.Children("qemu-system")); n != 0 {
		t.Errorf("%d QEMU processes left after Kill", n)
	}
}

// A long call keeps the agent's heartbeat going: it is not mistaken for
// a hang even when it outlasts the agent timeout.
func TestLongCallIsNotAHang(t *testing.T) {
	h := bootWithFile(t, appliance.Options{AgentTimeout: 2 * time.Second}, 1<<20)
	res, err := h.Call(ctx, "debug", []any{"sleep", []string{"5s"}}, nil, nil, nil)
	if err != nil || string(res) != `"slept"` {
		t.Fatalf("long call: %s %v", res, err)
	}
}

func TestUnsafeImagesAreRefused(t *testing.T) {
	dir := t.TempDir()
	// A raw file whose first bytes a guest made look like a qcow2 that
	// names a host file as its backing: never follow it.
	evil := filepath.Join(dir, "evil.img")
	appliancetest.QemuImg(t, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd", evil, "1M")
	h := appliance.New(appliance.Options{})
	err := h.AddDrive(appliance.Drive{Path: evil})
	if !errors.Is(err, appliance.ErrBackingFile) || !strings.Contains(err.Error(), "/etc/passwd") {
		t.Errorf("image with a backing file: %v", err)
	}
	// Given explicitly as raw, it is opened as raw: no probing.
	if err := h.AddDrive(appliance.Drive{Path: evil, Format: "raw", ReadOnly: true}); err != nil {
		t.Errorf("explicit raw: %v", err)
	}
	// Missing files and directories get one clear line.
	for _, p := range []string{filepath.Join(dir, "missing.img"), dir} {
		err := h.AddDrive(appliance.Drive{Path: p})
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), p) {
			t.Errorf("add %s: %v", p, err)
		}
	}
	// A read-only file can only be added read-only.
	ro := filepath.Join(dir, "ro.img")
	os.WriteFile(ro, make([]byte, 1<<20), 0o444)
	if os.Geteuid() != 0 {
		if err := h.AddDrive(appliance.Drive{Path: ro}); err == nil {
			t.Errorf("read-only file added for writing")
		}
	}
}

func TestBackingFilesWhenAllowed(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	top := filepath.Join(dir, "top.qcow2")
	appliancetest.QemuImg(t, "create", "-q", "-f", "qcow2", base, "64M")
	appliancetest.QemuImg(t, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, top)
	if err := appliance.New(appliance.Options{}).AddDrive(appliance.Drive{Path: top}); !errors.Is(err, appliance.ErrBackingFile) {
		t.Fatalf("overlay added without permission: %v", err)
	}
	h := appliance.New(appliance.Options{AllowBacking: true})
	must(t, h.AddDrive(appliance.Drive{Path: top}))
	must(t, h.Launch(ctx))
	defer h.Close()
	size, err := h.BlockdevGetsize64(ctx, "/dev/sda")
	must(t, err)
	if size != 64<<20 {
		t.Errorf("overlay size = %d", size)
	}
}

// TestKVMFallback lets "auto" decide on this machine, with a cache of its
// own so the probe really runs. Where KVM is broken (nested KVM here) it
// must end on TCG and remember; where it works, on KVM.
func TestKVMFallback(t *testing.T) {
	cache := t.TempDir()
	h := appliance.New(appliance.Options{Accel: appliance.AccelAuto, CacheDir: cache})
	must(t, h.Launch(ctx))
	accel := h.Accel()
	must(t, h.Close())
	b, err := os.ReadFile(filepath.Join(cache, "kvm-verdict.json"))
	if _, kvmErr := os.Stat("/dev/kvm"); kvmErr != nil {
		if accel != appliance.AccelTCG {
			t.Errorf("no /dev/kvm but accel %s", accel)
		}
		return
	}
	must(t, err)
	verdict := string(b)
	switch accel {
	case appliance.AccelTCG:
		if !strings.Contains(verdict, `"broken"`) {
			t.Errorf("fell back to TCG but verdict is %s", verdict)
		}
		t.Logf("KVM broken here, verdict: %s", verdict)
	case appliance.AccelKVM:
		if !strings.Contains(verdict, `"works"`) {
			t.Errorf("KVM used but verdict is %s", verdict)
		}
	}
	// The second launch reads the verdict and does not probe again.
	start := time.Now()
	h2 := appliance.New(appliance.Options{Accel: appliance.AccelAuto, CacheDir: cache})
	must(t, h2.Launch(ctx))
	if h2.Accel() != accel {
		t.Errorf("second launch used %s, first %s", h2.Accel(), accel)
	}
	must(t, h2.Close())
	t.Logf("second launch %v", time.Since(start))
}

// TestKVMHangFallsBack simulates a KVM guest that hangs at boot (what
// nested KVM does on some hosts): QEMU is wrapped so that with
// accel=kvm it never boots. auto must give up at the probe deadline and
// use TCG.
func TestKVMHangFallsBack(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("needs /dev/kvm to be present: without it auto never probes KVM")
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "qemu")
	script := "#!/bin/sh\ncase \"$*\" in *accel=kvm*) exec sleep 600;; esac\nexec qemu-system-x86_64 \"$@\"\n"
	must(t, os.WriteFile(wrapper, []byte(script), 0o755))
	t.Setenv("GFS_QEMU", wrapper)
	h := appliance.New(appliance.Options{Accel: appliance.AccelAuto, CacheDir: dir, KVMProbeTimeout: 2 * time.Second})
	start := time.Now()
	must(t, h.Launch(ctx))
	defer h.Close()
	if h.Accel() != appliance.AccelTCG {
		t.Errorf("accel = %s, want tcg after a hanging KVM probe", h.Accel())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "kvm-verdict.json"))
	if !strings.Contains(string(b), "did not answer") {
		t.Errorf("verdict does not record the hang: %s", b)
	}
	t.Logf("launch with a hanging KVM probe took %v", time.Since(start))
	if n := len(appliancetest.Children("sleep")); n != 0 {
		t.Errorf("the hung KVM QEMU was left running")
	}
}

// TestStalledBootRetried: a boot that hangs (QEMU runs, the agent never
// says hello) is killed at the stall deadline and tried once more.
func TestStalledBootRetried(t *testing.T) {
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "qemu")
	marker := filepath.Join(dir, "first-boot-done")
	script := fmt.Sprintf("#!/bin/sh\nif [ ! -e %[1]s ]; then touch %[1]s; exec sleep 600; fi\nexec qemu-system-x86_64 \"$@\"\n", marker)
	must(t, os.WriteFile(wrapper, []byte(script), 0o755))
	t.Setenv("GFS_QEMU", wrapper)
	log := &lockedLog{}
	h := appliance.New(appliance.Options{Accel: appliance.AccelTCG, StallTimeout: 3 * time.Second,
		LaunchTimeout: 120 * time.Second, Verbose: true, Log: log})
	must(t, h.Launch(ctx))
	defer h.Close()
	if _, err := h.ListDevices(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "booting once more") {
		t.Errorf("no retry reported under -v")
	}
	if n := len(appliancetest.Children("sleep")); n != 0 {
		t.Errorf("the stalled QEMU was left running")
	}
}

// lockedLog collects -v output, which the console copier and Launch
// write concurrently.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Drives keep the order they were added in, whatever order the kernel
// finishes probing them: sizes tell them apart.
func TestDriveOrder(t *testing.T) {
	h := appliance.New(appliance.Options{})
	const n = 6
	for i := 0; i < n; i++ {
		p := appliancetest.Blank(t, fmt.Sprintf("d%d.img", i), "raw", fmt.Sprintf("%dM", 8*(i+1)))
		must(t, h.AddDrive(appliance.Drive{Path: p, ReadOnly: i%2 == 1}))
	}
	must(t, h.Launch(ctx))
	defer h.Close()
	devs, err := h.ListDevices(ctx)
	must(t, err)
	if len(devs) != n {
		t.Fatalf("devices = %v", devs)
	}
	for i, d := range devs {
		size, err := h.BlockdevGetsize64(ctx, d)
		must(t, err)
		if size != int64(8*(i+1))<<20 {
			t.Errorf("%s has %d MiB, want %d: drives out of order", d, size>>20, 8*(i+1))
		}
	}
}

func TestLaunchErrors(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("GFS_QEMU", "/nonexistent/qemu")
	h := appliance.New(appliance.Options{CacheDir: cache})
	err := h.Launch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/qemu") || strings.Contains(err.Error(), "\n") {
		t.Errorf("launch with a missing QEMU: %v", err)
	}
	// A QEMU that cannot start says nothing about KVM: no verdict.
	if _, err := os.Stat(filepath.Join(cache, "kvm-verdict.json")); err == nil {
		t.Errorf("a missing QEMU was recorded as a KVM verdict")
	}
	t.Setenv("GFS_QEMU", "")
	h = appliance.New(appliance.Options{Kernel: "/nonexistent/vmlinuz", CacheDir: cache})
	err = h.Launch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "kernel") || strings.Contains(err.Error(), "\n") {
		t.Errorf("launch with a missing kernel: %v", err)
	}
	if _, err := h.Ls(context.Background(), "/"); !errors.Is(err, appliance.ErrNotLaunched) {
		t.Errorf("call before launch: %v", err)
	}
}

// The appliance comes in two layouts: a small initramfs plus a squashfs
// tools disk when mksquashfs exists (the default here), or everything in
// the initramfs without it. Both must boot and run tools.
func TestApplianceLayouts(t *testing.T) {
	for _, toolsDisk := range []bool{true, false} {
		t.Run(fmt.Sprintf("toolsDisk=%v", toolsDisk), func(t *testing.T) {
			if !toolsDisk {
				t.Setenv("GFS_TOOLS_DISK", "0")
			}
			cache := t.TempDir()
			img, err := appliance.Build(appliance.BuildConfig{CacheDir: cache})
			must(t, err)
			if got := img.Manifest.ToolsDisk != ""; got != toolsDisk {
				t.Fatalf("tools disk in manifest = %v, want %v", got, toolsDisk)
			}
			if toolsDisk && img.Manifest.InitrdBytes > 32<<20 {
				t.Errorf("initrd of %d MiB with a tools disk", img.Manifest.InitrdBytes>>20)
			}
			disk := appliancetest.Blank(t, "layout.img", "raw", "64M")
			h := appliance.New(appliance.Options{CacheDir: cache, Accel: appliance.AccelTCG})
			must(t, h.AddDrive(appliance.Drive{Path: disk}))
			must(t, h.Launch(ctx))
			defer h.Close()
			must(t, h.Mkfs(ctx, "ext4", "/dev/sda", map[string]any{"label": "LAYOUT"}))
			fss, err := h.ListFilesystems(ctx)
			must(t, err)
			if len(fss) != 1 || fss[0] != [2]string{"/dev/sda", "ext4"} {
				t.Errorf("list-filesystems = %v", fss)
			}
		})
	}
}

// A drive QEMU cannot open makes every attempt fail: that is the
// drive's fault, and must not be remembered as "KVM is broken".
func TestBadDriveIsNotAKVMVerdict(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skip("needs /dev/kvm to be present: without it auto never probes KVM")
	}
	cache := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.qcow2")
	// A qcow2 header with an absurd cluster size: format detection
	// accepts the magic, QEMU refuses the image.
	hdr := make([]byte, 512)
	copy(hdr, "QFI\xfb\x00\x00\x00\x03")
	hdr[23] = 40 // cluster_bits
	must(t, os.WriteFile(bad, hdr, 0o644))
	h := appliance.New(appliance.Options{Accel: appliance.AccelAuto, CacheDir: cache})
	must(t, h.AddDrive(appliance.Drive{Path: bad}))
	err := h.Launch(ctx)
	if err == nil {
		h.Close()
		t.Fatal("launch with an unreadable image succeeded")
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "cannot open "+bad+": ") {
		t.Errorf("error does not name the image in one line: %q", err)
	}
	if b, err := os.ReadFile(filepath.Join(cache, "kvm-verdict.json")); err == nil && strings.Contains(string(b), "broken") {
		t.Errorf("a bad image was remembered as broken KVM: %s", b)
	}
}
