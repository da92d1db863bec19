package appliance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Acceleration choices.
const (
	AccelAuto = "auto"
	AccelKVM  = "kvm"
	AccelTCG  = "tcg"
)

// verdict is what gfs learned about KVM on this host. It is keyed by
// the boot id and the QEMU binary, since a reboot or a QEMU upgrade can
// change the answer.
type verdict struct {
	BootID string    `json:"boot_id"`
	QEMU   string    `json:"qemu"`
	KVM    string    `json:"kvm"` // "works" or "broken"
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// plan returns the accelerators to try, in order. It is the whole
// decision: "auto" tries KVM first only when /dev/kvm is usable and no
// verdict for this host says it is broken.
func plan(mode string, kvmUsable bool, v *verdict) ([]string, error) {
	switch mode {
	case AccelTCG:
		return []string{AccelTCG}, nil
	case AccelKVM:
		if !kvmUsable {
			return nil, fmt.Errorf("acceleration kvm requested but /dev/kvm is not usable")
		}
		return []string{AccelKVM}, nil
	case AccelAuto, "":
		if !kvmUsable || (v != nil && v.KVM == "broken") {
			return []string{AccelTCG}, nil
		}
		if v != nil && v.KVM == "works" {
			// Still fall back: a verdict can go stale within a boot
			// (module unloaded, another hypervisor took VT-x).
			return []string{AccelKVM, AccelTCG}, nil
		}
		return []string{AccelKVM, AccelTCG}, nil
	}
	return nil, fmt.Errorf("unknown acceleration %q (use auto, kvm or tcg)", mode)
}

func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

func qemuStamp(qemu string) string {
	fi, err := os.Stat(qemu)
	if err != nil {
		return qemu
	}
	return fmt.Sprintf("%s %d %d", qemu, fi.Size(), fi.ModTime().Unix())
}

func verdictPath(cache string) string { return filepath.Join(cache, "kvm-verdict.json") }

// loadVerdict returns the remembered verdict if it still applies.
func loadVerdict(cache, qemu string) *verdict {
	b, err := os.ReadFile(verdictPath(cache))
	if err != nil {
		return nil
	}
	var v verdict
	if json.Unmarshal(b, &v) != nil || v.BootID != bootID() || v.QEMU != qemuStamp(qemu) {
		return nil
	}
	return &v
}

func saveVerdict(cache, qemu, kvm, reason string) {
	v := verdict{BootID: bootID(), QEMU: qemuStamp(qemu), KVM: kvm, Reason: reason, At: time.Now().UTC()}
	b, _ := json.MarshalIndent(v, "", "  ")
	os.MkdirAll(cache, 0o755)
	tmp := verdictPath(cache) + fmt.Sprintf(".%d", os.Getpid())
	if os.WriteFile(tmp, b, 0o644) == nil {
		os.Rename(tmp, verdictPath(cache))
	}
}

// VerdictSummary describes the remembered KVM verdict for `appliance info`.
func VerdictSummary(cacheDir, qemu string) string {
	if !kvmUsable() {
		return "tcg (/dev/kvm is not usable)"
	}
	v := loadVerdict(cacheDir, qemu)
	if v == nil {
		return "auto (KVM not probed yet on this boot)"
	}
	if v.KVM == "broken" {
		return fmt.Sprintf("tcg (KVM broken here: %s; learned %s)", v.Reason, v.At.Format(time.RFC3339))
	}
	return fmt.Sprintf("kvm (works; learned %s)", v.At.Format(time.RFC3339))
}
