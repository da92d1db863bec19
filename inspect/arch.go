package inspect

import "encoding/binary"

// binaryArch names the architecture of an ELF or PE executable from its
// header, with libguestfs' names (i386, x86_64, aarch64, ppc64le…), or
// "" when it cannot tell.
func binaryArch(b []byte) string {
	if len(b) >= 20 && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F' {
		return elfArch(b)
	}
	if len(b) >= 0x40 && b[0] == 'M' && b[1] == 'Z' {
		return peArch(b)
	}
	return ""
}

func elfArch(b []byte) string {
	bits64 := b[4] == 2
	var bo binary.ByteOrder = binary.LittleEndian
	if b[5] == 2 {
		bo = binary.BigEndian
	}
	pick := func(a32, a64 string) string {
		if bits64 {
			return a64
		}
		return a32
	}
	switch bo.Uint16(b[18:]) {
	case 3, 6: // EM_386, EM_486
		return "i386"
	case 62: // EM_X86_64
		return "x86_64"
	case 2, 18: // EM_SPARC, EM_SPARC32PLUS
		return "sparc"
	case 43: // EM_SPARCV9
		return "sparc64"
	case 50: // EM_IA_64
		return "ia64"
	case 20: // EM_PPC
		return "ppc"
	case 21: // EM_PPC64
		if b[5] == 1 {
			return "ppc64le"
		}
		return "ppc64"
	case 40: // EM_ARM
		return "arm"
	case 183: // EM_AARCH64
		return "aarch64"
	case 243: // EM_RISCV
		return pick("riscv32", "riscv64")
	case 22: // EM_S390
		return pick("s390", "s390x")
	case 8: // EM_MIPS
		return pick("mips", "mips64")
	case 258: // EM_LOONGARCH
		return pick("loongarch32", "loongarch64")
	}
	return ""
}

func peArch(b []byte) string {
	off := int(binary.LittleEndian.Uint32(b[0x3c:]))
	if off < 0 || off > len(b)-6 || string(b[off:off+4]) != "PE\x00\x00" {
		return ""
	}
	switch binary.LittleEndian.Uint16(b[off+4:]) {
	case 0x14c:
		return "i386"
	case 0x8664:
		return "x86_64"
	case 0x1c0, 0x1c2, 0x1c4:
		return "arm"
	case 0xaa64:
		return "aarch64"
	case 0x200:
		return "ia64"
	}
	return ""
}
