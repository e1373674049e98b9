package media_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// toneFrame is 20 ms of a 400 Hz sine (exactly eight cycles) at the given
// peak, in μ-law.
func toneFrame(peak float64) []byte {
	f := make([]byte, mediatest.FrameSize)
	for i := range f {
		f[i] = media.LinearToULaw(int16(peak * math.Sin(2*math.Pi*400*float64(i)/8000)))
	}
	return f
}

func TestOutputGainScalesWhatTheLegHears(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	tone := toneFrame(6000)
	a.peer.StartSending(func(_ uint16, p []byte) { copy(p, tone) })
	media.Bridge(a.leg, b.leg)
	isTone := func(p mediatest.Packet) bool { return len(p.Payload) == len(tone) && !isTagged(p) }

	for _, tc := range []struct {
		name string
		gain float64
		want float64 // RMS ratio received/sent
	}{
		{"unity passes the bytes through", 1, 1},
		{"half is 6 dB quieter", 0.5, 0.5},
		{"double is 6 dB louder", 2, 2},
		{"zero is silence", 0, 0},
		{"above four is clamped to four", 9, 4},
		{"negative is clamped to zero", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.leg.SetOutputGain(tc.gain)
			b.capture()
			// Packets in flight when the gain changed may carry the old one.
			ps := b.waitPackets(15, isTone)
			p := ps[len(ps)-1].Payload
			if tc.gain == 1 {
				if !bytes.Equal(p, tone) {
					t.Fatalf("with gain 1 the payload changed:\n% x\n% x", p, tone)
				}
				return
			}
			ratio := rms("PCMU", p) / rms("PCMU", tone)
			if math.Abs(ratio-tc.want) > 0.05*math.Max(tc.want, 0.2) {
				t.Errorf("RMS ratio %.3f, want %.2f", ratio, tc.want)
			}
			if tc.want == 4 {
				// 6000 × 4 clips: the peaks sit at full scale, and no sample
				// wraps around to the other sign.
				for i, c := range p {
					v, w := media.ULawToLinear(c), media.ULawToLinear(tone[i])
					if (v > 0) != (w > 0) && v != 0 && w != 0 {
						t.Fatalf("sample %d changed sign: %d from %d", i, v, w)
					}
				}
			}
		})
	}
	// The gain is b's alone: a hears b unchanged.
	a.capture()
	a.waitPackets(10, from(2))
	if g := b.leg.OutputGain(); g != 0 {
		t.Errorf("OutputGain() = %v, want 0 (clamped from -1)", g)
	}
}

func isTagged(p mediatest.Packet) bool {
	_, ok := tagOf(p.Payload)
	return ok
}
