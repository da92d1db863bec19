package appliance

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// formatVersion changes whenever the image layout changes, so that old
// cached appliances are never booted by a newer gfs.
const formatVersion = 2

// ExecutableIsAgent is set by the gfs command: its own binary doubles as
// the appliance's /init. Library users set Config.Agent or GFS_AGENT.
var ExecutableIsAgent bool

// Image is a built appliance in the cache.
type Image struct {
	Dir      string
	Manifest Manifest
}

// Manifest describes a built appliance; `gfs appliance info` prints it.
type Manifest struct {
	Key           string            `json:"key"`
	KernelVersion string            `json:"kernel_version"`
	KernelImage   string            `json:"kernel_image"` // the host bzImage
	BootKernel    string            `json:"boot_kernel"`  // what QEMU boots
	PVH           bool              `json:"pvh"`
	Initrd        string            `json:"initrd"`
	ToolsDisk     string            `json:"tools_disk,omitempty"` // squashfs of tools and modules, or ""
	InitrdBytes   int64             `json:"initrd_bytes"`
	Modules       []string          `json:"modules"`
	AbsentModules []string          `json:"absent_modules"`
	Tools         map[string]string `json:"tools"`
	MissingTools  []string          `json:"missing_tools"`
	Agent         string            `json:"agent"`
	Built         time.Time         `json:"built"`
	BuildSeconds  float64           `json:"build_seconds"`
}

// CacheDir is where appliances and the KVM verdict live:
// $GFS_CACHEDIR, else $XDG_CACHE_HOME/gfs, else ~/.cache/gfs.
func CacheDir(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if d := os.Getenv("GFS_CACHEDIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "gfs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set GFS_CACHEDIR: %w", err)
	}
	return filepath.Join(home, ".cache", "gfs"), nil
}

// AgentPath finds the program that becomes /init.
func AgentPath(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv("GFS_AGENT")
	}
	if explicit == "" && ExecutableIsAgent {
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		explicit = exe
	}
	if explicit == "" {
		return "", errors.New("no appliance agent: set GFS_AGENT to the gfs binary")
	}
	if _, err := os.Stat(explicit); err != nil {
		return "", fmt.Errorf("appliance agent: %w", err)
	}
	return explicit, nil
}

// BuildConfig says which kernel, agent and cache to use; empty fields
// take the defaults above.
type BuildConfig struct {
	Kernel   string
	Agent    string
	CacheDir string
	Log      io.Writer // progress, for -v
}

// Build returns the cached appliance for the current inputs, building it
// first if the inputs changed. Concurrent callers in other processes
// wait on a lock instead of building twice.
func Build(cfg BuildConfig) (*Image, error) {
	k, err := FindKernel(cfg.Kernel)
	if err != nil {
		return nil, err
	}
	agent, err := AgentPath(cfg.Agent)
	if err != nil {
		return nil, err
	}
	cache, err := CacheDir(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	key := inputKey(k, agent)
	dir := filepath.Join(cache, "appliance-"+key[:16])
	if img, err := loadImage(dir); err == nil {
		return img, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", cache, err)
	}
	unlock, err := lockFile(filepath.Join(cache, "build.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have finished the build while we waited.
	if img, err := loadImage(dir); err == nil {
		return img, nil
	}
	start := time.Now()
	tmp, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m, err := buildInto(tmp, k, agent, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("build appliance: %w", err)
	}
	m.Key = key
	m.Built = time.Now().UTC()
	m.BuildSeconds = time.Since(start).Seconds()
	// Paths in the manifest point at the final directory.
	if m.PVH {
		m.BootKernel = filepath.Join(dir, "vmlinux")
	}
	if m.ToolsDisk != "" {
		m.ToolsDisk = filepath.Join(dir, m.ToolsDisk)
	}
	m.Initrd = filepath.Join(dir, "initrd")
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), b, 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(dir) // a half-written leftover without a manifest
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	removeStale(cache, dir)
	return loadImage(dir)
}

func loadImage(dir string) (*Image, error) {
	manifest := filepath.Join(dir, "manifest.json")
	b, err := os.ReadFile(manifest)
	if err != nil {
		return nil, err
	}
	img := &Image{Dir: dir}
	if err := json.Unmarshal(b, &img.Manifest); err != nil {
		return nil, err
	}
	for _, p := range []string{img.Manifest.BootKernel, img.Manifest.Initrd, img.Manifest.ToolsDisk} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
	}
	// Mark it used, so removeStale in other processes leaves it alone.
	now := time.Now()
	os.Chtimes(manifest, now, now)
	return img, nil
}

// removeStale deletes appliances built from other inputs that nobody
// used for an hour; a recent one may belong to another gfs version that
// is running right now.
func removeStale(cache, keep string) {
	old, _ := filepath.Glob(filepath.Join(cache, "appliance-*"))
	for _, d := range old {
		fi, err := os.Stat(filepath.Join(d, "manifest.json"))
		if d != keep && (err != nil || time.Since(fi.ModTime()) > time.Hour) {
			os.RemoveAll(d)
		}
	}
}

// inputKey hashes everything the image is made from, cheaply: file
// identities (path, size, mtime) rather than contents, plus the package
// database and linker cache, which change whenever host packages do.
func inputKey(k Kernel, agent string) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %d tools-disk %v\n", formatVersion, useToolsDisk())
	stamp := func(p string) {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		} else {
			fmt.Fprintf(h, "%s missing\n", p)
		}
	}
	stamp(k.Image)
	stamp(filepath.Join(k.ModulesDir, "modules.dep"))
	// The agent by content: test builds of the same source in different
	// temporary paths then share one appliance.
	fmt.Fprintf(h, "agent %s\n", fileHash(agent))
	stamp("/etc/ld.so.cache")
	stamp("/var/lib/dpkg/status")
	for _, p := range dataFiles {
		stamp(p)
	}
	for _, t := range tools {
		fmt.Fprintf(h, "tool %s %s\n", t, lookTool(t))
	}
	fmt.Fprintf(h, "modules %s\n", strings.Join(append(bootModules, extraModules...), ","))
	fmt.Fprintf(h, "lvm %s\n", lvmConf)
	return hex.EncodeToString(h.Sum(nil))
}

func buildInto(dir string, k Kernel, agent string, log io.Writer) (Manifest, error) {
	logf := func(format string, args ...any) {
		if log != nil {
			fmt.Fprintf(log, "gfs: "+format+"\n", args...)
		}
	}
	m := Manifest{KernelVersion: k.Version, KernelImage: k.Image, BootKernel: k.Image, Agent: agent, Tools: map[string]string{}}

	logf("extracting vmlinux from %s", k.Image)
	if err := extractVmlinux(k.Image, filepath.Join(dir, "vmlinux")); err == nil {
		m.PVH = true
	} else {
		logf("booting the compressed kernel instead: %v", err)
	}

	t := newTree()
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/tmp", "/sysroot", "/root", "/etc", "/var/tmp"} {
		t.dir(d)
	}
	t.entries["/tmp"] = entry{mode: 0o041777}
	t.entries["/init"] = entry{mode: 0o100755, host: agent}
	t.file("/etc/lvm/lvm.conf", []byte(lvmConf), 0o644)
	t.file("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	t.file("/etc/group", []byte("root:x:0:\n"), 0o644)
	for _, p := range dataFiles {
		if _, err := os.Stat(p); err == nil {
			if err := t.addHost(p); err != nil {
				return m, fmt.Errorf("%s: %w", p, err)
			}
		}
	}

	deps, err := readModDep(k.ModulesDir)
	if err != nil {
		return m, fmt.Errorf("modules of %s: %w", k.Version, err)
	}
	mods, absent := deps.closure(append(append([]string{}, bootModules...), extraModules...))
	m.Modules, m.AbsentModules = mods, absent
	if err := t.addModules(k, mods, deps, ""); err != nil {
		return m, err
	}

	var progs []string
	for _, name := range tools {
		if p := lookTool(name); p != "" {
			m.Tools[name] = p
			progs = append(progs, p)
		} else {
			m.MissingTools = append(m.MissingTools, name)
		}
	}
	sort.Strings(m.MissingTools)
	// A dynamically linked agent (built with cgo) brings its libraries.
	if isDynamicELF(agent) {
		progs = append(progs, agent)
	}
	if err := t.addPrograms(progs); err != nil {
		return m, err
	}
	t.file("/etc/gfs/missing", []byte(strings.Join(m.MissingTools, "\n")+"\n"), 0o644)
	t.file("/etc/gfs/agent-id", []byte(agentStamp(agent)+"\n"), 0o644)

	if useToolsDisk() {
		boot, err := t.splitToolsDisk(dir, k, deps, logf)
		if err != nil {
			return m, err
		}
		t = boot
		m.ToolsDisk = toolsDiskName
	}

	f, err := os.Create(filepath.Join(dir, "initrd"))
	if err != nil {
		return m, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := t.write(bw); err != nil {
		f.Close()
		return m, err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return m, err
	}
	fi, _ := f.Stat()
	m.InitrdBytes = fi.Size()
	if err := f.Close(); err != nil {
		return m, err
	}
	logf("appliance: %d modules, %d tools (%d missing), initrd %d MiB", len(mods), len(m.Tools), len(m.MissingTools), m.InitrdBytes>>20)
	return m, nil
}

func agentStamp(agent string) string { return fileHash(agent)[:16] }

func fileHash(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return "missing"
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// lockFile takes an exclusive flock, waiting for other processes.
func lockFile(p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
