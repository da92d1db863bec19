package shell

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strconv"
)

// NewChecksum returns the hash for a checksum type as guestfish names
// them (crc md5 sha1 sha224 sha256 sha384 sha512), nil if unknown. The
// checksum command and virt-ls --checksum use it.
func NewChecksum(kind string) hash.Hash {
	switch kind {
	case "crc":
		return &cksum{}
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha224":
		return sha256.New224()
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// cksum is POSIX cksum's CRC (what checksum crc prints): CRC-32 with
// polynomial 0x04C11DB7, MSB first, over the data and then its length
// in as few bytes as it takes, least significant first, complemented.
type cksum struct {
	crc uint32
	n   uint64
}

var cksumTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

func (c *cksum) Write(p []byte) (int, error) {
	for _, b := range p {
		c.crc = c.crc<<8 ^ cksumTable[byte(c.crc>>24)^b]
	}
	c.n += uint64(len(p))
	return len(p), nil
}

func (c *cksum) Sum32() uint32 {
	crc := c.crc
	for n := c.n; n > 0; n >>= 8 {
		crc = crc<<8 ^ cksumTable[byte(crc>>24)^byte(n)]
	}
	return ^crc
}

func (c *cksum) Sum(b []byte) []byte {
	v := c.Sum32()
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func (c *cksum) Reset()         { c.crc, c.n = 0, 0 }
func (c *cksum) Size() int      { return 4 }
func (c *cksum) BlockSize() int { return 1 }

// FormatChecksum prints a finished hash as guestfish does: crc in
// decimal (as cksum prints it), the others in hex.
func FormatChecksum(h hash.Hash) string {
	if c, ok := h.(*cksum); ok {
		return strconv.FormatUint(uint64(c.Sum32()), 10)
	}
	return hex.EncodeToString(h.Sum(nil))
}
