package appliance_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"gfs/appliance"
	"gfs/appliance/appliancetest"
)

// The package shares one appliance for most tests (boots are the slow
// part under TCG); fault tests boot their own.
var (
	imgDir           string
	sdaPath, sdbPath string
	roPath, roSum    string
	shared           *appliance.Handle
	ctx              = context.Background()
)

func TestMain(m *testing.M) {
	os.Exit(appliancetest.Main(m, func() {
		if shared != nil {
			shared.Close()
		}
		if imgDir != "" {
			os.RemoveAll(imgDir)
		}
	}))
}

func setup(t *testing.T) *appliance.Handle {
	t.Helper()
	if shared != nil {
		return shared
	}
	var err error
	imgDir, err = os.MkdirTemp("", "gfs-appliance-test-")
	if err != nil {
		t.Fatal(err)
	}
	sdaPath = filepath.Join(imgDir, "sda.qcow2")
	sdbPath = filepath.Join(imgDir, "sdb.raw")
	roPath = filepath.Join(imgDir, "ro.img")
	appliancetest.QemuImg(t, "create", "-q", "-f", "qcow2", sdaPath, "1G")
	appliancetest.QemuImg(t, "create", "-q", "-f", "raw", sdbPath, "768M")
	// The read-only disk is made on the host with mke2fs -d from a tree.
	src := filepath.Join(imgDir, "rosrc")
	os.MkdirAll(filepath.Join(src, "dir/sub"), 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello from the host\n"), 0o644)
	os.WriteFile(filepath.Join(src, "dir/sub/file"), []byte("deep\n"), 0o600)
	os.Symlink("/hello.txt", filepath.Join(src, "link"))
	appliancetest.Run(t, "mkfs.ext4", "-q", "-F", "-d", src, roPath, "64M")
	roSum = appliancetest.Sha256(t, roPath)

	h := appliance.New(appliance.Options{})
	for _, d := range []appliance.Drive{{Path: sdaPath}, {Path: sdbPath, Format: "raw"}, {Path: roPath, ReadOnly: true}} {
		if err := h.AddDrive(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Launch(ctx); err != nil {
		t.Fatal(err)
	}
	shared = h
	return h
}

func closeShared(t *testing.T) {
	if shared == nil {
		return
	}
	if err := shared.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	shared = nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func call(t *testing.T, h *appliance.Handle, name string, args ...any) {
	t.Helper()
	if _, err := h.Call(ctx, name, args, nil, nil, nil); err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
}

// TestSession runs the life of a set of disks in order: partition and
// format, files, metadata, the read-only drive, then close and relaunch
// to see that everything persisted.
func TestSession(t *testing.T) {
	h := setup(t)
	t.Run("Devices", func(t *testing.T) {
		devs, err := h.ListDevices(ctx)
		must(t, err)
		if want := []string{"/dev/sda", "/dev/sdb", "/dev/sdc"}; !reflect.DeepEqual(devs, want) {
			t.Fatalf("list-devices = %v, want %v", devs, want)
		}
		for dev, want := range map[string]int64{"/dev/sda": 1 << 30, "/dev/sdb": 768 << 20, "/dev/sdc": 64 << 20} {
			size, err := h.BlockdevGetsize64(ctx, dev)
			must(t, err)
			if size != want {
				t.Errorf("size of %s = %d, want %d: drives out of order", dev, size, want)
			}
		}
	})
	t.Run("PartitionAndFormat", func(t *testing.T) { partitionAndFormat(t, h) })
	t.Run("Files", func(t *testing.T) { files(t, h) })
	t.Run("BigStream", func(t *testing.T) { bigStream(t, h) })
	t.Run("Metadata", func(t *testing.T) { metadata(t, h) })
	t.Run("ChrootSemantics", func(t *testing.T) { chrootSemantics(t, h) })
	t.Run("ReadOnlyDrive", func(t *testing.T) { readOnlyDrive(t, h) })
	t.Run("Errors", func(t *testing.T) { callErrors(t, h) })
	t.Run("Relaunch", func(t *testing.T) { relaunch(t) })
}

func partitionAndFormat(t *testing.T, h *appliance.Handle) {
	must(t, h.PartInit(ctx, "/dev/sda", "mbr"))
	must(t, h.PartAdd(ctx, "/dev/sda", "p", 2048, 411647))
	must(t, h.PartAdd(ctx, "/dev/sda", "p", 411648, 616447))
	must(t, h.PartAdd(ctx, "/dev/sda", "e", 616448, -1))
	must(t, h.PartAdd(ctx, "/dev/sda", "l", 618496, -1))
	must(t, h.Mkfs(ctx, "ext4", "/dev/sda1", map[string]any{"label": "ROOT"}))
	must(t, h.Mkfs(ctx, "vfat", "/dev/sda2", nil))
	must(t, h.Mkfs(ctx, "xfs", "/dev/sda5", nil))

	must(t, h.PartInit(ctx, "/dev/sdb", "gpt"))
	must(t, h.PartAdd(ctx, "/dev/sdb", "p", 2048, 526335))
	must(t, h.PartAdd(ctx, "/dev/sdb", "p", 526336, -34))
	must(t, h.Mkfs(ctx, "btrfs", "/dev/sdb1", nil))
	must(t, h.Pvcreate(ctx, "/dev/sdb2"))
	must(t, h.Vgcreate(ctx, "vg0", []string{"/dev/sdb2"}))
	must(t, h.Lvcreate(ctx, "lv0", "vg0", 300))
	must(t, h.Lvcreate(ctx, "swap", "vg0", 32))
	must(t, h.Lvcreate(ctx, "win", "vg0", 64))
	must(t, h.Mkfs(ctx, "ext4", "/dev/vg0/lv0", nil))
	must(t, h.Mkfs(ctx, "ntfs", "/dev/vg0/win", nil))
	must(t, h.Mkswap(ctx, "/dev/vg0/swap", nil))

	parts, err := h.ListPartitions(ctx)
	must(t, err)
	if want := []string{"/dev/sda1", "/dev/sda2", "/dev/sda3", "/dev/sda5", "/dev/sdb1", "/dev/sdb2"}; !reflect.DeepEqual(parts, want) {
		t.Errorf("list-partitions = %v, want %v", parts, want)
	}
	fss, err := h.ListFilesystems(ctx)
	must(t, err)
	want := [][2]string{
		{"/dev/sdc", "ext4"}, {"/dev/sda1", "ext4"}, {"/dev/sda2", "vfat"}, {"/dev/sda5", "xfs"},
		{"/dev/sdb1", "btrfs"}, {"/dev/vg0/lv0", "ext4"}, {"/dev/vg0/swap", "swap"}, {"/dev/vg0/win", "ntfs"},
	}
	if !reflect.DeepEqual(fss, want) {
		t.Errorf("list-filesystems = %v\nwant %v", fss, want)
	}
	pl, err := h.PartList(ctx, "/dev/sda")
	must(t, err)
	if len(pl) != 4 || pl[0].Num != 1 || pl[0].Start != 2048*512 || pl[0].End != 411648*512-1 || pl[0].Size != 409600*512 {
		t.Errorf("part-list /dev/sda = %+v", pl)
	}
	for dev, typ := range map[string]string{"/dev/sda": "msdos", "/dev/sdb": "gpt"} {
		got, err := h.PartGetParttype(ctx, dev)
		must(t, err)
		if got != typ {
			t.Errorf("part-get-parttype %s = %q, want %q", dev, got, typ)
		}
	}
	label, err := h.VfsLabel(ctx, "/dev/sda1")
	must(t, err)
	if label != "ROOT" {
		t.Errorf("vfs-label = %q", label)
	}
	lvs, err := h.Lvs(ctx)
	must(t, err)
	if want := []string{"/dev/vg0/lv0", "/dev/vg0/swap", "/dev/vg0/win"}; !reflect.DeepEqual(lvs, want) {
		t.Errorf("lvs = %v", lvs)
	}
	vgs, err := h.VgsFull(ctx)
	must(t, err)
	if len(vgs) != 1 || vgs[0].Name != "vg0" || len(vgs[0].UUID) != 32 || vgs[0].LVCount != 3 {
		t.Errorf("vgs-full = %+v", vgs)
	}
}

// files mounts each filesystem kind and round-trips small files.
func files(t *testing.T, h *appliance.Handle) {
	must(t, h.Mount(ctx, "/dev/sda1", "/"))
	for _, d := range []string{"/boot", "/xfs", "/btrfs", "/lvm", "/ntfs"} {
		must(t, h.Mkdir(ctx, d))
	}
	must(t, h.Mount(ctx, "/dev/sda2", "/boot"))
	must(t, h.Mount(ctx, "/dev/sda5", "/xfs"))
	must(t, h.Mount(ctx, "/dev/sdb1", "/btrfs"))
	must(t, h.Mount(ctx, "/dev/vg0/lv0", "/lvm"))
	must(t, h.Mount(ctx, "/dev/vg0/win", "/ntfs"))
	mps, err := h.Mountpoints(ctx)
	must(t, err)
	want := [][2]string{{"/dev/sda1", "/"}, {"/dev/sda2", "/boot"}, {"/dev/sda5", "/xfs"}, {"/dev/sdb1", "/btrfs"}, {"/dev/vg0/lv0", "/lvm"}, {"/dev/vg0/win", "/ntfs"}}
	if !reflect.DeepEqual(mps, want) {
		t.Errorf("mountpoints = %v", mps)
	}
	for _, dir := range []string{"/", "/boot", "/xfs", "/btrfs", "/lvm", "/ntfs"} {
		p := filepath.Join(dir, "small.txt")
		content := "content of " + p + "\n"
		must(t, h.Write(ctx, p, []byte(content)))
		must(t, h.WriteAppend(ctx, p, []byte("more\n")))
		got, err := h.Cat(ctx, p)
		must(t, err)
		if got != content+"more\n" {
			t.Errorf("cat %s = %q", p, got)
		}
	}
	// An empty file and a file with every byte value.
	must(t, h.Write(ctx, "/empty", nil))
	all := make([]byte, 256*3)
	for i := range all {
		all[i] = byte(i)
	}
	must(t, h.Upload(ctx, strings.NewReader(string(all)), "/bytes"))
	got, err := h.ReadFile(ctx, "/bytes")
	must(t, err)
	if string(got) != string(all) {
		t.Errorf("binary round trip differs")
	}
	if got, _ := h.ReadFile(ctx, "/empty"); len(got) != 0 {
		t.Errorf("empty file read as %q", got)
	}
}

// prng is a reproducible byte stream: the same seed gives the same
// bytes, so the test never holds a whole file in memory.
type prng struct {
	r    *rand.ChaCha8
	left int64
}

func (p *prng) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	p.r.Read(b)
	p.left -= int64(len(b))
	return len(b), nil
}

func bigStream(t *testing.T, h *appliance.Handle) {
	const size = 210 << 20
	var seed [32]byte
	copy(seed[:], "gfs big stream test seed........")
	sum := sha256.New()
	must(t, h.Upload(ctx, io.TeeReader(&prng{r: rand.NewChaCha8(seed), left: size}, sum), "/lvm/big"))
	want := hex.EncodeToString(sum.Sum(nil))
	st, err := h.Stat(ctx, "/lvm/big")
	must(t, err)
	if st.Size != size {
		t.Fatalf("uploaded size %d, want %d", st.Size, size)
	}
	got := sha256.New()
	must(t, h.Download(ctx, "/lvm/big", got))
	if hex.EncodeToString(got.Sum(nil)) != want {
		t.Fatalf("downloaded content differs from uploaded")
	}

	// A destination that fails (a full disk, a reader that wants only
	// a header) stops the download with its own error, whatever the
	// agent answers to the cancel, and the channel stays usable.
	for _, limit := range []int{0, 100, 1 << 20} {
		err := h.Download(ctx, "/lvm/big", &failAfter{left: limit})
		if !errors.Is(err, errDestFull) {
			t.Errorf("download into a writer failing after %d bytes: %v, want %v", limit, err, errDestFull)
		}
		if _, err := h.Stat(ctx, "/lvm/big"); err != nil {
			t.Fatalf("channel unusable after a failed destination: %v", err)
		}
	}
}

var errDestFull = errors.New("destination full")

// failAfter accepts left bytes, then fails every write.
type failAfter struct{ left int }

func (w *failAfter) Write(b []byte) (int, error) {
	if len(b) > w.left {
		n := w.left
		w.left = 0
		return n, errDestFull
	}
	w.left -= len(b)
	return len(b), nil
}

func metadata(t *testing.T, h *appliance.Handle) {
	must(t, h.MkdirP(ctx, "/m/a/b/c"))
	must(t, h.MkdirP(ctx, "/m/a/b/c")) // existing is fine
	must(t, h.Write(ctx, "/m/a/file", []byte("x")))
	must(t, h.Chmod(ctx, 0o4751, "/m/a/file"))
	must(t, h.Chown(ctx, 1000, 1001, "/m/a/file"))
	st, err := h.Lstat(ctx, "/m/a/file")
	must(t, err)
	if st.Mode != 0o104751 && st.Mode != 0o100751 {
		t.Errorf("mode = %o", st.Mode)
	}
	if st.UID != 1000 || st.GID != 1001 || st.Nlink != 1 {
		t.Errorf("owner/nlink = %d:%d/%d", st.UID, st.GID, st.Nlink)
	}
	must(t, h.Chmod(ctx, 0o644, "/m/a/file"))
	must(t, h.LnS(ctx, "../file", "/m/a/b/rel"))
	must(t, h.LnS(ctx, "/m/a/file", "/m/abs"))
	if got, _ := h.Readlink(ctx, "/m/a/b/rel"); got != "../file" {
		t.Errorf("readlink = %q", got)
	}
	if ok, _ := h.IsSymlink(ctx, "/m/abs"); !ok {
		t.Errorf("is-symlink /m/abs = false")
	}
	if ok, _ := h.IsFile(ctx, "/m/abs"); ok {
		t.Errorf("is-file on a symlink without followsymlinks = true")
	}
	if got, _ := h.Cat(ctx, "/m/a/b/rel"); got != "x" {
		t.Errorf("cat through relative link = %q", got)
	}
	lst, err := h.Lstat(ctx, "/m/abs")
	must(t, err)
	if lst.Mode&0o170000 != 0o120000 || lst.Size != int64(len("/m/a/file")) {
		t.Errorf("lstat of link = %o size %d", lst.Mode, lst.Size)
	}
	must(t, h.CpA(ctx, "/m/a", "/m/copy"))
	cst, err := h.Stat(ctx, "/m/copy/file")
	must(t, err)
	if cst.UID != 1000 || cst.Mode&0o7777 != 0o644 {
		t.Errorf("cp-a lost owner or mode: %+v", cst)
	}
	if got, _ := h.Readlink(ctx, "/m/copy/b/rel"); got != "../file" {
		t.Errorf("cp-a did not keep the symlink: %q", got)
	}
	must(t, h.Mv(ctx, "/m/copy", "/m/moved"))
	if ok, _ := h.Exists(ctx, "/m/copy"); ok {
		t.Errorf("mv left the source")
	}
	found, err := h.Find(ctx, "/m/moved")
	must(t, err)
	if want := []string{"/b", "/b/c", "/b/rel", "/file"}; !reflect.DeepEqual(found, want) {
		t.Errorf("find = %v", found)
	}
	globbed, err := h.GlobExpand(ctx, "/m/*/b")
	must(t, err)
	if want := []string{"/m/a/b/", "/m/moved/b/"}; !reflect.DeepEqual(globbed, want) {
		t.Errorf("glob-expand = %v", globbed)
	}
	must(t, h.Touch(ctx, "/m/t"))
	must(t, h.TruncateSize(ctx, "/m/t", 12345))
	if st, _ := h.Stat(ctx, "/m/t"); st.Size != 12345 {
		t.Errorf("truncate-size: %d", st.Size)
	}
	must(t, h.RmRf(ctx, "/m/moved"))
	must(t, h.RmRf(ctx, "/m/does-not-exist"))
	if err := h.Rmdir(ctx, "/m/a"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("rmdir of a non-empty dir: %v", err)
	}
	if err := h.Rm(ctx, "/m/a/b"); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("rm of a directory: %v", err)
	}
	ls, err := h.Ls(ctx, "/m")
	must(t, err)
	if want := []string{"a", "abs", "t"}; !reflect.DeepEqual(ls, want) {
		t.Errorf("ls /m = %v", ls)
	}
}

// chrootSemantics: guest symlinks resolve inside the guest, never into
// the appliance's own files.
func chrootSemantics(t *testing.T, h *appliance.Handle) {
	must(t, h.LnS(ctx, "/", "/escape-root"))
	must(t, h.LnS(ctx, "../../../../../etc", "/escape-dots"))
	must(t, h.MkdirP(ctx, "/etc"))
	must(t, h.Write(ctx, "/etc/marker", []byte("guest etc\n")))
	for _, p := range []string{"/escape-root/etc/marker", "/escape-dots/marker", "/../../etc/marker"} {
		got, err := h.Cat(ctx, p)
		if err != nil || got != "guest etc\n" {
			t.Errorf("cat %s = %q, %v; want the guest's file", p, got, err)
		}
	}
	// The appliance has /etc/gfs/agent-id; the guest does not.
	for _, p := range []string{"/etc/gfs/agent-id", "/escape-dots/gfs/agent-id", "/escape-root/init"} {
		if _, err := h.Cat(ctx, p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("cat %s reached outside the guest: err=%v", p, err)
		}
	}
	// Writing through an absolute link lands in the guest.
	must(t, h.Write(ctx, "/escape-root/etc/written", []byte("w")))
	if ok, _ := h.Exists(ctx, "/etc/written"); !ok {
		t.Errorf("write through /escape-root did not land in the guest")
	}
	if _, err := h.Cat(ctx, "etc/marker"); err == nil || !strings.Contains(err.Error(), "must start with a /") {
		t.Errorf("relative path accepted: %v", err)
	}
}

func readOnlyDrive(t *testing.T, h *appliance.Handle) {
	must(t, h.Mkdir(ctx, "/ro"))
	must(t, h.Mount(ctx, "/dev/sdc", "/ro")) // mounted read-only regardless
	got, err := h.Cat(ctx, "/ro/hello.txt")
	must(t, err)
	if got != "hello from the host\n" {
		t.Errorf("cat on the read-only drive = %q", got)
	}
	if got, _ := h.Cat(ctx, "/ro/dir/sub/file"); got != "deep\n" {
		t.Errorf("deep file = %q", got)
	}
	if err := h.Write(ctx, "/ro/new", []byte("x")); !errors.Is(err, syscall.EROFS) {
		t.Errorf("write on read-only drive: %v, want EROFS", err)
	}
	if err := h.Rm(ctx, "/ro/hello.txt"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("rm on read-only drive: %v", err)
	}
	for _, f := range []func() error{
		func() error { return h.Mkfs(ctx, "ext4", "/dev/sdc", nil) },
		func() error { return h.PartInit(ctx, "/dev/sdc", "gpt") },
		func() error { return h.Pvcreate(ctx, "/dev/sdc") },
	} {
		if err := f(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("device write on read-only drive: %v, want EROFS", err)
		}
	}
	must(t, h.Umount(ctx, "/ro"))
}

func callErrors(t *testing.T, h *appliance.Handle) {
	_, err := h.Cat(ctx, "/nonexistent")
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "download: /nonexistent: No such file or directory" {
		t.Errorf("cat /nonexistent: %q", err)
	}
	if err := h.Mount(ctx, "/dev/sdz9", "/"); err == nil || !strings.Contains(err.Error(), "/dev/sdz9") {
		t.Errorf("mount of a missing device: %v", err)
	}
	if err := h.Mount(ctx, "/etc/passwd", "/"); err == nil {
		t.Errorf("mount of a non-device accepted")
	}
	if _, err := h.Call(ctx, "no-such-call", nil, nil, nil, nil); !errors.Is(err, syscall.ENOSYS) {
		t.Errorf("unknown call: %v", err)
	}
	// A panic in a handler is an error; the channel stays usable.
	if _, err := h.Call(ctx, "debug", []any{"panic", []string{}}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Errorf("debug panic: %v", err)
	}
	// Cancellation ends a long call quickly and leaves the channel usable.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	start := time.Now()
	_, err = h.Call(cctx, "debug", []any{"sleep", []string{"30s"}}, nil, nil, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled call: %v after %v", err, time.Since(start))
	}
	call(t, h, "ping-daemon")
	// Arguments of the wrong type are reported, not crashed on.
	if _, err := h.Call(ctx, "mkdir", []any{42}, nil, nil, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("bad argument: %v", err)
	}
}

// relaunch closes the shared appliance and boots a new one on the same
// images: everything written must be there, and the read-only image
// must be byte-for-byte unchanged.
func relaunch(t *testing.T) {
	closeShared(t)
	if got := appliancetest.Sha256(t, roPath); got != roSum {
		t.Fatalf("the read-only image changed")
	}
	h := appliance.New(appliance.Options{})
	must(t, h.AddDrive(appliance.Drive{Path: sdaPath}))
	must(t, h.AddDrive(appliance.Drive{Path: sdbPath, Format: "raw"}))
	must(t, h.Launch(ctx))
	defer func() { must(t, h.Close()) }()
	must(t, h.Mount(ctx, "/dev/sda1", "/"))
	must(t, h.Mount(ctx, "/dev/sda2", "/boot"))
	must(t, h.Mount(ctx, "/dev/sda5", "/xfs"))
	must(t, h.Mount(ctx, "/dev/sdb1", "/btrfs"))
	must(t, h.Mount(ctx, "/dev/vg0/lv0", "/lvm"))
	must(t, h.Mount(ctx, "/dev/vg0/win", "/ntfs"))
	for _, dir := range []string{"/", "/boot", "/xfs", "/btrfs", "/lvm", "/ntfs"} {
		p := filepath.Join(dir, "small.txt")
		got, err := h.Cat(ctx, p)
		must(t, err)
		if got != "content of "+p+"\nmore\n" {
			t.Errorf("after relaunch %s = %q", p, got)
		}
	}
	st, err := h.Stat(ctx, "/lvm/big")
	must(t, err)
	if st.Size != 210<<20 {
		t.Errorf("big file size after relaunch = %d", st.Size)
	}
	if got, _ := h.Readlink(ctx, "/m/a/b/rel"); got != "../file" {
		t.Errorf("symlink after relaunch = %q", got)
	}
	lst, err := h.Lstat(ctx, "/m/a/file")
	must(t, err)
	if lst.UID != 1000 || lst.GID != 1001 || lst.Mode&0o7777 != 0o644 {
		t.Errorf("metadata after relaunch: %+v", lst)
	}
}
