package media_test

import (
	"math"
	"testing"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// rms is the loudness of a G.711 payload, on the 16-bit scale.
func rms(codec string, p []byte) float64 {
	var sum float64
	for _, b := range p {
		var v int16
		if codec == "PCMA" {
			v = media.ALawToLinear(b)
		} else {
			v = media.ULawToLinear(b)
		}
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(p)))
}

func notTagged(p mediatest.Packet) bool {
	_, ok := tagOf(p.Payload)
	return !ok
}

func TestHoldPlaysMusicToTheHeldSideAndNothingToTheOther(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	media.Bridge(a.leg, b.leg)
	a.capture()
	b.capture()
	a.waitPackets(10, from(2))
	b.waitPackets(10, from(1))

	a.leg.Play(media.SoundMusic)
	a.capture()
	b.capture()
	// A second of music (50 frames) reaches a; in that time b gets nothing.
	ps := a.waitPackets(50, notTagged)
	if n := len(b.packets()); n > 1 { // one packet of a may have been in flight
		t.Errorf("b received %d packets while a was on hold", n)
	}
	var music []mediatest.Packet
	for _, p := range ps {
		if notTagged(p) {
			music = append(music, p)
		}
	}
	var loud int
	for _, p := range music {
		if r := rms(e.Codec(), p.Payload); r > 300 {
			loud++
		}
	}
	if loud < len(music)*3/4 {
		t.Errorf("only %d of %d music packets are audible", loud, len(music))
	}
	if s := a.leg.Stats(); s.Sound != media.SoundMusic || s.BridgedTo != "" {
		t.Errorf("a on hold: sound %v, bridged to %q", s.Sound, s.BridgedTo)
	}
	if s := b.leg.Stats(); s.Sound != media.SoundSilence || s.BridgedTo != "" {
		t.Errorf("b while a is held: sound %v, bridged to %q", s.Sound, s.BridgedTo)
	}

	// Resume: the bridge carries both ways again, and the music stops.
	media.Bridge(a.leg, b.leg)
	b.capture()
	b.waitPackets(20, from(1))
	a.capture()
	a.waitPackets(20, from(2))
	if n := len(a.packets()) - countMatching(a.packets(), from(2)); n > 1 {
		t.Errorf("a still got %d packets of music after resume", n)
	}
}

func countMatching(ps []mediatest.Packet, match func(mediatest.Packet) bool) int {
	n := 0
	for _, p := range ps {
		if match(p) {
			n++
		}
	}
	return n
}

func TestRingbackIsATonePacedAt20ms(t *testing.T) {
	noLeaks(t)
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			e := newEngine(t, func(c *media.Config) { c.Codec = codec })
			a := dial(t, e, "a", 1, newPacer(t))
			a.capture()
			a.leg.Play(media.SoundRingback)
			ps := a.waitPackets(40, notTagged)
			var tone []mediatest.Packet
			for _, p := range ps {
				if notTagged(p) {
					tone = append(tone, p)
				}
			}
			// The cadence starts with two seconds of tone at about -17 dBFS.
			for i, p := range tone[:40] {
				if r := rms(codec, p.Payload); r < 2000 || r > 6000 {
					t.Fatalf("packet %d of the tone has RMS %.0f, want about 3300", i, r)
				}
			}
			// 40 packets take about 800 ms; allow for a busy machine.
			span := tone[39].Arrival.Sub(tone[0].Arrival)
			if span < 600e6 || span > 1500e6 {
				t.Errorf("40 packets of ringback arrived over %v, want about 780 ms", span)
			}
			for i := 1; i < 40; i++ {
				if d := tone[i].SequenceNumber - tone[i-1].SequenceNumber; d != 1 {
					t.Fatalf("sequence step %d at packet %d", d, i)
				}
				if d := tone[i].Timestamp - tone[i-1].Timestamp; d != 160 {
					t.Fatalf("timestamp step %d at packet %d", d, i)
				}
			}
		})
	}
}
