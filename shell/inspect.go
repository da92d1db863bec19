package shell

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"gfs/appliance"
	"gfs/appliance/api"
	"gfs/inspect"
)

// inspectGuest inspects the disks through g: the VM-less reader when g
// is the VM-less backend (a FallbackError there sends the command to the
// appliance), else the appliance, after which the session's own mounts
// are put back (inspection mounts and unmounts every filesystem).
func (s *Session) inspectGuest(ctx context.Context, g Guest, apps bool) ([]inspect.OS, error) {
	opts := inspect.Options{Applications: apps}
	if s.opts.Verbose {
		opts.Log = s.opts.Stderr
	}
	switch g := g.(type) {
	case *vmless:
		oses, err := inspect.InspectDisks(ctx, g.disks, opts)
		var fe *inspect.FallbackError
		if errors.As(err, &fe) {
			return nil, &fallbackError{err}
		}
		return oses, err
	case *appliance.Handle:
		oses, err := inspect.InspectAppliance(ctx, g, opts)
		for _, m := range s.mounts {
			if merr := mountOn(ctx, g, m); merr != nil && err == nil {
				err = merr
			}
		}
		return oses, err
	}
	return nil, errors.New("inspection needs the appliance or the VM-less reader")
}

// Inspect runs inspect-os for -i and the tools: it finds the operating
// systems on the session's disks, without the appliance when it can.
func (s *Session) Inspect(ctx context.Context, apps bool) ([]inspect.OS, error) {
	var oses []inspect.OS
	err := s.withGuest(ctx, api.Lookup("inspect-os"), func(g Guest) error {
		var err error
		oses, err = s.inspectGuest(ctx, g, apps)
		return err
	})
	if err == nil {
		s.oses = oses
	}
	return oses, err
}

// inspectCommand answers the inspect-* commands: inspect-os inspects,
// the others read what the last inspect-os found, as in libguestfs.
func (s *Session) inspectCommand(ctx context.Context, g Guest, cmd *api.Command, p *parsedArgs, stdout io.Writer) error {
	if cmd.Name == "inspect-os" {
		oses, err := s.inspectGuest(ctx, g, true)
		if err != nil {
			return err
		}
		s.oses = oses
	}
	var args []string
	for i := range cmd.Args {
		args = append(args, p.str(i))
	}
	res, err := inspect.Command(cmd.Name, s.oses, args)
	if err != nil {
		return err
	}
	if pairs, ok := res.([][2]string); ok {
		flat := []string{}
		for _, kv := range pairs {
			flat = append(flat, kv[0], kv[1])
		}
		res = flat
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return printResult(stdout, cmd, b)
}

func isInspectCommand(name string) bool { return strings.HasPrefix(name, "inspect-") }
