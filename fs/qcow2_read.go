package fs

// Read-only qcow2 reader, data side: translating guest offsets through
// the L1/L2 tables (standard or extended with subclusters), reading
// allocated clusters, zero clusters, compressed clusters, and falling
// through to the backing image (or zeros) for unallocated ones.

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

const (
	qcowOffsetMask = 0x00fffffffffffe00 // bits 9..55 of L1/L2 entries
	qcowCompressed = 1 << 62
	qcowZeroFlag   = 1 << 0
)

// chunk kinds produced by mapping one guest range.
const (
	chunkData       = iota // read from the image file at host
	chunkZero              // reads as zeros
	chunkBacking           // unallocated: backing file or zeros
	chunkCompressed        // compressed cluster starting at host
)

type qchunk struct {
	kind  int
	host  int64  // chunkData: file offset of the first byte
	entry uint64 // chunkCompressed: the L2 entry
	n     int64  // bytes of guest data covered
}

func (q *qcow2) ReadAt(p []byte, off int64) (n int, err error) {
	defer guard(&err, "qcow2 "+q.path)
	if off < 0 {
		return 0, fmt.Errorf("qcow2 %s: negative offset %d", q.path, off)
	}
	if off >= q.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > q.size-off {
		p = p[:q.size-off]
	}
	// Consecutive data chunks that are also consecutive in the file are
	// merged into one read: most images are laid out linearly.
	var run qchunk
	runBuf := p[:0]
	flush := func() error {
		if run.n == 0 {
			return nil
		}
		err := q.readData(runBuf, run.host)
		run.n = 0
		return err
	}
	for len(p) > 0 {
		c, err := q.mapChunk(off, int64(len(p)))
		if err != nil {
			return n, err
		}
		if c.kind == chunkData && run.n > 0 && run.host+run.n == c.host {
			run.n += c.n
			runBuf = runBuf[:len(runBuf)+int(c.n)]
		} else {
			if err := flush(); err != nil {
				return n, err
			}
			if c.kind == chunkData {
				run = c
				runBuf = p[:c.n]
			} else if err := q.readChunk(p[:c.n], off, c); err != nil {
				return n, err
			}
		}
		n += int(c.n)
		off += c.n
		p = p[c.n:]
		if c.kind != chunkData {
			runBuf = p[:0]
		}
	}
	if err := flush(); err != nil {
		return 0, err
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// readData reads allocated guest data from the file. Bytes past the end
// of the file read as zeros, as QEMU does for a truncated image.
func (q *qcow2) readData(p []byte, host int64) error {
	m, err := q.f.ReadAt(p, host)
	if err == io.EOF || (err == nil && m < len(p)) {
		clear(p[m:])
		return nil
	}
	return err
}

func (q *qcow2) readChunk(p []byte, off int64, c qchunk) error {
	switch c.kind {
	case chunkZero:
		clear(p)
	case chunkBacking:
		clear(p)
		if q.backing != nil && off < q.backing.Size() {
			m := min(int64(len(p)), q.backing.Size()-off)
			if _, err := q.backing.ReadAt(p[:m], off); err != nil && err != io.EOF {
				return err
			}
		}
	case chunkCompressed:
		data, err := q.decompressCluster(c.entry)
		if err != nil {
			return err
		}
		in := off & (q.clusterSize - 1)
		copy(p, data[in:])
	}
	return nil
}

// mapChunk maps the guest range starting at off (at most max bytes) to
// the longest prefix that lies within one cluster (or subcluster) and has
// a single kind.
func (q *qcow2) mapChunk(off, max int64) (qchunk, error) {
	cs := q.clusterSize
	in := off & (cs - 1)
	n := min(cs-in, max)
	ci := off >> q.clusterBits
	l1i := ci / q.l2Entries
	if l1i >= int64(len(q.l1)) {
		return qchunk{kind: chunkBacking, n: n}, nil
	}
	l2off := int64(q.l1[l1i] & qcowOffsetMask)
	if l2off == 0 {
		return qchunk{kind: chunkBacking, n: n}, nil
	}
	l2, err := q.l2Table(l2off)
	if err != nil {
		return qchunk{}, err
	}
	l2i := ci % q.l2Entries
	var entry, bitmap uint64
	if q.extL2 {
		entry, bitmap = l2[2*l2i], l2[2*l2i+1]
	} else {
		entry = l2[l2i]
	}
	if entry&qcowCompressed != 0 {
		return qchunk{kind: chunkCompressed, entry: entry, n: n}, nil
	}
	host := int64(entry & qcowOffsetMask)
	if host&(cs-1) != 0 {
		return qchunk{}, corruptf("qcow2 %s: data cluster offset %#x is not cluster aligned", q.path, host)
	}
	if !q.extL2 {
		switch {
		case entry&qcowZeroFlag != 0:
			return qchunk{kind: chunkZero, n: n}, nil
		case host == 0:
			return qchunk{kind: chunkBacking, n: n}, nil
		}
		return qchunk{kind: chunkData, host: host + in, n: n}, nil
	}
	// Extended L2: 32 subclusters, each allocated, zero, or unallocated.
	// Extend the chunk over following subclusters of the same state.
	sub := cs / 32
	si := in / sub
	state := func(i int64) (int, error) {
		alloc, zero := bitmap>>i&1 != 0, bitmap>>(32+i)&1 != 0
		switch {
		case alloc && zero:
			return 0, corruptf("qcow2 %s: subcluster both allocated and zero", q.path)
		case zero:
			return chunkZero, nil
		case alloc:
			if host == 0 {
				return 0, corruptf("qcow2 %s: allocated subcluster without a host cluster", q.path)
			}
			return chunkData, nil
		}
		return chunkBacking, nil
	}
	kind, err := state(si)
	if err != nil {
		return qchunk{}, err
	}
	end := (si + 1) * sub
	for j := si + 1; j < 32 && end < in+n; j++ {
		k, err := state(j)
		if err != nil || k != kind {
			break
		}
		end += sub
	}
	n = min(n, end-in)
	if kind == chunkData {
		return qchunk{kind: chunkData, host: host + in, n: n}, nil
	}
	return qchunk{kind: kind, n: n}, nil
}

// l2Table returns the decoded L2 table at host offset off (cached).
func (q *qcow2) l2Table(off int64) ([]uint64, error) {
	if t, ok := q.l2cache.get(off); ok {
		return t, nil
	}
	cs := q.clusterSize
	if off&(cs-1) != 0 || off > q.fileSize-cs {
		return nil, corruptf("qcow2 %s: L2 table at %#x is misaligned or outside the file", q.path, off)
	}
	raw := make([]byte, cs)
	if _, err := q.f.ReadAt(raw, off); err != nil {
		return nil, fmt.Errorf("qcow2 %s: reading L2 table: %w", q.path, err)
	}
	t := make([]uint64, cs/8)
	for i := range t {
		t[i] = binary.BigEndian.Uint64(raw[i*8:])
	}
	q.l2cache.put(off, t)
	return t, nil
}

// decompressCluster inflates the compressed cluster described by an L2
// entry. The descriptor packs the host offset in the low 62-(cluster_bits-8)
// bits and the number of additional 512-byte sectors above it.
func (q *qcow2) decompressCluster(entry uint64) ([]byte, error) {
	x := 62 - (q.clusterBits - 8)
	coff := int64(entry & (1<<x - 1))
	if data, ok := q.ccache.get(coff); ok {
		return data, nil
	}
	sectors := int64((entry>>x)&(1<<(q.clusterBits-8)-1)) + 1
	csize := sectors*512 - coff&511
	if coff >= q.fileSize {
		return nil, corruptf("qcow2 %s: compressed cluster at %#x is outside the file", q.path, coff)
	}
	csize = min(csize, q.fileSize-coff) // the last one may end before its sector does
	src := make([]byte, csize)
	if _, err := q.f.ReadAt(src, coff); err != nil && err != io.EOF {
		return nil, err
	}
	out := make([]byte, q.clusterSize)
	if err := q.dec.decompress(q, src, out); err != nil {
		return nil, corruptf("qcow2 %s: compressed cluster at %#x: %v", q.path, coff, err)
	}
	q.ccache.put(coff, out)
	return out, nil
}

// decompressors holds one reusable inflater of each kind (guarded by
// qcow2.decMu): building a zstd decoder per cluster is expensive.
type decompressors struct {
	inflate io.ReadCloser
	zstd    *zstd.Decoder
}

// decompress fills out exactly, as QEMU requires: a stream that ends early
// is an error, trailing bytes after a full cluster are ignored (QEMU pads
// compressed clusters to sector boundaries with garbage).
func (d *decompressors) decompress(q *qcow2, src, out []byte) error {
	q.decMu.Lock()
	defer q.decMu.Unlock()
	var r io.Reader
	if q.zstd {
		if d.zstd == nil {
			// One frame decodes into at most one cluster (<= 2 MiB);
			// bound the decoder's memory so a crafted frame cannot
			// demand more. Concurrency 1 decodes synchronously, so a
			// panic inside stays on this goroutine where guard sees it.
			dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(8<<20), zstd.WithDecoderMaxWindow(8<<20))
			if err != nil {
				return err
			}
			d.zstd = dec
		}
		if err := d.zstd.Reset(bytes.NewReader(src)); err != nil {
			return err
		}
		r = d.zstd
	} else {
		if d.inflate == nil {
			d.inflate = flate.NewReader(bytes.NewReader(src))
		} else if err := d.inflate.(flate.Resetter).Reset(bytes.NewReader(src), nil); err != nil {
			return err
		}
		r = d.inflate
	}
	if _, err := io.ReadFull(r, out); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return fmt.Errorf("stream ends before the cluster is full")
		}
		return err
	}
	return nil
}
