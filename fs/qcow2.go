package fs

// Read-only qcow2 reader, header side: parsing and validating the header,
// its extensions and the backing file reference. The read path (L1/L2
// lookup, compressed clusters) is in qcow2_read.go. Layout reference:
// QEMU's docs/interop/qcow2.txt.

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// Incompatible feature bits (header offset 72, v3 only).
const (
	qcowIncompatDirty       = 1 << 0 // refcounts may be stale: harmless for reading
	qcowIncompatCorrupt     = 1 << 1 // QEMU marked the image corrupt
	qcowIncompatDataFile    = 1 << 2 // guest data lives in an external file
	qcowIncompatCompression = 1 << 3 // compression_type field is meaningful
	qcowIncompatExtL2       = 1 << 4 // extended L2 entries with subclusters
	qcowIncompatKnown       = qcowIncompatDirty | qcowIncompatCorrupt | qcowIncompatDataFile | qcowIncompatCompression | qcowIncompatExtL2
)

// Header extension types.
const (
	qcowExtEnd          = 0x00000000
	qcowExtBackingFmt   = 0xe2792aca
	qcowExtFeatureTable = 0x6803f857
	qcowExtCrypto       = 0x0537be77
	qcowExtDataFile     = 0x44415441
)

// Sanity limits: a hostile header must not make us allocate gigabytes.
const (
	qcowMaxL1Bytes   = 32 << 20 // QEMU's own QCOW_MAX_L1_SIZE
	qcowMaxSize      = 1 << 56  // L2 entries can address at most 2^56 bytes
	qcowMaxBackingNm = 1023     // QEMU refuses longer backing file names
)

// qcowFile is the image file: an *os.File, or bytes in the fuzz tests.
type qcowFile interface {
	io.ReaderAt
	io.Closer
}

type qcow2 struct {
	f        qcowFile
	path     string
	fileSize int64

	version     uint32
	clusterBits uint
	clusterSize int64
	size        int64
	extL2       bool
	zstd        bool // compression type 1; else zlib (raw deflate)
	l2Entries   int64
	l1          []uint64

	backing     Image // nil: unallocated clusters read as zeros
	backingName string

	l2cache *lru[int64, []uint64] // by host offset of the L2 table
	ccache  *lru[int64, []byte]   // decompressed clusters by host offset
	decMu   sync.Mutex            // guards the reusable decompressors
	dec     decompressors
}

type qcow2Header struct {
	version         uint32
	backingOffset   uint64
	backingSize     uint32
	clusterBits     uint32
	size            uint64
	cryptMethod     uint32
	l1Size          uint32
	l1Offset        uint64
	incompatible    uint64
	headerLength    uint32
	compressionType uint8
}

func parseQcow2Header(b []byte) (*qcow2Header, error) {
	if len(b) < 72 || string(b[:4]) != string(qcow2Magic) {
		return nil, corruptf("not a qcow2 header")
	}
	be := binary.BigEndian
	h := &qcow2Header{
		version:       be.Uint32(b[4:]),
		backingOffset: be.Uint64(b[8:]),
		backingSize:   be.Uint32(b[16:]),
		clusterBits:   be.Uint32(b[20:]),
		size:          be.Uint64(b[24:]),
		cryptMethod:   be.Uint32(b[32:]),
		l1Size:        be.Uint32(b[36:]),
		l1Offset:      be.Uint64(b[40:]),
		headerLength:  72,
	}
	switch h.version {
	case 2:
	case 3:
		if len(b) < 104 {
			return nil, corruptf("qcow2 v3 header truncated")
		}
		h.incompatible = be.Uint64(b[72:])
		h.headerLength = be.Uint32(b[100:])
		if h.headerLength < 104 {
			return nil, corruptf("qcow2 header_length %d < 104", h.headerLength)
		}
		if h.headerLength > 104 && len(b) > 104 {
			h.compressionType = b[104]
		}
	default:
		return nil, unsupportedf("qcow2 version %d", h.version)
	}
	return h, nil
}

func openQcow2(f qcowFile, path string, fileSize int64, allowBacking bool, depth int, chain []os.FileInfo) (*qcow2, error) {
	// The header, its extensions and the backing file name all live in
	// the first cluster; read at most the largest legal cluster.
	first := make([]byte, min(fileSize, 1<<21))
	if _, err := f.ReadAt(first, 0); err != nil {
		return nil, fmt.Errorf("qcow2 %s: reading header: %w", path, err)
	}
	h, err := parseQcow2Header(first)
	if err != nil {
		return nil, fmt.Errorf("qcow2 %s: %w", path, err)
	}
	if h.clusterBits < 9 || h.clusterBits > 21 {
		return nil, corruptf("qcow2 %s: cluster_bits %d outside 9..21", path, h.clusterBits)
	}
	q := &qcow2{
		f: f, path: path, fileSize: fileSize,
		version:     h.version,
		clusterBits: uint(h.clusterBits),
		clusterSize: 1 << h.clusterBits,
	}
	cs := q.clusterSize
	first = first[:min(int64(len(first)), cs)]
	if int64(h.headerLength) > cs || int64(h.headerLength) > int64(len(first)) {
		return nil, corruptf("qcow2 %s: header_length %d exceeds the first cluster", path, h.headerLength)
	}
	if h.cryptMethod != 0 {
		return nil, unsupportedf("qcow2 %s is encrypted (crypt_method %d)", path, h.cryptMethod)
	}
	if h.size > qcowMaxSize {
		return nil, corruptf("qcow2 %s: virtual size %d is absurd", path, h.size)
	}
	q.size = int64(h.size)

	// Feature names come from the feature table extension; parse the
	// extensions before judging incompatible bits so errors can name them.
	ext, err := q.parseExtensions(first, h)
	if err != nil {
		return nil, err
	}
	if unknown := h.incompatible &^ qcowIncompatKnown; unknown != 0 {
		return nil, unsupportedf("qcow2 %s uses unknown incompatible features %s", path, ext.featureNames(unknown))
	}
	if h.incompatible&qcowIncompatCorrupt != 0 {
		return nil, corruptf("qcow2 %s is marked corrupt by QEMU", path)
	}
	if h.incompatible&qcowIncompatDataFile != 0 || ext.dataFile != "" {
		return nil, unsupportedf("qcow2 %s keeps its data in an external data file %q", path, ext.dataFile)
	}
	if ext.crypto {
		return nil, unsupportedf("qcow2 %s has an encryption header", path)
	}
	if h.incompatible&qcowIncompatCompression != 0 {
		switch h.compressionType {
		case 0:
		case 1:
			q.zstd = true
		default:
			return nil, unsupportedf("qcow2 %s: compression type %d", path, h.compressionType)
		}
	} else if h.compressionType != 0 {
		return nil, corruptf("qcow2 %s: compression type %d without the compression feature bit", path, h.compressionType)
	}
	q.extL2 = h.incompatible&qcowIncompatExtL2 != 0
	entrySize := int64(8)
	if q.extL2 {
		if q.clusterBits < 14 {
			return nil, corruptf("qcow2 %s: extended L2 entries need clusters of at least 16 KiB", path)
		}
		entrySize = 16
	}
	q.l2Entries = cs / entrySize

	// L1 table: bounded by QEMU's limit and by the file itself, and big
	// enough to map the whole virtual disk.
	coverage := q.l2Entries * cs
	need := (q.size + coverage - 1) / coverage
	l1Bytes := int64(h.l1Size) * 8
	switch {
	case l1Bytes > qcowMaxL1Bytes:
		return nil, corruptf("qcow2 %s: L1 table of %d entries is too large", path, h.l1Size)
	case int64(h.l1Size) < need:
		return nil, corruptf("qcow2 %s: L1 table has %d entries, %d needed", path, h.l1Size, need)
	case h.l1Size > 0 && (h.l1Offset%uint64(cs) != 0 || h.l1Offset > uint64(fileSize) || uint64(fileSize)-h.l1Offset < uint64(l1Bytes)):
		return nil, corruptf("qcow2 %s: L1 table at %#x (%d bytes) is misaligned or outside the file", path, h.l1Offset, l1Bytes)
	}
	if h.l1Size > 0 {
		// Only the entries that map the virtual disk matter; the rest may
		// hold VM state of internal snapshots.
		raw := make([]byte, need*8)
		if _, err := f.ReadAt(raw, int64(h.l1Offset)); err != nil {
			return nil, fmt.Errorf("qcow2 %s: reading L1 table: %w", path, err)
		}
		q.l1 = make([]uint64, need)
		for i := range q.l1 {
			q.l1[i] = binary.BigEndian.Uint64(raw[i*8:])
		}
	}

	if h.backingOffset != 0 {
		if h.backingSize == 0 || h.backingSize > qcowMaxBackingNm || h.backingOffset >= uint64(cs) ||
			h.backingOffset+uint64(h.backingSize) > uint64(len(first)) {
			return nil, corruptf("qcow2 %s: backing file name at %#x (%d bytes) is invalid", path, h.backingOffset, h.backingSize)
		}
		q.backingName = string(first[h.backingOffset : h.backingOffset+uint64(h.backingSize)])
		if !allowBacking {
			return nil, fmt.Errorf("qcow2 image %s has a backing file %s; backing files are not allowed", path, q.backingName)
		}
		bpath, err := backingPath(path, q.backingName)
		if err != nil {
			return nil, err
		}
		bfmt := ext.backingFormat
		if bfmt != "" && bfmt != "raw" && bfmt != "qcow2" {
			return nil, unsupportedf("qcow2 %s: backing file %s has format %q", path, q.backingName, bfmt)
		}
		q.backing, err = openImage(bpath, bfmt, allowBacking, depth+1, chain)
		if err != nil {
			return nil, fmt.Errorf("qcow2 %s: backing file: %w", path, err)
		}
	}

	q.l2cache = newLRU[int64, []uint64](32<<20, func(v []uint64) int64 { return int64(len(v)) * 8 })
	q.ccache = newLRU[int64, []byte](16<<20, bytesLen)
	return q, nil
}

type qcow2Extensions struct {
	backingFormat string
	dataFile      string
	crypto        bool
	features      map[uint]string // incompatible feature bit -> name
}

func (e *qcow2Extensions) featureNames(bits uint64) string {
	var names []string
	for i := uint(0); i < 64; i++ {
		if bits&(1<<i) == 0 {
			continue
		}
		if n, ok := e.features[i]; ok {
			names = append(names, fmt.Sprintf("%q (bit %d)", n, i))
		} else {
			names = append(names, fmt.Sprintf("bit %d", i))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseExtensions walks the header extensions that follow the header.
// Each one is type, length and data padded to 8 bytes; the walk always
// advances, ends at the end marker, and never leaves the first cluster
// (or the backing file name, which follows the extensions).
func (q *qcow2) parseExtensions(first []byte, h *qcow2Header) (*qcow2Extensions, error) {
	e := &qcow2Extensions{features: map[uint]string{}}
	end := min(int64(len(first)), q.clusterSize)
	if h.backingOffset != 0 && int64(h.backingOffset) < end {
		end = int64(h.backingOffset)
	}
	off := int64(h.headerLength)
	be := binary.BigEndian
	for off+8 <= end {
		typ := be.Uint32(first[off:])
		length := int64(be.Uint32(first[off+4:]))
		off += 8
		if typ == qcowExtEnd {
			break
		}
		if length > end-off {
			return nil, corruptf("qcow2 %s: header extension %#x of %d bytes overruns the header", q.path, typ, length)
		}
		data := first[off : off+length]
		switch typ {
		case qcowExtBackingFmt:
			e.backingFormat = strings.TrimRight(string(data), "\x00")
		case qcowExtDataFile:
			e.dataFile = strings.TrimRight(string(data), "\x00")
			if e.dataFile == "" {
				e.dataFile = "(unnamed)"
			}
		case qcowExtCrypto:
			e.crypto = true
		case qcowExtFeatureTable:
			for i := 0; i+48 <= len(data); i += 48 {
				if data[i] == 0 { // incompatible features only
					e.features[uint(data[i+1])] = strings.TrimRight(string(data[i+2:i+48]), "\x00")
				}
			}
		}
		off += (length + 7) &^ 7
	}
	return e, nil
}

// backingPath turns a backing file reference into a host path: relative
// names resolve against the directory of the image that names them.
// Protocol references (nbd:, json:, http://...) are the appliance's job.
func backingPath(image, name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", corruptf("qcow2 %s: invalid backing file name %q", image, name)
	}
	if i := strings.IndexByte(name, ':'); i > 0 && !strings.Contains(name[:i], "/") {
		proto := name[:i]
		if proto == "file" {
			name = name[i+1:]
		} else if strings.HasPrefix(name[i:], "://") || qemuProtocols[proto] {
			return "", unsupportedf("qcow2 %s: backing file %q uses protocol %s", image, name, proto)
		}
	}
	if filepath.IsAbs(name) {
		return name, nil
	}
	return filepath.Join(filepath.Dir(image), name), nil
}

var qemuProtocols = map[string]bool{
	"json": true, "nbd": true, "nbd+unix": true, "http": true, "https": true, "ftp": true, "ftps": true,
	"ssh": true, "gluster": true, "iscsi": true, "rbd": true, "sheepdog": true, "nfs": true, "vxhs": true,
	"host_device": true, "host_cdrom": true, "null-co": true, "null-aio": true, "blkdebug": true,
}

func (q *qcow2) Size() int64 { return q.size }

func (q *qcow2) Close() error {
	err := q.f.Close()
	if q.backing != nil {
		if e := q.backing.Close(); err == nil {
			err = e
		}
	}
	return err
}
