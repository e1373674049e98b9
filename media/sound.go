package media

import (
	"fmt"
	"math"
	"time"
)

// Sound is something the engine plays to a leg instead of another leg's
// audio.
type Sound int

const (
	// SoundSilence: the leg hears nothing; no packets are sent to it.
	SoundSilence Sound = iota
	// SoundMusic: hold music, a short synthesized loop (see synthMusic).
	SoundMusic
	// SoundRingback: the North American ringback tone (440 Hz + 480 Hz,
	// two seconds on, four off), for a caller who waits.
	SoundRingback

	numSounds
)

func (s Sound) String() string {
	switch s {
	case SoundSilence:
		return "silence"
	case SoundMusic:
		return "music"
	case SoundRingback:
		return "ringback"
	}
	return fmt.Sprintf("Sound(%d)", int(s))
}

const (
	sampleRate  = 8000
	frameLen    = 160 // samples (and G.711 bytes) in 20 ms
	frameMillis = 20
)

// clip is one sound encoded in the engine's codec: frame i is
// data[i*frameLen:(i+1)*frameLen]. It loops.
type clip struct{ data []byte }

func (c *clip) frames() int { return len(c.data) / frameLen }

func (c *clip) frame(i int) []byte { return c.data[i*frameLen : (i+1)*frameLen] }

func encodeClip(pcm []float64, law *codecLaw) *clip {
	n := len(pcm) / frameLen * frameLen
	data := make([]byte, n)
	for i := range n {
		data[i] = law.encode(toInt16(pcm[i]))
	}
	return &clip{data: data}
}

func toInt16(v float64) int16 {
	v *= 32767
	switch {
	case v > 32767:
		return 32767
	case v < -32768:
		return -32768
	}
	return int16(math.Round(v))
}

// synthRingback renders one cadence of the ringback tone: 440 Hz and 480 Hz
// at about -20 dBFS each for two seconds, then four seconds of silence,
// with 5 ms ramps so the tone starts and stops without a click.
func synthRingback() []float64 {
	const on, total = 2 * sampleRate, 6 * sampleRate
	const ramp = sampleRate * 5 / 1000
	pcm := make([]float64, total)
	for i := range on {
		t := float64(i) / sampleRate
		v := 0.1*math.Sin(2*math.Pi*440*t) + 0.1*math.Sin(2*math.Pi*480*t)
		switch {
		case i < ramp:
			v *= float64(i) / ramp
		case i >= on-ramp:
			v *= float64(on-1-i) / ramp
		}
		pcm[i] = v
	}
	return pcm
}

// A note of the hold music: a MIDI key, when it starts and how long it
// sounds, in eighth notes.
type note struct {
	key         int
	start, dur  int
	level       float64
	pluck, bass bool
}

// synthMusic renders the hold music: eight bars in C major at 96 beats per
// minute over the progression C - Am - F - G (twice), a soft bass, a plucked
// arpeggio in eighth notes and a simple melody written for this project.
// About 20 seconds; the last notes fade before the loop starts again.
func synthMusic() []float64 {
	const bpm = 96
	eighth := 60.0 / bpm / 2 // seconds
	chords := [][3]int{
		{60, 64, 67}, // C
		{57, 60, 64}, // Am
		{53, 57, 60}, // F
		{55, 59, 62}, // G
	}
	// Melody, two notes to a bar: (key, length in eighths); 0 is a rest.
	melody := [][2]int{
		{76, 4}, {79, 4}, // bar 1 over C: E G
		{76, 2}, {72, 6}, // Am: E C
		{77, 4}, {76, 2}, {74, 2}, // F: F E D
		{74, 6}, {71, 2}, // G: D B
		{72, 4}, {76, 4}, // C: C E
		{81, 4}, {79, 4}, // Am: A G
		{77, 2}, {76, 2}, {74, 4}, // F: F E D
		{72, 6}, {0, 2}, // G -> C: C, rest
	}
	var notes []note
	for bar := range 8 {
		ch := chords[bar%4]
		notes = append(notes, note{key: ch[0] - 12, start: bar * 8, dur: 8, level: 0.16, bass: true})
		arp := []int{ch[0], ch[1], ch[2], ch[1] + 12, ch[2], ch[1], ch[0] + 12, ch[1]}
		for i, k := range arp {
			notes = append(notes, note{key: k, start: bar*8 + i, dur: 2, level: 0.07, pluck: true})
		}
	}
	at := 0
	for _, m := range melody {
		if m[0] != 0 {
			notes = append(notes, note{key: m[0], start: at, dur: m[1], level: 0.14})
		}
		at += m[1]
	}

	total := int(64 * eighth * sampleRate)
	total -= total % frameLen
	pcm := make([]float64, total)
	for _, n := range notes {
		f := 440 * math.Pow(2, float64(n.key-69)/12)
		start := int(float64(n.start) * eighth * sampleRate)
		length := int(float64(n.dur) * eighth * sampleRate)
		release := int(0.08 * sampleRate)
		for i := 0; i < length+release && start+i < total; i++ {
			t := float64(i) / sampleRate
			var env float64
			switch {
			case n.pluck:
				env = math.Exp(-t * 6)
			case n.bass:
				env = 0.7 + 0.3*math.Exp(-t*3)
			default:
				env = 0.6 + 0.4*math.Exp(-t*4)
			}
			if a := 0.01 * sampleRate; float64(i) < a { // 10 ms attack
				env *= float64(i) / a
			}
			if i >= length { // release
				env *= 1 - float64(i-length)/float64(release)
			}
			// A warm tone: the fundamental with a little of the second and
			// third harmonics (they also make the bass audible on small
			// speakers).
			v := math.Sin(2*math.Pi*f*t) + 0.3*math.Sin(4*math.Pi*f*t) + 0.12*math.Sin(6*math.Pi*f*t)
			pcm[start+i] += n.level * env * v
		}
	}
	// Fade the last half second so the loop point is smooth.
	fade := sampleRate / 2
	for i := range fade {
		pcm[total-fade+i] *= 1 - float64(i)/float64(fade)
	}
	return pcm
}

// Clip is a recorded sound (a prompt such as "you are number three in the
// queue"), encoded once in the engine's codec. Play it with Leg.PlayClip.
// It is immutable and may be played to any number of legs at once.
type Clip struct{ c *clip }

// NewClip encodes 8 kHz mono 16-bit linear samples in the engine's codec.
// The last frame is padded with silence to 20 ms.
func (e *Engine) NewClip(pcm []int16) *Clip {
	n := (len(pcm) + frameLen - 1) / frameLen * frameLen
	data := make([]byte, n)
	for i := range n {
		var v int16
		if i < len(pcm) {
			v = pcm[i]
		}
		data[i] = e.law.encode(v)
	}
	return &Clip{c: &clip{data: data}}
}

// Duration is how long the clip plays.
func (c *Clip) Duration() time.Duration {
	if c == nil {
		return 0
	}
	return time.Duration(c.c.frames()) * frameMillis * time.Millisecond
}
