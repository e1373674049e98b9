package prompts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/contactd/contactd/media"
)

func sine(n int, freq, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(i)/SampleRate))
	}
	return out
}

// wavFile builds a WAV file by hand: a fmt chunk with the given fields and
// the data, with extra chunks before the fmt chunk.
func wavFile(tag, channels uint16, rate uint32, bits uint16, data []byte, extra ...[]byte) []byte {
	var b bytes.Buffer
	fmtBody := make([]byte, 16)
	binary.LittleEndian.PutUint16(fmtBody[0:], tag)
	binary.LittleEndian.PutUint16(fmtBody[2:], channels)
	binary.LittleEndian.PutUint32(fmtBody[4:], rate)
	binary.LittleEndian.PutUint32(fmtBody[8:], rate*uint32(channels)*uint32(bits)/8)
	binary.LittleEndian.PutUint16(fmtBody[12:], channels*bits/8)
	binary.LittleEndian.PutUint16(fmtBody[14:], bits)
	body := []byte("WAVE")
	for _, e := range extra {
		body = append(body, e...)
	}
	body = append(body, chunk("fmt ", fmtBody)...)
	body = append(body, chunk("data", data)...)
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(len(body)))
	b.Write(body)
	return b.Bytes()
}

func chunk(id string, body []byte) []byte {
	out := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func TestEncodeThenDecodeGivesTheSamplesBack(t *testing.T) {
	for _, pcm := range [][]int16{nil, {0}, {-32768, 32767, 0, 1, -1}, sine(8000, 440, 20000)} {
		w := Encode(pcm)
		if len(w) != 44+2*len(pcm) {
			t.Fatalf("Encode(%d samples) is %d bytes, want %d", len(pcm), len(w), 44+2*len(pcm))
		}
		got, err := Decode("x.wav", w)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, pcm) && len(pcm) > 0 {
			t.Fatalf("round trip of %d samples changed them", len(pcm))
		}
		if len(got) != len(pcm) {
			t.Fatalf("round trip gave %d samples, want %d", len(got), len(pcm))
		}
	}
}

func TestWrapPCMMakesARecordingAWAVFile(t *testing.T) {
	pcm := sine(800, 1000, 8000)
	le := make([]byte, 2*len(pcm)+1) // an odd trailing byte is dropped
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(le[2*i:], uint16(s))
	}
	got, err := Decode("rec.wav", WrapPCM(le))
	if err != nil || !slices.Equal(got, pcm) {
		t.Fatalf("Decode(WrapPCM) = %d samples, %v; want the %d recorded", len(got), err, len(pcm))
	}
}

func TestG711FilesAreConvertedToLinear(t *testing.T) {
	pcm := sine(400, 700, 12000)
	ulaw, alaw := make([]byte, len(pcm)), make([]byte, len(pcm))
	for i, s := range pcm {
		ulaw[i], alaw[i] = media.LinearToULaw(s), media.LinearToALaw(s)
	}
	for _, c := range []struct {
		name string
		tag  uint16
		data []byte
		dec  func(byte) int16
	}{{"μ-law", formatULaw, ulaw, media.ULawToLinear}, {"A-law", formatALaw, alaw, media.ALawToLinear}} {
		t.Run(c.name+" decodes sample by sample", func(t *testing.T) {
			got, err := Decode("g711.wav", wavFile(c.tag, 1, 8000, 8, c.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(pcm) {
				t.Fatalf("%d samples, want %d", len(got), len(pcm))
			}
			for i := range got {
				if got[i] != c.dec(c.data[i]) {
					t.Fatalf("sample %d = %d, want %d", i, got[i], c.dec(c.data[i]))
				}
				if d := math.Abs(float64(got[i]) - float64(pcm[i])); d > 800 {
					t.Fatalf("sample %d = %d, far from the original %d", i, got[i], pcm[i])
				}
			}
		})
	}
}

func TestExtensibleHeadersAndOtherChunksAreRead(t *testing.T) {
	pcm := []int16{1, -2, 300, -400}
	data := Encode(pcm)[44:]
	fmtBody := make([]byte, 40)
	binary.LittleEndian.PutUint16(fmtBody[0:], formatExtensible)
	binary.LittleEndian.PutUint16(fmtBody[2:], 1)
	binary.LittleEndian.PutUint32(fmtBody[4:], 8000)
	binary.LittleEndian.PutUint32(fmtBody[8:], 16000)
	binary.LittleEndian.PutUint16(fmtBody[12:], 2)
	binary.LittleEndian.PutUint16(fmtBody[14:], 16)
	binary.LittleEndian.PutUint16(fmtBody[16:], 22)
	binary.LittleEndian.PutUint16(fmtBody[24:], formatPCM)
	file := append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("LIST", []byte("odd"))...) // padded odd chunk first
	file = append(file, chunk("fmt ", fmtBody)...)
	file = append(file, chunk("data", data)...)
	got, err := Decode("ext.wav", file)
	if err != nil || !slices.Equal(got, pcm) {
		t.Fatalf("Decode = %v, %v; want %v", got, err, pcm)
	}
}

func TestBadWAVFilesAreRefusedWithAClearError(t *testing.T) {
	good := Encode(sine(100, 440, 1000))
	huge := slices.Clone(good)
	binary.LittleEndian.PutUint32(huge[40:], 0xFFFFFFF0) // data claims 4 GB
	hugeFmt := slices.Clone(good)
	binary.LittleEndian.PutUint32(hugeFmt[16:], 0x7FFFFFFF)
	for _, c := range []struct {
		name string
		file []byte
		want string // in the error
	}{
		{"an empty file", nil, "not a RIFF/WAVE file"},
		{"a text file", []byte("hello, this is not audio at all"), "not a RIFF/WAVE file"},
		{"an MP3 renamed", append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), good...), "not a RIFF/WAVE file"},
		{"a 44.1 kHz stereo file", wavFile(formatPCM, 2, 44100, 16, make([]byte, 400)), "PCM 16-bit, 44100 Hz, 2 channels"},
		{"a 16 kHz file", wavFile(formatPCM, 1, 16000, 16, make([]byte, 400)), "16000 Hz"},
		{"an 8-bit PCM file", wavFile(formatPCM, 1, 8000, 8, make([]byte, 400)), "PCM 8-bit"},
		{"a float file", wavFile(3, 1, 8000, 32, make([]byte, 400)), "IEEE float"},
		{"an ADPCM file", wavFile(0x11, 1, 8000, 4, make([]byte, 400)), "IMA ADPCM"},
		{"a 16-bit μ-law file", wavFile(formatULaw, 1, 8000, 16, make([]byte, 400)), "μ-law 16-bit"},
		{"a file cut in the data", good[:60], "claims 200 bytes but only 16 remain"},
		{"a file cut in a chunk header", good[:40], "truncated chunk header"},
		{"a data size of 4 GB", huge, "claims 4294967280 bytes"},
		{"a fmt size of 2 GB", hugeFmt, "claims 2147483647 bytes"},
		{"no fmt chunk", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("data", []byte{1, 2})...), "data chunk before the fmt chunk"},
		{"a short fmt chunk", append([]byte("RIFF\x00\x00\x00\x00WAVE"), chunk("fmt ", []byte{1, 0, 1, 0})...), "fmt chunk of 4 bytes"},
		{"no data chunk", good[:36], "no data chunk"},
		{"only a RIFF header", good[:12], "no fmt chunk"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			pcm, err := Decode("prompts/bad.wav", c.file)
			if err == nil {
				t.Fatalf("Decode accepted it (%d samples)", len(pcm))
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "prompts/bad.wav") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q: want ErrFormat, the file's name and %q", err, c.want)
			}
		})
	}
}

func TestReadFileRefusesAFileLargerThanTheCapWithoutReadingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(Encode(nil))
	if err := f.Truncate(MaxFileBytes + 100); err != nil { // sparse
		t.Fatal(err)
	}
	f.Close()
	if _, err := ReadFile(path); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("ReadFile of a %d-byte file: %v, want larger than the cap", MaxFileBytes+100, err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file: %v, want not exist", err)
	}
}

// FuzzDecode: no panic, no allocation beyond the input's size, and what is
// accepted encodes back to the same samples.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(sine(50, 440, 9000)))
	f.Add(wavFile(formatULaw, 1, 8000, 8, []byte{1, 2, 3}))
	f.Add(wavFile(formatALaw, 1, 8000, 8, []byte{0x55, 0xd5}))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, err := Decode("fuzz.wav", data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if len(pcm) > len(data) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(data))
		}
		back, err := Decode("again.wav", Encode(pcm))
		if err != nil || !slices.Equal(back, pcm) && len(pcm) > 0 {
			t.Fatalf("re-encoding what was accepted: %v", err)
		}
	})
}
