package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"syscall"
)

// ErrUnsupported is wrapped by errors for images, layouts or filesystem
// features this package deliberately does not handle (other image formats,
// encryption, thin/raid LVs, btrfs, ...). The caller should fall back to
// the appliance.
var ErrUnsupported = errors.New("not supported by the VM-less reader")

// ErrCorrupt is wrapped by errors caused by on-disk data that fails
// validation (a damaged or crafted image), and by recovered panics. The
// caller should fall back to the appliance, which has the final word.
var ErrCorrupt = errors.New("invalid on-disk data")

// authoritative lists the errnos that are real answers about the guest
// (the appliance would give the same one), as opposed to "could not tell".
var authoritative = map[syscall.Errno]bool{
	syscall.ENOENT:       true,
	syscall.ENOTDIR:      true,
	syscall.EISDIR:       true,
	syscall.ELOOP:        true,
	syscall.EINVAL:       true,
	syscall.ENAMETOOLONG: true,
}

// NeedsFallback reports whether err means the VM-less reader could not
// answer (unsupported feature, corrupt metadata, internal error) so the
// appliance must be asked instead. It is false only for nil and for a
// *io/fs.PathError wrapping one of the POSIX errnos the appliance would
// return as well (ENOENT, ENOTDIR, EISDIR, ELOOP, EINVAL, ENAMETOOLONG),
// or ErrNotAbsolute.
func NeedsFallback(err error) bool {
	if err == nil {
		return false
	}
	var pe *iofs.PathError
	if !errors.As(err, &pe) {
		return true
	}
	if errors.Is(pe.Err, ErrNotAbsolute) {
		return false
	}
	var errno syscall.Errno
	if !errors.As(pe.Err, &errno) {
		return true
	}
	return !authoritative[errno]
}

// corruptf builds an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// unsupportedf builds an error wrapping ErrUnsupported.
func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnsupported}, args...)...)
}

// onRecover, when set (only by the fuzz tests), is called with every
// panic guard contains, so that fuzzing still reports the bug behind it.
var onRecover func(r any)

// guard turns a panic in the current function (ours or a library's) into
// an error wrapping ErrCorrupt. Use as: defer guard(&err, "what").
// Every exported function or method that touches image data defers it,
// because a crafted image must never crash the caller.
func guard(err *error, what string) {
	if r := recover(); r != nil {
		if onRecover != nil {
			onRecover(r)
		}
		*err = fmt.Errorf("%s: internal error while reading untrusted image (%v): %w", what, r, ErrCorrupt)
	}
}
