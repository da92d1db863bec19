package inspect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The rpm database, read without librpm: the package headers are blobs
// in either a SQLite table (rpm ≥ 4.16: RHEL 9, Fedora ≥ 33,
// rpmdb.sqlite) or a BerkeleyDB hash file (RHEL ≤ 8: Packages). Both
// readers are small, read-only and bounded. The NDB backend
// (Packages.db, SUSE) is not read.

var errRPMDB = errors.New("unreadable rpm database")

func rpmApplications(v *fsView) ([]Application, error) {
	var blobs [][]byte
	var err error
	switch {
	case v.isFileFollow("/var/lib/rpm/rpmdb.sqlite"):
		b, ok := v.read("/var/lib/rpm/rpmdb.sqlite", pkgDBLimit)
		if !ok {
			return nil, fmt.Errorf("%w: rpmdb.sqlite too large or unreadable", errRPMDB)
		}
		blobs, err = sqliteTableBlobs(b, "Packages", 1)
	case v.isFileFollow("/usr/lib/sysimage/rpm/rpmdb.sqlite"):
		b, ok := v.read("/usr/lib/sysimage/rpm/rpmdb.sqlite", pkgDBLimit)
		if !ok {
			return nil, fmt.Errorf("%w: rpmdb.sqlite too large or unreadable", errRPMDB)
		}
		blobs, err = sqliteTableBlobs(b, "Packages", 1)
	case v.isFileFollow("/var/lib/rpm/Packages"):
		b, ok := v.read("/var/lib/rpm/Packages", pkgDBLimit)
		if !ok {
			return nil, fmt.Errorf("%w: Packages too large or unreadable", errRPMDB)
		}
		blobs, err = bdbHashValues(b)
	default:
		return nil, fmt.Errorf("%w: no rpmdb.sqlite or BerkeleyDB Packages file", errRPMDB)
	}
	if err != nil {
		return nil, err
	}
	var apps []Application
	for _, blob := range blobs {
		if len(apps) >= maxApps {
			break
		}
		if a, ok := rpmHeaderApp(blob); ok {
			apps = append(apps, a)
		}
	}
	return apps, nil
}

// RPM header tags and types.
const (
	rpmTagName        = 1000
	rpmTagVersion     = 1001
	rpmTagRelease     = 1002
	rpmTagEpoch       = 1003
	rpmTagSummary     = 1004
	rpmTagDescription = 1005
	rpmTagURL         = 1020
	rpmTagArch        = 1022
	rpmInt32          = 4
	rpmString         = 6
	rpmStringArray    = 8
	rpmI18NString     = 9
)

// rpmHeaderApp decodes one header blob as stored in the database: index
// count, data length, index entries, data store. Missing strings read
// "(none)", as librpm's header formatting prints them.
func rpmHeaderApp(b []byte) (Application, bool) {
	if len(b) < 8 {
		return Application{}, false
	}
	il := binary.BigEndian.Uint32(b)
	dl := binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > 1<<16 || dl > 1<<28 || 8+16*uint64(il)+uint64(dl) > uint64(len(b)) {
		return Application{}, false
	}
	store := b[8+16*int(il) : 8+16*int(il)+int(dl)]
	strs := map[uint32]string{}
	epoch := 0
	for i := 0; i < int(il); i++ {
		e := b[8+16*i:]
		tag, typ := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
		off, cnt := binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
		if off >= uint32(len(store)) || cnt == 0 {
			continue
		}
		switch tag {
		case rpmTagName, rpmTagVersion, rpmTagRelease, rpmTagSummary, rpmTagDescription, rpmTagURL, rpmTagArch:
			if typ != rpmString && typ != rpmI18NString && typ != rpmStringArray {
				continue
			}
			s := store[off:]
			if n := strings.IndexByte(string(s), 0); n >= 0 {
				s = s[:n]
			}
			strs[tag] = string(s)
		case rpmTagEpoch:
			if typ == rpmInt32 && int(off)+4 <= len(store) {
				epoch = int(int32(binary.BigEndian.Uint32(store[off:])))
			}
		}
	}
	get := func(t uint32) string {
		if s, ok := strs[t]; ok {
			return s
		}
		return "(none)"
	}
	if _, ok := strs[rpmTagName]; !ok {
		return Application{}, false
	}
	return Application{
		Name: strs[rpmTagName], Epoch: epoch, Version: get(rpmTagVersion), Release: get(rpmTagRelease),
		Arch: get(rpmTagArch), URL: get(rpmTagURL), Summary: get(rpmTagSummary), Description: get(rpmTagDescription),
	}, true
}

// ---- SQLite ----

type sqliteDB struct {
	b        []byte
	pageSize int
	usable   int
	visited  map[uint32]bool
	cells    int
	// budget bounds the payload bytes assembled: a real database stores
	// each byte once, so more than its size means shared or looping
	// overflow chains.
	budget int64
}

const maxSQLiteCells = 1 << 20

// sqliteTableBlobs returns column col of every row of a table, for
// columns holding blobs or text.
func sqliteTableBlobs(b []byte, table string, col int) ([][]byte, error) {
	if len(b) < 100 || string(b[:16]) != "SQLite format 3\x00" {
		return nil, fmt.Errorf("%w: not a SQLite database", errRPMDB)
	}
	ps := int(binary.BigEndian.Uint16(b[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%w: bad page size", errRPMDB)
	}
	db := &sqliteDB{b: b, pageSize: ps, usable: ps - int(b[20]), budget: 2*int64(len(b)) + 1<<20}
	if db.usable < 480 {
		return nil, fmt.Errorf("%w: bad reserved size", errRPMDB)
	}
	// sqlite_master: type, name, tbl_name, rootpage, sql.
	var root uint32
	db.visited = map[uint32]bool{}
	err := db.walk(1, 0, func(rec []byte) error {
		vals, err := sqliteRecord(rec)
		if err != nil || len(vals) < 4 {
			return nil
		}
		if string(vals[0].data) == "table" && string(vals[1].data) == table && vals[3].isInt {
			root = uint32(vals[3].n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if root == 0 {
		return nil, fmt.Errorf("%w: no %s table", errRPMDB, table)
	}
	var out [][]byte
	db.visited = map[uint32]bool{}
	err = db.walk(root, 0, func(rec []byte) error {
		vals, err := sqliteRecord(rec)
		if err != nil {
			return err
		}
		if col < len(vals) && vals[col].data != nil {
			out = append(out, vals[col].data)
		}
		return nil
	})
	return out, err
}

func (db *sqliteDB) page(n uint32) ([]byte, int, bool) {
	off := int64(n-1) * int64(db.pageSize)
	if n == 0 || off+int64(db.pageSize) > int64(len(db.b)) {
		return nil, 0, false
	}
	hdr := 0
	if n == 1 {
		hdr = 100
	}
	return db.b[off : off+int64(db.pageSize)], hdr, true
}

// walk visits the records of a table b-tree in rowid order.
func (db *sqliteDB) walk(pgno uint32, depth int, fn func(rec []byte) error) error {
	if depth > 40 || db.visited[pgno] {
		return fmt.Errorf("%w: b-tree loop", errRPMDB)
	}
	db.visited[pgno] = true
	p, h, ok := db.page(pgno)
	if !ok || h+8 > len(p) {
		return fmt.Errorf("%w: bad page %d", errRPMDB, pgno)
	}
	typ := p[h]
	ncells := int(binary.BigEndian.Uint16(p[h+3:]))
	hdrLen := 8
	if typ == 0x05 {
		hdrLen = 12
	} else if typ != 0x0d {
		return fmt.Errorf("%w: page %d is not a table page", errRPMDB, pgno)
	}
	if h+hdrLen+2*ncells > len(p) {
		return fmt.Errorf("%w: bad cell count", errRPMDB)
	}
	for i := 0; i < ncells; i++ {
		db.cells++
		if db.cells > maxSQLiteCells {
			return fmt.Errorf("%w: too many cells", errRPMDB)
		}
		co := int(binary.BigEndian.Uint16(p[h+hdrLen+2*i:]))
		if co >= db.usable {
			return fmt.Errorf("%w: bad cell offset", errRPMDB)
		}
		c := p[co:db.usable]
		if typ == 0x05 {
			if len(c) < 4 {
				return fmt.Errorf("%w: bad interior cell", errRPMDB)
			}
			if err := db.walk(binary.BigEndian.Uint32(c), depth+1, fn); err != nil {
				return err
			}
			continue
		}
		rec, err := db.leafPayload(c)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if typ == 0x05 {
		return db.walk(binary.BigEndian.Uint32(p[h+8:]), depth+1, fn)
	}
	return nil
}

// leafPayload assembles a table leaf cell's payload, following overflow.
func (db *sqliteDB) leafPayload(c []byte) ([]byte, error) {
	size, n1 := sqliteVarint(c)
	_, n2 := sqliteVarint(c[n1:])
	if n1 == 0 || n2 == 0 || size < 0 || size > pkgDBLimit || size > db.budget {
		return nil, fmt.Errorf("%w: bad cell", errRPMDB)
	}
	db.budget -= size
	c = c[n1+n2:]
	u := int64(db.usable)
	x := u - 35
	local := size
	if size > x {
		m := (u-12)*32/255 - 23
		k := m + (size-m)%(u-4)
		if k <= x {
			local = k
		} else {
			local = m
		}
	}
	if local > int64(len(c)) {
		return nil, fmt.Errorf("%w: cell overflows page", errRPMDB)
	}
	out := make([]byte, 0, size)
	out = append(out, c[:local]...)
	if local == size {
		return out, nil
	}
	if int64(len(c)) < local+4 {
		return nil, fmt.Errorf("%w: missing overflow pointer", errRPMDB)
	}
	next := binary.BigEndian.Uint32(c[local:])
	seen := map[uint32]bool{}
	for int64(len(out)) < size {
		if next == 0 || seen[next] {
			return nil, fmt.Errorf("%w: broken overflow chain", errRPMDB)
		}
		seen[next] = true
		p, _, ok := db.page(next)
		if !ok {
			return nil, fmt.Errorf("%w: bad overflow page", errRPMDB)
		}
		n := min(size-int64(len(out)), u-4)
		out = append(out, p[4:4+n]...)
		next = binary.BigEndian.Uint32(p)
	}
	return out, nil
}

func sqliteVarint(b []byte) (int64, int) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		if i == 8 {
			return int64(v<<8 | uint64(b[i])), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return int64(v), i + 1
		}
	}
	return 0, 0
}

type sqliteValue struct {
	isInt bool
	n     int64
	data  []byte // blob or text; nil for NULL and numbers
}

func sqliteRecord(rec []byte) ([]sqliteValue, error) {
	hl, n := sqliteVarint(rec)
	if n == 0 || hl < int64(n) || hl > int64(len(rec)) {
		return nil, fmt.Errorf("%w: bad record", errRPMDB)
	}
	hdr := rec[n:hl]
	body := rec[hl:]
	var out []sqliteValue
	for len(hdr) > 0 && len(out) < 1000 {
		st, k := sqliteVarint(hdr)
		if k == 0 {
			return nil, fmt.Errorf("%w: bad record header", errRPMDB)
		}
		hdr = hdr[k:]
		var size int64
		switch {
		case st == 0, st == 8, st == 9:
			size = 0
		case st >= 1 && st <= 4:
			size = st
		case st == 5:
			size = 6
		case st == 6, st == 7:
			size = 8
		case st >= 12:
			size = (st - 12) / 2
		default:
			return nil, fmt.Errorf("%w: bad serial type", errRPMDB)
		}
		if size > int64(len(body)) {
			return nil, fmt.Errorf("%w: record overflows", errRPMDB)
		}
		v := sqliteValue{}
		switch {
		case st >= 1 && st <= 6:
			var x int64
			for _, c := range body[:size] {
				x = x<<8 | int64(c)
			}
			shift := 64 - 8*uint(size)
			v.isInt, v.n = true, x<<shift>>shift
		case st == 8, st == 9:
			v.isInt, v.n = true, st-8
		case st >= 12:
			v.data = body[:size:size]
		}
		body = body[size:]
		out = append(out, v)
	}
	return out, nil
}

// ---- BerkeleyDB hash ----

const (
	bdbHashMagic = 0x061561
	bdbPHash     = 13
	bdbPHashU    = 2
	bdbPOverflow = 7
	bdbHKeyData  = 1
	bdbHOffPage  = 3
	bdbPageHdr   = 26
)

// bdbHashValues returns the data items of a BerkeleyDB hash database
// whose keys are not the 4-byte zero record (rpm's instance counter).
func bdbHashValues(b []byte) ([][]byte, error) {
	if len(b) < 512 {
		return nil, fmt.Errorf("%w: short BerkeleyDB file", errRPMDB)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(b[12:]) == bdbHashMagic:
	case binary.BigEndian.Uint32(b[12:]) == bdbHashMagic:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: not a BerkeleyDB hash database", errRPMDB)
	}
	ps := int(bo.Uint32(b[20:]))
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("%w: bad page size", errRPMDB)
	}
	if b[24] != 0 {
		return nil, fmt.Errorf("%w: encrypted BerkeleyDB database", errRPMDB)
	}
	npages := len(b) / ps
	budget := 2*int64(len(b)) + 1<<20
	page := func(n uint32) []byte {
		if int(n) >= npages {
			return nil
		}
		return b[int(n)*ps : int(n+1)*ps]
	}
	overflow := func(pgno uint32, tlen uint32) ([]byte, error) {
		if tlen > pkgDBLimit || int64(tlen) > budget {
			return nil, fmt.Errorf("%w: overflow item too large", errRPMDB)
		}
		budget -= int64(tlen)
		out := make([]byte, 0, tlen)
		seen := map[uint32]bool{}
		for uint32(len(out)) < tlen {
			p := page(pgno)
			if p == nil || seen[pgno] || p[25] != bdbPOverflow {
				return nil, fmt.Errorf("%w: broken overflow chain", errRPMDB)
			}
			seen[pgno] = true
			used := int(bo.Uint16(p[22:]))
			if bdbPageHdr+used > ps {
				return nil, fmt.Errorf("%w: bad overflow page", errRPMDB)
			}
			out = append(out, p[bdbPageHdr:bdbPageHdr+used]...)
			pgno = bo.Uint32(p[16:])
			if pgno == 0 {
				break
			}
		}
		if uint32(len(out)) < tlen {
			return nil, fmt.Errorf("%w: short overflow item", errRPMDB)
		}
		return out[:tlen], nil
	}
	item := func(p []byte, offs []int, i int) ([]byte, error) {
		start := offs[i]
		end := ps
		if i > 0 {
			end = offs[i-1]
		}
		if start < bdbPageHdr || start >= end || end > ps {
			return nil, fmt.Errorf("%w: bad item offset", errRPMDB)
		}
		it := p[start:end]
		switch it[0] {
		case bdbHKeyData:
			return it[1:], nil
		case bdbHOffPage:
			if len(it) < 12 {
				return nil, fmt.Errorf("%w: bad off-page item", errRPMDB)
			}
			return overflow(bo.Uint32(it[4:]), bo.Uint32(it[8:]))
		}
		return nil, nil // duplicates are not used by rpm
	}
	var out [][]byte
	for n := 1; n < npages; n++ {
		p := page(uint32(n))
		if p[25] != bdbPHash && p[25] != bdbPHashU {
			continue
		}
		cnt := int(bo.Uint16(p[20:]))
		if bdbPageHdr+2*cnt > ps {
			return nil, fmt.Errorf("%w: bad entry count", errRPMDB)
		}
		offs := make([]int, cnt)
		for i := range offs {
			offs[i] = int(bo.Uint16(p[bdbPageHdr+2*i:]))
		}
		for i := 0; i+1 < cnt; i += 2 {
			key, err := item(p, offs, i)
			if err != nil {
				return nil, err
			}
			val, err := item(p, offs, i+1)
			if err != nil {
				return nil, err
			}
			if len(key) == 4 && string(key) == "\x00\x00\x00\x00" {
				continue
			}
			if len(val) >= 8 {
				out = append(out, val)
			}
			if len(out) > maxApps {
				return out, nil
			}
		}
	}
	return out, nil
}
