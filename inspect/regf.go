package inspect

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
)

// A minimal, read-only, bounded parser for Windows registry hive files
// (regf), enough to read keys, values and strings. Every offset is
// checked: a crafted hive yields errors or missing keys, never a panic.

const (
	maxHiveSize    = 256 << 20
	hbinStart      = 4096
	maxSubkeys     = 1 << 16
	maxValues      = 1 << 16
	regSZ          = 1
	regExpandSZ    = 2
	regBinary      = 3
	regDWORD       = 4
	regDWORDBE     = 5
	regMultiSZ     = 7
	keyCompName    = 0x20
	valueCompName  = 0x1
	bigDataSegment = 16344
)

var errHive = errors.New("invalid registry hive")

type hive struct {
	b    []byte
	root uint32
	// budget bounds the cells read over the hive's lifetime: crafted
	// lists that point at each other cannot make lookups quadratic.
	budget int
}

const hiveCellBudget = 1 << 20

type hiveValue struct {
	name string
	typ  uint32
	cell uint32 // offset of the vk cell
}

func openHive(b []byte) (*hive, error) {
	if len(b) < hbinStart+32 || string(b[:4]) != "regf" {
		return nil, errHive
	}
	h := &hive{b: b, root: binary.LittleEndian.Uint32(b[0x24:]), budget: hiveCellBudget}
	if _, ok := h.cell(h.root, "nk"); !ok {
		return nil, errHive
	}
	return h, nil
}

// cell returns the data of the cell at a hive offset (after its size
// field), checking its signature if sig is not empty.
func (h *hive) cell(off uint32, sig string) ([]byte, bool) {
	if h.budget <= 0 {
		return nil, false
	}
	h.budget--
	abs := int64(off) + hbinStart
	if off == 0xffffffff || abs+4 > int64(len(h.b)) {
		return nil, false
	}
	size := int32(binary.LittleEndian.Uint32(h.b[abs:]))
	if size < 0 {
		size = -size
	}
	end := abs + int64(size)
	if size < 4+int32(len(sig)) || end > int64(len(h.b)) {
		return nil, false
	}
	data := h.b[abs+4 : end]
	if sig != "" && string(data[:len(sig)]) != sig {
		return nil, false
	}
	return data, true
}

func le32(b []byte, off int) (uint32, bool) {
	if off < 0 || off+4 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[off:]), true
}

func le16(b []byte, off int) (uint16, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b[off:]), true
}

func decodeName(b []byte, ascii bool) string {
	if ascii {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c) // Latin-1
		}
		return string(r)
	}
	return utf16String(b)
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

func (h *hive) keyName(nk uint32) string {
	d, ok := h.cell(nk, "nk")
	if !ok {
		return ""
	}
	flags, _ := le16(d, 2)
	n, ok := le16(d, 72)
	if !ok || 76+int(n) > len(d) {
		return ""
	}
	return decodeName(d[76:76+int(n)], flags&keyCompName != 0)
}

// children lists the subkeys of a key.
func (h *hive) children(nk uint32) []uint32 {
	d, ok := h.cell(nk, "nk")
	if !ok {
		return nil
	}
	n, _ := le32(d, 20)
	list, ok := le32(d, 28)
	if !ok || n == 0 {
		return nil
	}
	var out []uint32
	h.subkeyList(list, &out, 0)
	return out
}

func (h *hive) subkeyList(off uint32, out *[]uint32, depth int) {
	if depth > 4 || len(*out) >= maxSubkeys {
		return
	}
	d, ok := h.cell(off, "")
	if !ok || len(d) < 4 {
		return
	}
	n, _ := le16(d, 2)
	switch string(d[:2]) {
	case "lf", "lh":
		for i := 0; i < int(n) && len(*out) < maxSubkeys; i++ {
			if o, ok := le32(d, 4+8*i); ok {
				*out = append(*out, o)
			}
		}
	case "li":
		for i := 0; i < int(n) && len(*out) < maxSubkeys; i++ {
			if o, ok := le32(d, 4+4*i); ok {
				*out = append(*out, o)
			}
		}
	case "ri":
		for i := 0; i < int(n); i++ {
			if o, ok := le32(d, 4+4*i); ok {
				h.subkeyList(o, out, depth+1)
			}
		}
	}
}

// child finds a subkey by name, case-insensitively.
func (h *hive) child(nk uint32, name string) (uint32, bool) {
	for _, c := range h.children(nk) {
		if strings.EqualFold(h.keyName(c), name) {
			return c, true
		}
	}
	return 0, false
}

// path walks from the root key.
func (h *hive) path(names ...string) (uint32, bool) {
	n := h.root
	for _, name := range names {
		var ok bool
		if n, ok = h.child(n, name); !ok {
			return 0, false
		}
	}
	return n, true
}

func (h *hive) values(nk uint32) []hiveValue {
	d, ok := h.cell(nk, "nk")
	if !ok {
		return nil
	}
	n, _ := le32(d, 36)
	list, ok := le32(d, 40)
	if !ok || n == 0 || n > maxValues {
		return nil
	}
	ld, ok := h.cell(list, "")
	if !ok {
		return nil
	}
	var out []hiveValue
	for i := 0; i < int(n); i++ {
		vo, ok := le32(ld, 4*i)
		if !ok {
			break
		}
		vd, ok := h.cell(vo, "vk")
		if !ok || len(vd) < 20 {
			continue
		}
		nl, _ := le16(vd, 2)
		typ, _ := le32(vd, 12)
		flags, _ := le16(vd, 16)
		if 20+int(nl) > len(vd) {
			continue
		}
		out = append(out, hiveValue{name: decodeName(vd[20:20+int(nl)], flags&valueCompName != 0), typ: typ, cell: vo})
	}
	return out
}

func (h *hive) value(nk uint32, name string) (hiveValue, bool) {
	for _, v := range h.values(nk) {
		if strings.EqualFold(v.name, name) {
			return v, true
		}
	}
	return hiveValue{}, false
}

// valueData returns the raw bytes of a value.
func (h *hive) valueData(v hiveValue) ([]byte, bool) {
	vd, ok := h.cell(v.cell, "vk")
	if !ok {
		return nil, false
	}
	size, _ := le32(vd, 4)
	off, _ := le32(vd, 8)
	if size&0x80000000 != 0 {
		n := int(size & 0x7fffffff)
		if n > 4 {
			return nil, false
		}
		return vd[8 : 8+n], true
	}
	if size > maxHiveSize {
		return nil, false
	}
	d, ok := h.cell(off, "")
	if !ok {
		return nil, false
	}
	if int(size) <= len(d) {
		return d[:size], true
	}
	// Big data: "db", segment count, offset of the segment list.
	if len(d) < 8 || string(d[:2]) != "db" {
		return nil, false
	}
	cnt, _ := le16(d, 2)
	lo, _ := le32(d, 4)
	ld, ok := h.cell(lo, "")
	if !ok {
		return nil, false
	}
	out := make([]byte, 0, size)
	for i := 0; i < int(cnt) && len(out) < int(size); i++ {
		so, ok := le32(ld, 4*i)
		if !ok {
			return nil, false
		}
		sd, ok := h.cell(so, "")
		if !ok {
			return nil, false
		}
		n := min(len(sd), bigDataSegment, int(size)-len(out))
		out = append(out, sd[:n]...)
	}
	if len(out) != int(size) {
		return nil, false
	}
	return out, true
}

// stringValue reads a REG_SZ / REG_EXPAND_SZ value as hivex's
// value_string does (UTF-16LE, trailing NULs dropped).
func (h *hive) stringValue(nk uint32, name string) (string, bool) {
	v, ok := h.value(nk, name)
	if !ok || (v.typ != regSZ && v.typ != regExpandSZ) {
		return "", false
	}
	b, ok := h.valueData(v)
	if !ok {
		return "", false
	}
	return utf16String(b), true
}

func (h *hive) dwordValue(nk uint32, name string) (uint32, bool) {
	v, ok := h.value(nk, name)
	if !ok || (v.typ != regDWORD && v.typ != regDWORDBE) {
		return 0, false
	}
	b, ok := h.valueData(v)
	if !ok || len(b) < 4 {
		return 0, false
	}
	if v.typ == regDWORDBE {
		return binary.BigEndian.Uint32(b), true
	}
	return binary.LittleEndian.Uint32(b), true
}
