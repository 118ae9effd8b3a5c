package audio

import (
	"math/bits"
	"sync"
)

// G.711 (ITU-T G.711, 1988) µ-law and A-law, the payloads of RTP static
// payload types 0 (PCMU) and 8 (PCMA). Encoding goes through a 64 KiB table
// per law so a sample costs one load; the tables are built from the
// reference bit-twiddling encoders below on first use.

const (
	muLawBias = 0x84
	muLawClip = 32635
)

var (
	muLawDecodeTable [256]int16
	aLawDecodeTable  [256]int16

	encodeTablesOnce sync.Once
	muLawEncodeTable *[65536]byte
	aLawEncodeTable  *[65536]byte
)

func init() {
	for i := range 256 {
		muLawDecodeTable[i] = muLawToLinear(byte(i))
		aLawDecodeTable[i] = aLawToLinear(byte(i))
	}
}

func buildEncodeTables() {
	mu := new([65536]byte)
	a := new([65536]byte)
	for i := range 65536 {
		s := int16(uint16(i))
		mu[uint16(s)] = linearToMuLaw(s)
		a[uint16(s)] = linearToALaw(s)
	}
	muLawEncodeTable, aLawEncodeTable = mu, a
}

// linearToMuLaw is the reference µ-law encoder (as in the Sun/CCITT g711.c).
func linearToMuLaw(s int16) byte {
	x := int(s)
	sign := 0
	if x < 0 {
		x = -x
		sign = 0x80
	}
	if x > muLawClip {
		x = muLawClip
	}
	x += muLawBias
	exp := bits.Len(uint(x>>7)) - 1 // 0..7
	mant := (x >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

func muLawToLinear(u byte) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + muLawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(muLawBias - t)
	}
	return int16(t - muLawBias)
}

// aLawSegEnd are the upper bounds of the A-law segments in 13-bit magnitude.
var aLawSegEnd = [8]int{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}

// linearToALaw is the reference A-law encoder (as in the Sun/CCITT g711.c).
func linearToALaw(s int16) byte {
	pcm := int(s) >> 3
	mask := 0xD5
	if pcm < 0 {
		mask = 0x55
		pcm = -pcm - 1
	}
	seg := 8
	for i, end := range aLawSegEnd {
		if pcm <= end {
			seg = i
			break
		}
	}
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	aval := seg << 4
	if seg < 2 {
		aval |= (pcm >> 1) & 0x0F
	} else {
		aval |= (pcm >> seg) & 0x0F
	}
	return byte(aval ^ mask)
}

func aLawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := int(a&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// EncodeMuLaw appends the µ-law encoding of src to dst.
func EncodeMuLaw(dst []byte, src []int16) []byte {
	encodeTablesOnce.Do(buildEncodeTables)
	return encodeWith(muLawEncodeTable, dst, src)
}

// EncodeALaw appends the A-law encoding of src to dst.
func EncodeALaw(dst []byte, src []int16) []byte {
	encodeTablesOnce.Do(buildEncodeTables)
	return encodeWith(aLawEncodeTable, dst, src)
}

// encodeWith appends src looked up in an encoding table to dst.
func encodeWith(t *[65536]byte, dst []byte, src []int16) []byte {
	dst = grow(dst, len(src))
	out := dst[len(dst)-len(src):]
	for i, s := range src {
		out[i] = t[uint16(s)]
	}
	return dst
}

// DecodeMuLaw appends the linear samples of µ-law src to dst.
func DecodeMuLaw(dst []int16, src []byte) []int16 {
	for _, b := range src {
		dst = append(dst, muLawDecodeTable[b])
	}
	return dst
}

// DecodeALaw appends the linear samples of A-law src to dst.
func DecodeALaw(dst []int16, src []byte) []int16 {
	for _, b := range src {
		dst = append(dst, aLawDecodeTable[b])
	}
	return dst
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
