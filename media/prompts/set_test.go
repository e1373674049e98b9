package prompts

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func peakDBFS(pcm []int16) float64 {
	p := 0.0
	for _, v := range pcm {
		p = max(p, math.Abs(float64(v)))
	}
	return 20 * math.Log10(p/32767)
}

func rmsDBFS(pcm []int16) float64 {
	sum := 0.0
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(len(pcm)))/32767)
}

func TestTheBuiltInSetHasEveryPromptTheScriptMakes(t *testing.T) {
	s := Default()
	for _, n := range Names {
		if len(s.Prompt(n)) == 0 {
			t.Errorf("prompt %q is missing or empty", n)
		}
	}
	// TEXT.tsv is written by scripts/make-prompts.sh: the same names.
	tsv, err := os.ReadFile("default/TEXT.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for line := range strings.Lines(string(tsv)) {
		name, _, _ := strings.Cut(line, "\t")
		made = append(made, name)
	}
	slices.Sort(made)
	want := slices.Sorted(slices.Values(Names))
	if !slices.Equal(made, want) {
		t.Fatalf("make-prompts.sh made %v, Names holds %v", made, want)
	}
	ents, _ := os.ReadDir("default")
	size := int64(0)
	for _, e := range ents {
		info, _ := e.Info()
		size += info.Size()
	}
	if size > 1500<<10 {
		t.Fatalf("the built-in set is %d bytes, over 1.5 MB", size)
	}
}

func TestPromptsAreLevelledWithoutClipping(t *testing.T) {
	s := Default()
	for _, n := range Names {
		pcm := s.Prompt(n)
		if d := time.Duration(len(pcm)) * time.Second / SampleRate; d < 150*time.Millisecond || d > 6*time.Second {
			t.Errorf("prompt %q lasts %v: trimmed too much or too little", n, d)
		}
		if p := peakDBFS(pcm); p > PeakDBFS+0.01 || p < -12 {
			t.Errorf("prompt %q peaks at %.1f dBFS, want at most %.0f and audible", n, p, PeakDBFS)
		}
		// Trimmed: it starts and ends within 30 ms of sound.
		lead := slices.IndexFunc(pcm, func(v int16) bool { return v > 600 || v < -600 })
		if lead > SampleRate*30/1000 {
			t.Errorf("prompt %q starts with %d ms of silence", n, lead*1000/SampleRate)
		}
	}
	// A quiet recording is raised to the target; a loud one is lowered
	// below its peak limit.
	// (sine amplitudes 2000: -27.3 dBFS RMS; 300: -43.7.)
	if db := rmsDBFS(Normalize(sine(8000, 300, 2000))); math.Abs(db-TargetDBFS) > 0.5 {
		t.Errorf("a quiet sine normalised to %.1f dBFS RMS, want %.0f", db, TargetDBFS)
	}
	if db := rmsDBFS(Normalize(sine(8000, 300, 300))); math.Abs(db-(-43.7+MaxGainDB)) > 0.5 {
		t.Errorf("a very quiet sine normalised to %.1f dBFS RMS, want raised by %.0f dB only", db, MaxGainDB)
	}
	square := make([]int16, 8000)
	for i := range square {
		square[i] = 32767
		if i%40 < 20 {
			square[i] = -32768
		}
	}
	if p := peakDBFS(Normalize(square)); p > PeakDBFS+0.01 {
		t.Errorf("a full-scale square normalised to a %.1f dBFS peak, want at most %.0f", p, PeakDBFS)
	}
	if got := Normalize(make([]int16, 100)); len(got) != 100 || slices.ContainsFunc(got, func(v int16) bool { return v != 0 }) {
		t.Error("silence did not stay silence")
	}
}

func TestAPromptsDirReplacesOnlyTheFilesItHolds(t *testing.T) {
	dir := t.TempDir()
	mine := sine(4000, 500, 5000)
	if err := os.WriteFile(filepath.Join(dir, "welcome.wav"), Encode(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("notes"), 0o600) // ignored
	os.Mkdir(filepath.Join(dir, "old.wav"), 0o700)                         // a directory: ignored
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Prompt("welcome"), Normalize(mine)) {
		t.Error("welcome is not the file from the prompts dir")
	}
	if !slices.Equal(s.Prompt("goodbye"), Default().Prompt("goodbye")) {
		t.Error("goodbye changed although the dir has no goodbye.wav")
	}
	if !slices.Equal(s.Welcome(), Normalize(mine)) {
		t.Error("Welcome does not say the replaced prompt")
	}
	if d, err := Load(""); err != nil || !slices.Equal(d.Prompt("welcome"), Default().Prompt("welcome")) {
		t.Errorf("Load(\"\") = %v, want the built-in set", err)
	}
}

func TestABadFileInThePromptsDirStopsStartUp(t *testing.T) {
	for _, c := range []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"a 44.1 kHz file", "goodbye.wav", wavFile(formatPCM, 1, 44100, 16, make([]byte, 100)), "44100 Hz"},
		{"a truncated file", "press.wav", Encode(sine(100, 400, 3000))[:100], "truncated"},
		{"a misspelt name", "welcom.wav", Encode(sine(100, 400, 3000)), "not a prompt name"},
		{"an empty recording", "star.wav", Encode(nil), "no audio"},
	} {
		t.Run(c.name+" is an error naming it", func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, c.file), c.data, 0o600)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.file)) || !strings.Contains(err.Error(), c.want) ||
				!strings.HasPrefix(err.Error(), "prompts_dir: ") {
				t.Fatalf("Load: %v; want an error naming %s and saying %q", err, c.file, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing dir: %v, want not exist", err)
	}
}
