package appliance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Drive is a disk image to attach. Drives appear in the appliance as
// /dev/sda, /dev/sdb… in the order they were added.
type Drive struct {
	Path     string
	Format   string // "" = detect safely (see DetectFormat)
	ReadOnly bool
	// Name is how tools refer to the drive in messages (the path the
	// user typed); defaults to Path.
	Name string
}

// ErrBackingFile is returned for an image whose header points at another
// file while backing files are not allowed.
var ErrBackingFile = errors.New("image has a backing file")

// DetectFormat identifies an image without letting QEMU probe it. QEMU's
// probing is unsafe for untrusted images (CVE-2010-3851): a raw disk
// whose guest wrote a qcow2 header naming a host file as its backing
// would make QEMU read that host file. Here anything that is not clearly
// another format is raw, and formats that can reference other files are
// checked for such references.
func DetectFormat(path string) (format, backing string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	hdr := make([]byte, 512)
	n, err := io.ReadFull(f, hdr)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", "", err
	}
	hdr = hdr[:n]
	switch {
	case bytes.HasPrefix(hdr, []byte("QFI\xfb")) && n >= 104:
		backing, err := qcow2Backing(f, hdr)
		return "qcow2", backing, err
	case bytes.HasPrefix(hdr, []byte("KDMV")):
		return "vmdk", vmdkParent(f, hdr), nil
	case bytes.HasPrefix(hdr, []byte("conectix")):
		return "vpc", "", nil
	case bytes.HasPrefix(hdr, []byte("vhdxfile")):
		return "vhdx", "", nil
	case n >= 0x44 && binary.LittleEndian.Uint32(hdr[0x40:]) == 0xbeda107f:
		return "vdi", "", nil
	case bytes.HasPrefix(hdr, []byte("QED\x00")):
		return "qed", "qed images may have backing files", nil
	}
	// A vpc (VHD) footer lives in the last sector of fixed images.
	if fi, err := f.Stat(); err == nil && fi.Size() >= 512 {
		tail := make([]byte, 8)
		if _, err := f.ReadAt(tail, fi.Size()-512); err == nil && string(tail) == "conectix" {
			return "vpc", "", nil
		}
	}
	return "raw", "", nil
}

// qcow2Backing returns the backing file name, or an external data file,
// which is the same hazard.
func qcow2Backing(f *os.File, hdr []byte) (string, error) {
	off := binary.BigEndian.Uint64(hdr[8:])
	size := binary.BigEndian.Uint32(hdr[16:])
	if off != 0 && size != 0 {
		if size > 1023 {
			return "", fmt.Errorf("qcow2 backing file name of %d bytes is invalid", size)
		}
		name := make([]byte, size)
		if _, err := f.ReadAt(name, int64(off)); err != nil {
			return "", fmt.Errorf("qcow2 backing file name: %w", err)
		}
		return string(name), nil
	}
	version := binary.BigEndian.Uint32(hdr[4:])
	if version >= 3 && len(hdr) >= 104 {
		incompat := binary.BigEndian.Uint64(hdr[72:])
		if incompat&(1<<2) != 0 {
			return "(external data file)", nil
		}
	}
	return "", nil
}

// vmdkParent finds a parent reference in a sparse VMDK's embedded
// descriptor.
func vmdkParent(f *os.File, hdr []byte) string {
	if len(hdr) < 44 {
		return ""
	}
	descOff := binary.LittleEndian.Uint64(hdr[28:]) * 512
	descSize := binary.LittleEndian.Uint64(hdr[36:]) * 512
	if descOff == 0 || descSize == 0 || descSize > 1<<20 {
		return ""
	}
	desc := make([]byte, descSize)
	n, _ := f.ReadAt(desc, int64(descOff))
	if i := bytes.Index(desc[:n], []byte("parentFileNameHint=")); i >= 0 {
		line := desc[i+len("parentFileNameHint="):]
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		return string(bytes.Trim(line, "\" \r"))
	}
	return ""
}

// resolveDrive fixes the format and checks the image is safe to attach.
func resolveDrive(d Drive, allowBacking bool) (Drive, error) {
	if d.Name == "" {
		d.Name = d.Path
	}
	abs, err := filepath.Abs(d.Path)
	if err != nil {
		return d, err
	}
	d.Path = abs
	fi, err := os.Stat(abs)
	if err != nil {
		return d, fmt.Errorf("%s: %w", d.Name, unwrapPathErr(err))
	}
	if fi.IsDir() {
		return d, fmt.Errorf("%s: is a directory, not a disk image", d.Name)
	}
	detected, backing, err := DetectFormat(abs)
	if err != nil {
		return d, fmt.Errorf("%s: %w", d.Name, unwrapPathErr(err))
	}
	if d.Format == "" {
		d.Format = detected
	}
	if backing != "" && !allowBacking && d.Format == detected {
		return d, fmt.Errorf("%s: %w %q, which gfs does not open unless backing files are allowed (--allow-backing)", d.Name, ErrBackingFile, backing)
	}
	if !d.ReadOnly {
		if err := checkWritableFile(abs); err != nil {
			return d, fmt.Errorf("%s: %w (add it read-only with --ro)", d.Name, err)
		}
	}
	return d, nil
}

func checkWritableFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return unwrapPathErr(err)
	}
	return f.Close()
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
