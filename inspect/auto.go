package inspect

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"time"

	"gfs/appliance"
	"gfs/fs"
)

// AutoOptions configure Auto.
type AutoOptions struct {
	Options
	// Appliance configures the appliance used as the fallback.
	Appliance appliance.Options
	// AllowBacking lets qcow2 images use backing files.
	AllowBacking bool
	// ForceAppliance skips the VM-less reader (for tests and debugging).
	ForceAppliance bool
	// NoFallback fails instead of booting the appliance (tests).
	NoFallback bool
}

// Result is what Auto found and how.
type Result struct {
	OSes []OS
	// Source is "vm-less" or "appliance".
	Source string
	// FallbackReason says why the VM-less reader could not answer
	// (nil when it did).
	FallbackReason error
}

// Auto inspects disk images read-only: with the VM-less reader when it
// can read everything inspection needs, else with the appliance. The
// fallback is transparent except for a line in Options.Log.
func Auto(ctx context.Context, drives []appliance.Drive, opts AutoOptions) (*Result, error) {
	if len(drives) == 0 {
		return nil, errors.New("no disk image given")
	}
	res := &Result{}
	if !opts.ForceAppliance {
		oses, err := vmless(ctx, drives, opts)
		if err == nil {
			res.OSes, res.Source = oses, "vm-less"
			return res, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var pe *missingImageError
		if errors.As(err, &pe) {
			return nil, pe.err
		}
		res.FallbackReason = err
		opts.logf("inspect: the VM-less reader cannot answer (%v): using the appliance", err)
		if opts.NoFallback {
			return res, err
		}
	}
	oses, err := viaAppliance(ctx, drives, opts)
	if err != nil {
		return nil, err
	}
	res.OSes, res.Source = oses, "appliance"
	return res, nil
}

type missingImageError struct{ err error }

func (e *missingImageError) Error() string { return e.err.Error() }

func vmless(ctx context.Context, drives []appliance.Drive, opts AutoOptions) (oses []OS, err error) {
	defer func() {
		if r := recover(); r != nil {
			oses, err = nil, fmt.Errorf("VM-less reader: internal error: %v", r)
		}
	}()
	var imgs []fs.Image
	defer func() {
		for _, im := range imgs {
			im.Close()
		}
	}()
	for _, d := range drives {
		// The appliance would recognise vmdk, vdi, vhdx… headers: the
		// reader must not take such an image for a raw disk.
		if d.Format == "" {
			if f, _, err := appliance.DetectFormat(d.Path); err == nil && f != "qcow2" {
				d.Format = f
			}
		}
		im, err := fs.OpenImage(d.Path, d.Format, opts.AllowBacking)
		if err != nil {
			if !fs.NeedsFallback(err) || errors.Is(err, iofs.ErrNotExist) {
				return nil, &missingImageError{err}
			}
			return nil, err
		}
		imgs = append(imgs, im)
	}
	disks, err := fs.OpenDisks(imgs)
	if err != nil {
		return nil, err
	}
	return Inspect(ctx, NewDisksSource(disks), opts.Options)
}

func viaAppliance(ctx context.Context, drives []appliance.Drive, opts AutoOptions) ([]OS, error) {
	ao := opts.Appliance
	ao.AllowBacking = ao.AllowBacking || opts.AllowBacking
	h := appliance.New(ao)
	defer h.Close()
	for _, d := range drives {
		d.ReadOnly = true
		if err := h.AddDrive(d); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	if err := h.Launch(ctx); err != nil {
		return nil, err
	}
	opts.logf("inspect: appliance launched (%s) in %v", h.Accel(), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	oses, err := Inspect(ctx, NewApplianceSource(h), opts.Options)
	opts.logf("inspect: appliance inspection took %v", time.Since(start).Round(time.Millisecond))
	return oses, err
}

// InspectDisks inspects through the VM-less reader; errors wrapping
// FallbackError mean the appliance must be used instead.
func InspectDisks(ctx context.Context, d *fs.Disks, opts Options) ([]OS, error) {
	return Inspect(ctx, NewDisksSource(d), opts)
}

// InspectAppliance inspects through a launched appliance. It leaves
// nothing mounted.
func InspectAppliance(ctx context.Context, h *appliance.Handle, opts Options) ([]OS, error) {
	return Inspect(ctx, NewApplianceSource(h), opts)
}
