package prompts

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

//go:embed default/*.wav
var defaultFS embed.FS

// Names lists every prompt a Set holds, by file name without ".wav". The
// numbers are the words Number composes: 0 to 19, the tens 20 to 90, and
// "hundred".
var Names = func() []string {
	names := []string{
		"welcome", "all_agents_busy", "you_are_next", "you_are_number", "in_the_queue",
		"there_are_more_than", "callers_ahead", "wait_is", "about", "less_than_a_minute",
		"more_than_an_hour", "minute", "minutes", "for", "for_option", "press",
		"leave_message_offer", "leave_message_after_tone", "message_recorded",
		"invalid_choice", "goodbye", "star", "hash", "hundred",
	}
	for i := range 20 {
		names = append(names, strconv.Itoa(i))
	}
	for i := 20; i < 100; i += 10 {
		names = append(names, strconv.Itoa(i))
	}
	return names
}()

// Level targets: prompts are scaled so that speech is near TargetDBFS
// (RMS of the 20 ms windows that are not near-silent), but never so far
// that a peak passes PeakDBFS, and by at most MaxGainDB up.
const (
	TargetDBFS = -16.0
	PeakDBFS   = -1.0
	MaxGainDB  = 20.0
)

// Set is a complete set of prompts, read-only once made and safe for
// concurrent use. Every name in Names is present.
type Set struct {
	clips map[string][]int16
}

// Default returns the prompts built into the binary (see
// default/README.md).
func Default() *Set {
	s, err := load(defaultFS, "default", "built-in prompts", false)
	if err != nil {
		panic("prompts: the built-in prompts are damaged: " + err.Error())
	}
	return s
}

// Load returns the default prompts with those found in dir replacing them:
// dir/NAME.wav replaces the prompt NAME (see Names), in any format Decode
// reads. Files that do not end in ".wav" are ignored; a ".wav" file whose
// name is not a prompt's, or that Decode refuses, is an error naming it,
// so that a mistake shows at start-up rather than as silence in a call.
// An empty dir gives the defaults.
func Load(dir string) (*Set, error) {
	s := Default()
	if dir == "" {
		return s, nil
	}
	over, err := load(os.DirFS(dir), ".", dir, true)
	if err != nil {
		return nil, fmt.Errorf("prompts_dir: %w", err)
	}
	for name, pcm := range over.clips {
		s.clips[name] = pcm
	}
	return s, nil
}

func load(fsys fs.FS, dir, label string, partial bool) (*Set, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	s := &Set{clips: make(map[string][]int16, len(Names))}
	var errs []error
	for _, e := range ents {
		file := e.Name()
		name, ok := strings.CutSuffix(file, ".wav")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(label, file)
		if !slices.Contains(Names, name) {
			errs = append(errs, fmt.Errorf("%s: not a prompt name (known: %s)", path, strings.Join(Names, ", ")))
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.Size() > MaxFileBytes {
			errs = append(errs, fmt.Errorf("%s: larger than %d bytes: %w", path, MaxFileBytes, ErrFormat))
			continue
		}
		data, err := fs.ReadFile(fsys, filepath.ToSlash(filepath.Join(dir, file)))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pcm, err := Decode(path, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(pcm) == 0 {
			errs = append(errs, fmt.Errorf("%s: no audio: %w", path, ErrFormat))
			continue
		}
		s.clips[name] = Normalize(pcm)
	}
	if !partial {
		for _, n := range Names {
			if s.clips[n] == nil {
				errs = append(errs, fmt.Errorf("%s: %s.wav is missing", label, n))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Prompt returns the samples of the prompt name (see Names), nil for an
// unknown name. The slice is shared: do not modify it.
func (s *Set) Prompt(name string) []int16 { return s.clips[name] }

// Normalize returns a copy of pcm scaled as the Set's prompts are (see
// TargetDBFS).
func Normalize(pcm []int16) []int16 {
	const win = SampleRate / 50 // 20 ms
	floor := dbfsToAmp(-45)
	var sum float64
	var n int
	peak := 0.0
	for i := 0; i < len(pcm); i += win {
		w := pcm[i:min(i+win, len(pcm))]
		var ws float64
		for _, v := range w {
			f := float64(v)
			ws += f * f
			peak = max(peak, math.Abs(f))
		}
		if math.Sqrt(ws/float64(len(w))) >= floor {
			sum += ws
			n += len(w)
		}
	}
	out := slices.Clone(pcm)
	if n == 0 || peak == 0 {
		return out // silence stays silence
	}
	rms := math.Sqrt(sum / float64(n))
	gain := min(dbfsToAmp(TargetDBFS)/rms, dbfsToAmp(PeakDBFS)/peak, math.Pow(10, MaxGainDB/20))
	for i, v := range pcm {
		out[i] = clamp16(math.Round(float64(v) * gain))
	}
	return out
}

func dbfsToAmp(db float64) float64 { return 32767 * math.Pow(10, db/20) }

func clamp16(f float64) int16 {
	return int16(max(-32768, min(32767, f)))
}
