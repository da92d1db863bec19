package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// toolsMount is where the tools disk is mounted.
const toolsMount = "/tools"

// bootRoot is where the boot modules are: /bootmod when the host put
// the rest on a tools disk, else the initramfs root itself.
func bootRoot() string {
	if _, err := os.Stat("/bootmod"); err == nil {
		return "/bootmod"
	}
	return ""
}

// mountTools mounts the tools disk (a read-only squashfs on /dev/vda)
// and links its top-level directories into /, so programs and their
// libraries sit at the host's paths; it returns the module loader for
// everything else. Without a tools disk the boot loader is that loader.
func mountTools(boot *modules) (*modules, error) {
	if bootRoot() == "" {
		return boot, nil
	}
	if err := boot.load("virtio_pci", "virtio_blk", "squashfs"); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st unix.Stat_t
		if unix.Stat("/dev/vda", &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("tools disk /dev/vda did not appear")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := os.MkdirAll(toolsMount, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount("/dev/vda", toolsMount, "squashfs", unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
		return nil, fmt.Errorf("mount tools disk: %w", err)
	}
	entries, err := os.ReadDir(toolsMount)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		dst := "/" + e.Name()
		if _, err := os.Lstat(dst); err == nil {
			continue // the initramfs has its own (/etc, /dev…)
		}
		if err := os.Symlink(filepath.Join(toolsMount, e.Name()), dst); err != nil {
			return nil, err
		}
	}
	return newModulesAt("")
}
