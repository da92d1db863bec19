package agent

import (
	"fmt"
	"strings"
	"sync"

	"github.com/u-root/u-root/pkg/kmodule"
)

// softdeps are modules a driver needs at run time that modules.dep does
// not list (the kernel would ask modprobe for them, and there is none).
var softdeps = map[string][]string{
	"ext4":  {"crc32c_generic"},
	"btrfs": {"crc32c_generic"},
	"xfs":   {"crc32c_generic"},
	"vfat":  {"nls_cp437", "nls_ascii", "nls_utf8"},
	"msdos": {"nls_cp437", "nls_ascii"},
	"isofs": {"nls_utf8"},
	"udf":   {"nls_utf8"},
	"ntfs3": {"nls_utf8"},
}

// fsModules maps a filesystem type, as blkid and mount name it, to the
// module that implements it.
var fsModules = map[string]string{
	"ext2": "ext4", "ext3": "ext4", "ext4": "ext4",
	"xfs": "xfs", "btrfs": "btrfs", "vfat": "vfat", "msdos": "msdos", "fat": "vfat",
	"iso9660": "isofs", "udf": "udf", "squashfs": "squashfs", "ntfs3": "ntfs3",
	"ntfs": "fuse", "fuse": "fuse", "hfsplus": "hfsplus", "jfs": "jfs",
	"f2fs": "f2fs", "exfat": "exfat", "nilfs2": "nilfs2", "minix": "minix",
	"reiserfs": "reiserfs", "ufs": "ufs", "hfs": "hfs",
}

// kmods is the appliance's module loader, set up at boot.
var kmods *modules

// modules loads kernel modules once each, in parallel where independent.
type modules struct {
	prober *kmodule.Prober
	mu     sync.Mutex
	done   map[string]*moduleLoad
}

type moduleLoad struct {
	once sync.Once
	err  error
}

// newModulesAt loads modules from root/lib/modules/<ver> ("" for /).
func newModulesAt(root string) (*modules, error) {
	p, err := kmodule.NewProber(kmodule.ProbeOpts{RootDir: root})
	if err != nil {
		return nil, err
	}
	return &modules{prober: p, done: map[string]*moduleLoad{}}, nil
}

// load loads the named modules, their dependencies and softdeps, all in
// parallel, and returns the first error.
func (m *modules) load(names ...string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.loadOne(name)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *modules) loadOne(name string) error {
	name = strings.ReplaceAll(name, "-", "_")
	m.mu.Lock()
	l := m.done[name]
	if l == nil {
		l = &moduleLoad{}
		m.done[name] = l
	}
	m.mu.Unlock()
	l.once.Do(func() {
		if deps := softdeps[name]; len(deps) > 0 {
			// Softdeps are best effort: a missing nls table should not
			// make the whole filesystem unavailable.
			m.load(deps...)
		}
		if err := m.prober.Probe(name, ""); err != nil {
			l.err = fmt.Errorf("load module %s: %w", name, err)
			return
		}
		debugf("module %s loaded", name)
	})
	return l.err
}

// prefetch loads modules in the background that most sessions need soon;
// failures surface later when a call really needs the module.
func (m *modules) prefetch(names ...string) {
	m.load(names...)
}

// forFS loads the driver for a filesystem type, if gfs knows one. An
// unknown type is left to the kernel, which may have it built in.
func (m *modules) forFS(fstype string) error {
	mod, ok := fsModules[fstype]
	if !ok {
		return nil
	}
	return m.loadOne(mod)
}
