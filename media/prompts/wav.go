package prompts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/contactd/contactd/media"
)

// SampleRate is the rate of every prompt and recording: 8000 Hz.
const SampleRate = 8000

// MaxFileBytes is the largest WAV file ReadFile reads (about 17 minutes of
// 8 kHz 16-bit audio): a larger one is refused before it is read.
const MaxFileBytes = 16 << 20

// ErrFormat is wrapped by every error about a WAV file's content: not a
// WAV file, truncated, or a format other than 8 kHz mono 16-bit PCM,
// μ-law or A-law.
var ErrFormat = errors.New("unsupported or damaged WAV file")

// WAVE format tags.
const (
	formatPCM        = 1
	formatALaw       = 6
	formatULaw       = 7
	formatExtensible = 0xFFFE
)

// ReadFile reads a WAV file (see Decode) of at most MaxFileBytes.
func ReadFile(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, MaxFileBytes, ErrFormat)
	}
	return Decode(path, data)
}

// Decode returns the samples of a RIFF/WAVE file: 8000 Hz mono, 16-bit
// linear PCM (format 1) or 8-bit G.711 μ-law (7) or A-law (6), also in a
// WAVE_FORMAT_EXTENSIBLE header; G.711 is converted to linear. Chunks other
// than "fmt " and "data" are skipped. Anything else is an error wrapping
// ErrFormat that names the file (name) and what it holds. Sizes in the file
// are checked against its length: nothing is allocated beyond len(data).
func Decode(name string, data []byte) ([]int16, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: "+format+": %w", append(append([]any{name}, args...), ErrFormat)...)
	}
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, bad("not a RIFF/WAVE file")
	}
	var (
		fmtSeen                         bool
		tag, channels, bits, blockAlign uint16
		rate                            uint32
	)
	rest := data[12:]
	for len(rest) > 0 {
		if len(rest) < 8 {
			return nil, bad("truncated chunk header")
		}
		id, size := string(rest[0:4]), binary.LittleEndian.Uint32(rest[4:8])
		rest = rest[8:]
		if uint64(size) > uint64(len(rest)) {
			return nil, bad("chunk %q claims %d bytes but only %d remain (truncated file)", printable(id), size, len(rest))
		}
		body := rest[:size]
		rest = rest[size:]
		if size%2 == 1 && len(rest) > 0 { // chunks are padded to even sizes
			rest = rest[1:]
		}
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, bad("fmt chunk of %d bytes, want at least 16", len(body))
			}
			tag = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			blockAlign = binary.LittleEndian.Uint16(body[12:14])
			bits = binary.LittleEndian.Uint16(body[14:16])
			if tag == formatExtensible {
				// cbSize(2) validBits(2) channelMask(4) subFormat GUID(16),
				// whose first two bytes are the format tag.
				if len(body) < 40 {
					return nil, bad("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, want 40", len(body))
				}
				tag = binary.LittleEndian.Uint16(body[24:26])
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return nil, bad("data chunk before the fmt chunk")
			}
			return decodeData(bad, body, tag, channels, rate, bits, blockAlign)
		}
	}
	if !fmtSeen {
		return nil, bad("no fmt chunk")
	}
	return nil, bad("no data chunk")
}

func decodeData(bad func(string, ...any) error, body []byte, tag, channels uint16, rate uint32, bits, blockAlign uint16) ([]int16, error) {
	var want uint16
	switch tag {
	case formatPCM:
		want = 16
	case formatULaw, formatALaw:
		want = 8
	default:
		return nil, bad("format %s (%d-bit, %d Hz, %d channels), want 16-bit PCM, μ-law or A-law at 8000 Hz mono",
			formatName(tag), bits, rate, channels)
	}
	if channels != 1 || rate != SampleRate || bits != want || (blockAlign != 0 && blockAlign != want/8) {
		return nil, bad("%s %d-bit, %d Hz, %d channels, want %d-bit %s at 8000 Hz mono",
			formatName(tag), bits, rate, channels, want, formatName(tag))
	}
	switch tag {
	case formatPCM:
		out := make([]int16, len(body)/2) // an odd last byte is dropped
		for i := range out {
			out[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
		}
		return out, nil
	case formatULaw:
		out := make([]int16, len(body))
		for i, b := range body {
			out[i] = media.ULawToLinear(b)
		}
		return out, nil
	default:
		out := make([]int16, len(body))
		for i, b := range body {
			out[i] = media.ALawToLinear(b)
		}
		return out, nil
	}
}

func formatName(tag uint16) string {
	switch tag {
	case formatPCM:
		return "PCM"
	case formatULaw:
		return "μ-law"
	case formatALaw:
		return "A-law"
	case 3:
		return "IEEE float"
	case 0x55:
		return "MP3"
	case 2:
		return "MS ADPCM"
	case 0x11:
		return "IMA ADPCM"
	}
	return fmt.Sprintf("tag 0x%04x", tag)
}

// printable keeps a chunk id readable in an error message.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}

// Encode returns pcm as a WAV file: 8000 Hz mono 16-bit PCM with a
// 44-byte header.
func Encode(pcm []int16) []byte {
	le := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(le[2*i:], uint16(s))
	}
	return wrap(le)
}

// WrapPCM returns le, 16-bit little-endian 8 kHz linear PCM as
// media.Leg.Record writes it, as a WAV file (an odd last byte is dropped).
func WrapPCM(le []byte) []byte {
	return wrap(le[:len(le)&^1])
}

func wrap(le []byte) []byte {
	out := make([]byte, 44, 44+len(le))
	copy(out[0:], "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(36+len(le)))
	copy(out[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(out[16:], 16)
	binary.LittleEndian.PutUint16(out[20:], formatPCM)
	binary.LittleEndian.PutUint16(out[22:], 1)
	binary.LittleEndian.PutUint32(out[24:], SampleRate)
	binary.LittleEndian.PutUint32(out[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(out[32:], 2)
	binary.LittleEndian.PutUint16(out[34:], 16)
	copy(out[36:], "data")
	binary.LittleEndian.PutUint32(out[40:], uint32(len(le)))
	return append(out, le...)
}
