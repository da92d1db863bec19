package appliance

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// The tools disk. Unpacking a 60 MiB initramfs costs the emulated kernel
// most of a second at every boot, and almost none of it is needed to say
// hello. So the initramfs holds only the agent, its configuration and
// the few modules that bring up the channel, the disks and a virtio-blk
// disk; everything else (tools, libraries, all other modules) goes into a
// read-only, uncompressed squashfs attached as that disk, which the
// agent mounts at /tools in the background and links into / (usr, lib,
// bin…), so tools find their libraries at the host's paths as before.
// Without mksquashfs on the host (or with GFS_TOOLS_DISK=0) everything
// stays in the initramfs.

const (
	toolsDiskName = "tools.sqfs"
	// bootModRoot holds the boot modules in the initramfs, in the layout
	// kmodule expects under a RootDir.
	bootModRoot = "/bootmod"
)

// bootDiskModules bring up the tools disk.
var bootDiskModules = []string{"virtio_blk", "squashfs"}

func useToolsDisk() bool {
	if os.Getenv("GFS_TOOLS_DISK") == "0" {
		return false
	}
	_, err := exec.LookPath("mksquashfs")
	return err == nil
}

// inInitramfs says which tree entries stay in the initramfs.
func inInitramfs(p string) bool {
	for _, top := range []string{"/init", "/etc", "/dev", "/proc", "/sys", "/run", "/tmp", "/sysroot", "/root", "/var", bootModRoot} {
		if p == top || strings.HasPrefix(p, top+"/") {
			return true
		}
	}
	return false
}

// splitToolsDisk moves everything but the boot essentials into
// dir/tools.sqfs and returns the initramfs tree that is left, with the
// boot modules under bootModRoot.
func (t *tree) splitToolsDisk(dir string, k Kernel, deps *modDep, logf func(string, ...any)) (*tree, error) {
	boot, tools := newTree(), newTree()
	for p, e := range t.entries {
		if inInitramfs(p) {
			boot.entries[p] = e
		} else {
			tools.entries[p] = e
		}
	}
	mods, _ := deps.closure(append(append([]string{}, bootModules...), bootDiskModules...))
	if err := boot.addModules(k, mods, deps, bootModRoot); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, "stage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	if err := tools.stage(stage); err != nil {
		return nil, fmt.Errorf("stage tools: %w", err)
	}
	// Uncompressed: decompressing under emulation would cost more than
	// reading the extra bytes through virtio.
	out, err := exec.Command("mksquashfs", stage, filepath.Join(dir, toolsDiskName),
		"-noappend", "-no-xattrs", "-all-root", "-noI", "-noD", "-noF", "-noX", "-no-progress", "-quiet").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mksquashfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	logf("tools disk: %d files", len(tools.entries))
	return boot, nil
}

// stage writes the tree into a host directory.
func (t *tree) stage(root string) error {
	names := make([]string, 0, len(t.entries))
	for n := range t.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e := t.entries[n]
		dst := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		switch {
		case e.symlink != "":
			if err := os.Symlink(e.symlink, dst); err != nil {
				return err
			}
		case e.mode&0o170000 == 0o040000:
			if err := os.MkdirAll(dst, os.FileMode(e.mode&0o777)); err != nil {
				return err
			}
		case e.host != "":
			if err := copyFile(e.host, dst, os.FileMode(e.mode&0o7777)); err != nil {
				return err
			}
		default:
			if err := os.WriteFile(dst, e.data, os.FileMode(e.mode&0o777)); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// Chmod after writing: set-id bits (ntfs-3g) survive only this way.
	return os.Chmod(dst, mode)
}
