package shell

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"gfs/appliance"
)

// Prepared is a -N disk: an image gfs creates, adds, and partitions and
// formats once the appliance is up.
type Prepared struct {
	File   string
	Type   string
	Params map[string]string
	device string // /dev/sdX once added
	done   bool
}

type preparedType struct {
	name, summary, detail string
	params                []preparedParam
}

type preparedParam struct{ name, def, help string }

var (
	pSize     = preparedParam{"size", "1G", "size of the disk image"}
	pPart     = preparedParam{"partition", "mbr", "partition table type, mbr or gpt"}
	pFS       = preparedParam{"filesystem", "ext2", "filesystem type"}
	pName     = preparedParam{"name", "/dev/VG/LV", "volume group and logical volume, as /dev/VG/LV"}
	pBootFS   = preparedParam{"bootfs", "ext2", "filesystem type of the boot partition"}
	pRootFS   = preparedParam{"rootfs", "ext2", "filesystem type of the root filesystem"}
	pBootSize = preparedParam{"bootsize", "128M", "size of the boot partition"}
)

var preparedTypes = []preparedType{
	{"disk", "a blank disk", "An empty raw disk image.", []preparedParam{pSize}},
	{"part", "a partitioned disk", "A disk with one partition covering it (a little less than the disk).", []preparedParam{pSize, pPart}},
	{"fs", "a disk with a filesystem", "A disk with one partition holding an empty filesystem.", []preparedParam{pFS, pSize, pPart}},
	{"lv", "a disk with a logical volume", "A disk with one partition used as an LVM physical volume, holding a volume group with one logical volume filling it. No filesystem: use lvfs for that.", []preparedParam{pName, pSize, pPart}},
	{"lvfs", "a disk with a filesystem on a logical volume", "As lv, with a filesystem on the logical volume.", []preparedParam{pName, pFS, pSize, pPart}},
	{"bootroot", "a disk with boot and root filesystems", "A disk with two partitions, a boot filesystem on the first and a root filesystem on the second.", []preparedParam{pBootFS, pRootFS, pSize, pBootSize, pPart}},
	{"bootrootlv", "boot and root filesystems, root on LVM", "As bootroot, but the root filesystem is on a logical volume in the second partition.", []preparedParam{pName, pBootFS, pRootFS, pSize, pBootSize, pPart}},
}

// PreparedHelp prints the -N help: every type, its parameters and their
// defaults.
func PreparedHelp(w io.Writer) {
	fmt.Fprintln(w, "Prepared disk images (-N [FILE=]TYPE[:PARAM...]):")
	fmt.Fprintln(w)
	for _, t := range preparedTypes {
		fmt.Fprintf(w, "gfs -N %-10s - %s\n\n", t.name, t.summary)
		fmt.Fprint(w, wrap(t.detail, 72, "  "))
		var syn []string
		for _, p := range t.params {
			syn = append(syn, "<"+p.name+">")
		}
		fmt.Fprintf(w, "\n  Parameters, in order:\n    -N %s:%s\n", t.name, strings.Join(syn, ":"))
		for _, p := range t.params {
			fmt.Fprintf(w, "      <%s> %s (default: %s)\n", p.name, p.help, p.def)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Each -N writes test1.img, test2.img… in the current directory, or FILE")
	fmt.Fprintln(w, "if given (gfs -N blank.img=fs). The disk is added read-write even with")
	fmt.Fprintln(w, "--ro, and gfs starts the appliance to prepare it.")
}

// ParsePrepared parses a -N argument; n is its position (1 for the
// first -N), which names the default file test<n>.img.
func ParsePrepared(arg string, n int) (*Prepared, error) {
	file := fmt.Sprintf("test%d.img", n)
	spec := arg
	if f, rest, ok := strings.Cut(arg, "="); ok {
		file, spec = f, rest
	}
	fields := strings.Split(spec, ":")
	var t *preparedType
	for i := range preparedTypes {
		if preparedTypes[i].name == fields[0] {
			t = &preparedTypes[i]
		}
	}
	if t == nil {
		return nil, fmt.Errorf("-N %s: unknown prepared disk type %q: use -N help to list them", arg, fields[0])
	}
	if len(fields)-1 > len(t.params) {
		return nil, fmt.Errorf("-N %s: too many parameters for %s (it takes %d)", arg, t.name, len(t.params))
	}
	p := &Prepared{File: file, Type: t.name, Params: map[string]string{}}
	for i, pp := range t.params {
		v := pp.def
		if i+1 < len(fields) && fields[i+1] != "" {
			v = fields[i+1]
		}
		p.Params[pp.name] = v
	}
	for _, k := range []string{"size", "bootsize"} {
		if v, ok := p.Params[k]; ok {
			if n, err := ParseInt(v); err != nil || n <= 0 {
				return nil, fmt.Errorf("-N %s: %s: invalid size %q", arg, k, v)
			}
		}
	}
	if name, ok := p.Params["name"]; ok {
		if _, _, err := splitVGLV(name); err != nil {
			return nil, fmt.Errorf("-N %s: %v", arg, err)
		}
	}
	switch p.Params["partition"] {
	case "", "mbr", "msdos", "gpt":
	default:
		return nil, fmt.Errorf("-N %s: partition table type must be mbr or gpt, not %q", arg, p.Params["partition"])
	}
	return p, nil
}

func splitVGLV(name string) (vg, lv string, err error) {
	rest, ok := strings.CutPrefix(name, "/dev/")
	vg, lv, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || vg == "" || lv == "" || strings.Contains(lv, "/") {
		return "", "", fmt.Errorf("the logical volume must be named /dev/VG/LV, not %q", name)
	}
	return vg, lv, nil
}

// AddPrepared creates the image file of a -N disk and adds it; the
// partitions and filesystems are made when the appliance launches.
func (s *Session) AddPrepared(p *Prepared) error {
	size, _ := ParseInt(p.Params["size"])
	path := s.hostPath(p.File)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("-N: %s: %v", p.File, unwrapPath(err))
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("-N: %s: %v", p.File, err)
	}
	if err := s.AddDrive(appliance.Drive{Path: path, Format: "raw", Name: p.File}); err != nil {
		return err
	}
	p.device = "/dev/sd" + diskLetters(len(s.drives)-1)
	s.prepared = append(s.prepared, p)
	return nil
}

func diskLetters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

// build partitions and formats the disk in the running appliance.
func (p *Prepared) build(ctx context.Context, g Guest) error {
	call := func(name string, args ...any) error {
		if _, err := g.Call(ctx, name, args, nil, nil, nil); err != nil {
			return fmt.Errorf("-N %s=%s: %w", p.File, p.Type, err)
		}
		return nil
	}
	dev := p.device
	part := func(n int) string { return fmt.Sprintf("%s%d", dev, n) }
	ptype := p.Params["partition"]
	mkfs := func(fstype, target string) error {
		if fstype == "swap" {
			return call("mkswap", target)
		}
		return call("mkfs", fstype, target)
	}
	lvm := func(pv string) (string, error) {
		vg, lv, _ := splitVGLV(p.Params["name"])
		if err := call("pvcreate", pv); err != nil {
			return "", err
		}
		if err := call("vgcreate", vg, []string{pv}); err != nil {
			return "", err
		}
		if err := call("lvcreate-free", lv, vg, 100); err != nil {
			return "", err
		}
		return "/dev/" + vg + "/" + lv, nil
	}
	switch p.Type {
	case "disk":
		return nil
	case "part":
		return call("part-disk", dev, ptype)
	case "fs":
		if err := call("part-disk", dev, ptype); err != nil {
			return err
		}
		return mkfs(p.Params["filesystem"], part(1))
	case "lv", "lvfs":
		if err := call("part-disk", dev, ptype); err != nil {
			return err
		}
		lv, err := lvm(part(1))
		if err != nil || p.Type == "lv" {
			return err
		}
		return mkfs(p.Params["filesystem"], lv)
	case "bootroot", "bootrootlv":
		bootSize, _ := ParseInt(p.Params["bootsize"])
		bootSectors := bootSize / 512
		if err := call("part-init", dev, ptype); err != nil {
			return err
		}
		if err := call("part-add", dev, "p", int64(64), 64+bootSectors-1); err != nil {
			return err
		}
		if err := call("part-add", dev, "p", 64+bootSectors, int64(-64)); err != nil {
			return err
		}
		if err := mkfs(p.Params["bootfs"], part(1)); err != nil {
			return err
		}
		root := part(2)
		if p.Type == "bootrootlv" {
			var err error
			if root, err = lvm(part(2)); err != nil {
				return err
			}
		}
		return mkfs(p.Params["rootfs"], root)
	}
	return fmt.Errorf("-N: unknown type %s", p.Type)
}
