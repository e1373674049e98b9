package media

import "math/bits"

// G.711 (ITU-T G.711) in the classic Sun reference form: 16-bit linear
// samples in, 8-bit codes out. The media path never decodes audio except to
// apply an output gain, and that is a 256-byte table per gain (see gainTable),
// so these functions run at start-up and when a gain changes, not per packet.

const (
	ulawBias = 0x84
	ulawClip = 32635
)

// decode tables, filled once by init and never written again.
var (
	ulawDecode [256]int16
	alawDecode [256]int16
)

func init() {
	for i := range 256 {
		ulawDecode[i] = ulawToLinear(byte(i))
		alawDecode[i] = alawToLinear(byte(i))
	}
}

// ULawToLinear decodes one μ-law (PCMU) code to a 16-bit linear sample.
func ULawToLinear(u byte) int16 { return ulawDecode[u] }

// ALawToLinear decodes one A-law (PCMA) code to a 16-bit linear sample.
func ALawToLinear(a byte) int16 { return alawDecode[a] }

func ulawToLinear(u byte) int16 {
	u = ^u
	t := (int(u&0x0F) << 3) + ulawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(ulawBias - t)
	}
	return int16(t - ulawBias)
}

// LinearToULaw encodes a 16-bit linear sample as μ-law (PCMU).
func LinearToULaw(s int16) byte {
	p := int(s)
	var sign byte
	if p < 0 {
		p = -p
		sign = 0x80
	}
	if p > ulawClip {
		p = ulawClip
	}
	p += ulawBias
	exp := bits.Len(uint(p>>7)) - 1 // p>>7 is 1..255, exp 0..7
	mant := (p >> (exp + 3)) & 0x0F
	return ^(sign | byte(exp<<4) | byte(mant))
}

func alawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	seg := (a & 0x70) >> 4
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

// LinearToALaw encodes a 16-bit linear sample as A-law (PCMA).
func LinearToALaw(s int16) byte {
	p := int(s) >> 3 // 13 bits
	var mask byte
	if p >= 0 {
		mask = 0xD5
	} else {
		mask = 0x55
		p = -p - 1
	}
	// Segment: 0 for p < 0x20, then one more for every doubling up to 0xFFF.
	seg := 0
	if p >= 0x20 {
		seg = bits.Len(uint(p)) - 5
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(p>>1) & 0x0F
	} else {
		a |= byte(p>>seg) & 0x0F
	}
	return a ^ mask
}

// codecLaw is what the media path needs to know about the codec.
type codecLaw struct {
	name        string // "PCMU" or "PCMA"
	mime        string // webrtc.MimeTypePCMU / PCMA
	payloadType uint8  // static RTP payload type: 0 or 8
	decode      *[256]int16
	encode      func(int16) byte
	silence     byte // the code for a zero sample
}

// gainTable returns the table that maps every code to the code of the same
// sample multiplied by g and clamped to 16 bits. Applying a gain to a packet
// is then one table look-up per byte.
func (c *codecLaw) gainTable(g float64) *[256]byte {
	var t [256]byte
	for i := range 256 {
		v := float64(c.decode[i]) * g
		switch {
		case v > 32767:
			v = 32767
		case v < -32768:
			v = -32768
		}
		// Round half away from zero.
		if v >= 0 {
			v += 0.5
		} else {
			v -= 0.5
		}
		t[i] = c.encode(int16(v))
	}
	return &t
}
