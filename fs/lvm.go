package fs

// LVM2 volume groups and logical volumes assembled from the PVs found on
// the disks. Linear and striped LVs become io.ReaderAt's mapping LV
// offsets onto PV offsets; every other segment type (thin, raid, mirror,
// snapshot, cache, vdo ...) is reported as unsupported so the caller
// falls back to the appliance, which has the real device-mapper.

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// PV is an LVM physical volume found on a device or partition.
type PV struct {
	Device string // "/dev/sda2"
	UUID   string // LVM's dashed form
	VG     string // volume group name; "" when not (yet) in a VG
}

// VG is an LVM volume group.
type VG struct {
	Name       string
	UUID       string
	ExtentSize int64    // bytes
	PVs        []string // device names
	LVs        []string // "/dev/VG/LV" of supported, visible LVs
}

// LV is a readable (linear or striped) visible logical volume.
type LV struct {
	Name string // "/dev/VG/LV"
	VG   string
	LV   string
	UUID string
	Size int64
}

// MapperName returns the /dev/mapper name of the LV (dashes in VG and LV
// names doubled, as device-mapper names them).
func (l LV) MapperName() string {
	return "/dev/mapper/" + strings.ReplaceAll(l.VG, "-", "--") + "-" + strings.ReplaceAll(l.LV, "-", "--")
}

type pvDev struct {
	dev   blockDev
	label *pvLabel
}

type lvmState struct {
	pvs      []PV
	vgs      []VG
	lvs      []LV
	readers  map[string]*lvReader // by "/dev/VG/LV"
	problems []error
	badLVs   map[string]error // LVs that exist but cannot be read here
}

func (s *lvmState) lvProblem(lv string, err error) {
	if !errors.Is(err, ErrUnsupported) {
		err = fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	err = fmt.Errorf("%s: %w", lv, err)
	s.problems = append(s.problems, err)
	s.badLVs[lv] = err
}

func (s *lvmState) problem(format string, args ...any) {
	s.problems = append(s.problems, unsupportedf(format, args...))
}

// scanLVM finds PVs among the candidate devices and assembles VGs/LVs.
func scanLVM(cands []blockDev) *lvmState {
	s := &lvmState{readers: map[string]*lvReader{}, badLVs: map[string]error{}}
	var pvs []*pvDev
	byUUID := map[string]*pvDev{}
	for _, d := range cands {
		l, err := readPVLabel(d.r, d.size)
		if err != nil {
			s.problem("%s: %v", d.name, err)
			continue
		}
		if l == nil {
			continue
		}
		p := &pvDev{dev: d, label: l}
		if byUUID[l.uuid] != nil {
			s.problem("PV UUID %s appears on both %s and %s", formatLVMUUID(l.uuid), byUUID[l.uuid].dev.name, d.name)
			continue
		}
		byUUID[l.uuid] = p
		pvs = append(pvs, p)
	}

	// The newest metadata copy (highest seqno) of each VG wins.
	type vgMeta struct {
		sec   *lvmSection
		seqno int64
	}
	vgsByID := map[string]*vgMeta{}
	var vgOrder []string
	for _, p := range pvs {
		for _, mda := range p.label.mdas {
			text, err := readMDAText(p.dev.r, p.dev.size, mda)
			if err != nil {
				s.problem("%s: %v", p.dev.name, err)
				continue
			}
			if text == nil {
				continue
			}
			root, err := parseLVMConfig(string(text))
			if err != nil {
				s.problem("%s: %v", p.dev.name, err)
				continue
			}
			for _, vg := range root.sections {
				id, _ := vg.str("id")
				seq, _ := vg.int("seqno")
				if id == "" {
					continue
				}
				if m, ok := vgsByID[id]; !ok || seq > m.seqno {
					if !ok {
						vgOrder = append(vgOrder, id)
					}
					vgsByID[id] = &vgMeta{sec: vg, seqno: seq}
				}
			}
		}
	}
	pvVG := map[string]string{}
	for _, id := range vgOrder {
		s.buildVG(vgsByID[id].sec, byUUID, pvVG)
	}
	for _, p := range pvs {
		s.pvs = append(s.pvs, PV{Device: p.dev.name, UUID: formatLVMUUID(p.label.uuid), VG: pvVG[p.label.uuid]})
	}
	sort.Slice(s.lvs, func(i, j int) bool { return s.lvs[i].Name < s.lvs[j].Name })
	sort.Slice(s.vgs, func(i, j int) bool { return s.vgs[i].Name < s.vgs[j].Name })
	return s
}

// validLVMName accepts what LVM itself allows in VG and LV names; anything
// else (a '/' above all) would make device paths ambiguous.
func validLVMName(n string) bool {
	if n == "" || len(n) > 127 || n[0] == '-' || n == "." || n == ".." {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

type vgPV struct {
	dev      *pvDev
	peStart  int64 // bytes
	peCount  int64
	uuid     string
	deviceNm string
}

func (s *lvmState) buildVG(sec *lvmSection, byUUID map[string]*pvDev, pvVG map[string]string) {
	name := sec.name
	if !validLVMName(name) {
		s.problem("LVM volume group with invalid name %q", name)
		return
	}
	if format, ok := sec.str("format"); ok && format != "lvm2" {
		s.problem("VG %s has metadata format %q", name, format)
		return
	}
	extSectors, _ := sec.int("extent_size")
	if extSectors <= 0 || extSectors > 1<<32 {
		s.problem("VG %s: invalid extent_size %d", name, extSectors)
		return
	}
	ext := extSectors * sectorSize
	id, _ := sec.str("id")
	vg := VG{Name: name, UUID: id, ExtentSize: ext}

	pvs := map[string]*vgPV{}
	if pvsec := sec.section("physical_volumes"); pvsec != nil {
		for _, ps := range pvsec.sections {
			uuid, _ := ps.str("id")
			uuid = strings.ReplaceAll(uuid, "-", "")
			peStart, _ := ps.int("pe_start")
			peCount, _ := ps.int("pe_count")
			v := &vgPV{uuid: uuid, peStart: peStart * sectorSize, peCount: peCount}
			if d := byUUID[uuid]; d != nil {
				v.dev = d
				pvVG[uuid] = name
				vg.PVs = append(vg.PVs, d.dev.name)
				if peStart < 0 || peCount < 0 || peStart > 1<<50 || peCount > 1<<40 ||
					v.peStart+peCount*ext > d.dev.size {
					s.problem("VG %s: PV %s extents lie outside the device", name, d.dev.name)
					v.dev = nil
				}
			}
			pvs[ps.name] = v
		}
	}

	lvsec := sec.section("logical_volumes")
	if lvsec == nil {
		s.vgs = append(s.vgs, vg)
		return
	}
	// Snapshot exception stores are visible LVs whose raw contents are
	// not the snapshot: find them first so they are refused, not read.
	cowStores := map[string]bool{}
	for _, l := range lvsec.sections {
		for _, seg := range l.sections {
			if t, _ := seg.str("type"); t == "snapshot" {
				if c, ok := seg.str("cow_store"); ok {
					cowStores[c] = true
				}
			}
		}
	}
	for _, l := range lvsec.sections {
		status := l.flags("status")
		if !status["VISIBLE"] || l.flags("flags")["ACTIVATION_SKIP"] {
			continue // hidden sub-LVs and skip-activation LVs: not in libguestfs' lvs either
		}
		full := "/dev/" + name + "/" + l.name
		if !validLVMName(l.name) {
			s.problem("VG %s: LV with invalid name %q", name, l.name)
			continue
		}
		if cowStores[l.name] {
			s.lvProblem(full, unsupportedf("LVM snapshot"))
			continue
		}
		r, err := buildLV(l, pvs, ext)
		if err != nil {
			s.lvProblem(full, err)
			continue
		}
		lid, _ := l.str("id")
		s.lvs = append(s.lvs, LV{Name: full, VG: name, LV: l.name, UUID: lid, Size: r.size})
		s.readers[full] = r
		vg.LVs = append(vg.LVs, full)
	}
	sort.Strings(vg.LVs)
	s.vgs = append(s.vgs, vg)
}

type lvStripe struct {
	pv       *vgPV
	startExt int64
}

type lvSegment struct {
	start, length int64 // bytes within the LV
	stripeSize    int64 // bytes; 0 for a single stripe
	stripes       []lvStripe
}

// lvReader maps LV offsets to PV offsets, segment by segment.
type lvReader struct {
	size int64
	ext  int64
	segs []lvSegment
}

func buildLV(l *lvmSection, pvs map[string]*vgPV, ext int64) (*lvReader, error) {
	r := &lvReader{ext: ext}
	count, _ := l.int("segment_count")
	if count <= 0 || count > 1<<16 {
		return nil, fmt.Errorf("invalid segment_count %d: %w", count, ErrCorrupt)
	}
	var next int64 // extents
	for i := int64(1); i <= count; i++ {
		seg := l.section(fmt.Sprintf("segment%d", i))
		if seg == nil {
			return nil, fmt.Errorf("segment%d missing: %w", i, ErrCorrupt)
		}
		typ, _ := seg.str("type")
		if typ != "striped" {
			return nil, fmt.Errorf("segment type %q: %w", typ, ErrUnsupported)
		}
		start, _ := seg.int("start_extent")
		n, _ := seg.int("extent_count")
		nstripes, _ := seg.int("stripe_count")
		if start != next || n <= 0 || n > 1<<40 || nstripes <= 0 || nstripes > 128 || n%nstripes != 0 {
			return nil, fmt.Errorf("segment%d: bad extents (start %d count %d stripes %d): %w", i, start, n, nstripes, ErrCorrupt)
		}
		list, ok := seg.values["stripes"]
		if !ok || !list.isArr || int64(len(list.arr)) != 2*nstripes {
			return nil, fmt.Errorf("segment%d: stripes list does not match stripe_count: %w", i, ErrCorrupt)
		}
		s := lvSegment{start: start * ext, length: n * ext}
		if nstripes > 1 {
			ss, _ := seg.int("stripe_size")
			s.stripeSize = ss * sectorSize
			if ss <= 0 || ss&(ss-1) != 0 || s.stripeSize > ext {
				return nil, fmt.Errorf("segment%d: bad stripe_size %d: %w", i, ss, ErrCorrupt)
			}
		}
		perStripe := n / nstripes
		for k := 0; k < int(nstripes); k++ {
			pvName, pe := list.arr[2*k], list.arr[2*k+1]
			pv := pvs[pvName.str]
			if pvName.isNum || !pe.isNum || pv == nil {
				return nil, fmt.Errorf("segment%d: bad stripe %d: %w", i, k, ErrCorrupt)
			}
			if pv.dev == nil {
				return nil, fmt.Errorf("physical volume %s (UUID %s) is missing: %w", pvName.str, formatLVMUUID(pv.uuid), ErrUnsupported)
			}
			if pe.num < 0 || pe.num+perStripe > pv.peCount {
				return nil, fmt.Errorf("segment%d: extents beyond the end of %s: %w", i, pv.dev.dev.name, ErrCorrupt)
			}
			s.stripes = append(s.stripes, lvStripe{pv: pv, startExt: pe.num})
		}
		r.segs = append(r.segs, s)
		next += n
	}
	r.size = next * ext
	return r, nil
}

func (r *lvReader) ReadAt(p []byte, off int64) (n int, err error) {
	defer guard(&err, "LV read")
	if off < 0 {
		return 0, fmt.Errorf("LV: negative offset")
	}
	for len(p) > 0 {
		if off >= r.size {
			return n, io.EOF
		}
		i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].start+r.segs[i].length > off })
		s := &r.segs[i]
		o := off - s.start
		st := s.stripes[0]
		var pvOff, run int64
		if len(s.stripes) == 1 {
			pvOff = st.startExt*r.ext + o
			run = s.length - o
		} else {
			// Chunks of stripeSize go round-robin over the stripes.
			chunk := o / s.stripeSize
			st = s.stripes[chunk%int64(len(s.stripes))]
			row := chunk / int64(len(s.stripes))
			pvOff = st.startExt*r.ext + row*s.stripeSize + o%s.stripeSize
			run = s.stripeSize - o%s.stripeSize
		}
		m := int(min(run, int64(len(p))))
		got, err := st.pv.dev.dev.r.ReadAt(p[:m], st.pv.peStart+pvOff)
		n += got
		if err != nil && !(err == io.EOF && got == m) {
			return n, err
		}
		p = p[m:]
		off += int64(m)
	}
	return n, nil
}
