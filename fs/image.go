package fs

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Image is a virtual disk as the guest sees it: a random-access byte
// array of a fixed size. Implementations are safe for concurrent use.
type Image interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// maxBackingDepth bounds qcow2 backing chains (a hostile chain could
// otherwise recurse until file descriptors run out).
const maxBackingDepth = 16

// OpenImage opens a disk image read-only.
//
// format is "raw", "qcow2" or "" (detect). Detection only recognises the
// qcow2 magic; everything else is opened as raw, never guessed further
// (guessing formats of untrusted images is how CVE-2010-3851 happened).
// Other named formats (vmdk, vdi, vhdx, ...) return an error wrapping
// ErrUnsupported so the caller can hand the image to the appliance.
//
// allowBacking permits qcow2 backing files; when false a qcow2 image with
// a backing file is refused with an error naming the backing file.
func OpenImage(path, format string, allowBacking bool) (img Image, err error) {
	defer guard(&err, "open "+path)
	return openImage(path, format, allowBacking, 0, nil)
}

// openImage is OpenImage with the backing-chain depth and the set of files
// already in the chain (to refuse loops), which only backing opens use.
func openImage(path, format string, allowBacking bool, depth int, chain []os.FileInfo) (Image, error) {
	if depth > maxBackingDepth {
		return nil, corruptf("qcow2 backing chain of %s is deeper than %d images", path, maxBackingDepth)
	}
	switch format {
	case "", "raw", "qcow2":
	case "vmdk", "vdi", "vhdx", "vpc", "vhd", "qed", "qcow", "luks", "parallels", "dmg", "bochs", "cloop", "vvfat":
		return nil, unsupportedf("image format %q of %s", format, path)
	default:
		return nil, unsupportedf("unknown image format %q of %s", format, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		// Block devices would work but need a size ioctl; the appliance
		// handles them.
		f.Close()
		return nil, unsupportedf("%s is not a regular file", path)
	}
	for _, prev := range chain {
		if os.SameFile(prev, fi) {
			f.Close()
			return nil, corruptf("qcow2 backing chain of %s loops", path)
		}
	}
	if format == "" {
		var magic [4]byte
		if n, _ := f.ReadAt(magic[:], 0); n == 4 && bytes.Equal(magic[:], qcow2Magic) {
			format = "qcow2"
		} else {
			format = "raw"
		}
	}
	if format == "raw" {
		return &rawImage{f: f, size: fi.Size()}, nil
	}
	q, err := openQcow2(f, path, fi.Size(), allowBacking, depth, append(chain, fi))
	if err != nil {
		f.Close()
		return nil, err
	}
	return q, nil
}

// rawImage is a plain file.
type rawImage struct {
	f    *os.File
	size int64
}

func (r *rawImage) Size() int64  { return r.size }
func (r *rawImage) Close() error { return r.f.Close() }

func (r *rawImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("raw image: negative offset %d", off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(p)) > r.size-off {
		p = p[:r.size-off]
		short = true
	}
	n, err := r.f.ReadAt(p, off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}
