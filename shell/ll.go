package shell

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gfs/appliance/api"
)

// LongListing formats lstat results exactly as GNU `ls -la` prints them
// with numeric owners (-n) in UTC and the C locale: a "total N" line
// (1 KiB blocks, rounded up) when total is set, then one line per entry
// in the given order with columns as wide as their widest value, device
// numbers as "major, minor", symbolic links as "name -> target", and
// the time as "Mon dd HH:MM" within the last six months of now or
// "Mon dd  YYYY" otherwise.
//
// It is a pure function of its arguments so that the appliance path and
// the VM-less reader print identical listings.
func LongListing(entries []api.FileStat, now time.Time, total bool) string {
	var nlinkW, uidW, gidW, sizeW, majW, minW int
	var blocks int64
	for _, e := range entries {
		blocks += e.Blocks
		nlinkW = max(nlinkW, len(strconv.FormatInt(e.Nlink, 10)))
		uidW = max(uidW, len(strconv.FormatInt(e.UID, 10)))
		gidW = max(gidW, len(strconv.FormatInt(e.GID, 10)))
		if isDevice(e.Mode) {
			maj, min := devMajor(e.Rdev), devMinor(e.Rdev)
			majW = max(majW, len(strconv.FormatUint(maj, 10)))
			minW = max(minW, len(strconv.FormatUint(min, 10)))
			sizeW = max(sizeW, majW+2+minW)
		} else {
			sizeW = max(sizeW, len(strconv.FormatInt(e.Size, 10)))
		}
	}
	var b strings.Builder
	if total {
		// st_blocks counts 512-byte units; ls shows 1 KiB blocks.
		fmt.Fprintf(&b, "total %d\n", (blocks+1)/2)
	}
	for _, e := range entries {
		b.WriteString(modeString(e.Mode))
		fmt.Fprintf(&b, " %*d %*d %*d ", nlinkW, e.Nlink, uidW, e.UID, gidW, e.GID)
		if isDevice(e.Mode) {
			fmt.Fprintf(&b, "%*d, %*d ", sizeW-2-minW, devMajor(e.Rdev), minW, devMinor(e.Rdev))
		} else {
			fmt.Fprintf(&b, "%*d ", sizeW, e.Size)
		}
		b.WriteString(lsTime(e.MtimeSec, e.MtimeNsec, now))
		b.WriteString(" ")
		b.WriteString(e.Name)
		if e.Mode&sIFMT == sIFLNK {
			b.WriteString(" -> " + e.Link)
		}
		b.WriteString("\n")
	}
	return b.String()
}

const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

func isDevice(mode int64) bool {
	t := mode & sIFMT
	return t == sIFBLK || t == sIFCHR
}

// Linux's dev_t encoding (glibc gnu_dev_major/minor).
func devMajor(d int64) uint64 {
	u := uint64(d)
	return (u>>8)&0xfff | (u>>32)&^0xfff
}

func devMinor(d int64) uint64 {
	u := uint64(d)
	return u&0xff | (u>>12)&^0xff
}

// modeString is ls's ten-character mode: type, then rwx for user, group
// and others with s/S and t/T for the set-id and sticky bits.
func modeString(mode int64) string {
	var b [10]byte
	switch mode & sIFMT {
	case sIFDIR:
		b[0] = 'd'
	case sIFLNK:
		b[0] = 'l'
	case sIFCHR:
		b[0] = 'c'
	case sIFBLK:
		b[0] = 'b'
	case sIFIFO:
		b[0] = 'p'
	case sIFSOCK:
		b[0] = 's'
	case sIFREG:
		b[0] = '-'
	default:
		b[0] = '?'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	special := func(pos int, bit int64, set, unset byte) {
		if mode&bit == 0 {
			return
		}
		if b[pos] == '-' {
			b[pos] = unset
		} else {
			b[pos] = set
		}
	}
	special(3, 0o4000, 's', 'S')
	special(6, 0o2000, 's', 'S')
	special(9, 0o1000, 't', 'T')
	return string(b[:])
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// lsTime is ls's default long-format time in UTC: recent means after
// now minus half a Gregorian year (15778476 s) and before now.
func lsTime(sec, nsec int64, now time.Time) string {
	t := time.Unix(sec, nsec).UTC()
	sixMonthsAgo := now.Add(-15778476 * time.Second)
	recent := t.After(sixMonthsAgo) && t.Before(now)
	mon := months[t.Month()-1]
	if recent {
		return fmt.Sprintf("%s %2d %02d:%02d", mon, t.Day(), t.Hour(), t.Minute())
	}
	return fmt.Sprintf("%s %2d  %d", mon, t.Day(), t.Year())
}
