package media_test

import (
	"context"
	"testing"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

func TestBridgeForwardsBothWaysUnchanged(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	a.capture()
	b.capture()
	media.Bridge(a.leg, b.leg)
	a.waitPackets(50, from(2))
	b.waitPackets(50, from(1))
	for _, c := range []*call{a, b} {
		for _, p := range c.packets() {
			if _, ok := tagOf(p.Payload); !ok {
				t.Fatalf("leg %s received a payload that is not byte-identical to one sent: % x", c.leg.ID(), p.Payload[:8])
			}
		}
	}
	sa, sb := a.leg.Stats(), b.leg.Stats()
	if sa.BridgedTo != "b" || sb.BridgedTo != "a" {
		t.Errorf("BridgedTo: a %q, b %q", sa.BridgedTo, sb.BridgedTo)
	}
	if sa.PacketsIn == 0 || sa.PacketsOut == 0 || !sa.Connected {
		t.Errorf("stats of a: %+v", sa)
	}
}

// checkContinuous checks that what a peer received is one stream: one
// SSRC, sequence numbers that step by one, timestamps that step by 160
// within a source and, where the source changed, by at least 160 and about
// the time that passed, with the marker bit set.
func checkContinuous(t *testing.T, ps []mediatest.Packet) {
	t.Helper()
	if len(ps) < 2 {
		t.Fatalf("%d packets", len(ps))
	}
	srcOf := func(p mediatest.Packet) int {
		if tag, ok := tagOf(p.Payload); ok {
			return int(tag)
		}
		return -1 // a sound
	}
	switches := 0
	for i := 1; i < len(ps); i++ {
		p, q := ps[i-1], ps[i]
		if q.SSRC != p.SSRC {
			t.Fatalf("SSRC changed at packet %d: %d -> %d", i, p.SSRC, q.SSRC)
		}
		if d := q.SequenceNumber - p.SequenceNumber; d != 1 {
			t.Fatalf("sequence step %d at packet %d:\n%s", d, i, describe(ps))
		}
		dts := q.Timestamp - p.Timestamp
		if srcOf(q) == srcOf(p) && !q.Marker {
			if dts != 160 {
				t.Fatalf("timestamp step %d within a source at packet %d", dts, i)
			}
			continue
		}
		switches++
		if !q.Marker {
			t.Errorf("no marker on the first packet of a new source (packet %d)", i)
		}
		gap := q.Arrival.Sub(p.Arrival)
		if dts < 160 || time.Duration(dts)*time.Second/8000 > gap+100*time.Millisecond {
			t.Errorf("timestamp step %d (%v) at a source change %v after the previous packet",
				dts, time.Duration(dts)*time.Second/8000, gap)
		}
	}
	if switches == 0 {
		t.Errorf("no change of source in %d packets", len(ps))
	}
}

func TestTransferKeepsTheStreamContinuous(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "visitor", 1, pacer)
	b := dial(t, e, "agent1", 2, pacer)
	c := dial(t, e, "agent2", 3, pacer)

	a.capture()
	media.Bridge(a.leg, b.leg)
	a.waitPackets(20, from(2))
	// Blind transfer: the visitor goes straight to agent 2, with no new
	// offer; agent 1 hears nothing from then on.
	media.Bridge(a.leg, c.leg)
	b.capture()
	a.waitPackets(20, from(3))
	if n := countMatching(b.packets(), from(1)); n > 1 {
		t.Errorf("agent 1 still heard the visitor (%d packets) after the transfer", n)
	}
	if s := b.leg.Stats(); s.BridgedTo != "" {
		t.Errorf("agent 1 still bridged to %q", s.BridgedTo)
	}
	c.capture()
	c.waitPackets(20, from(1))
	// Warm transfer back: music while waiting, then agent 1 again.
	a.leg.Play(media.SoundMusic)
	a.waitPackets(20, notTagged)
	media.Bridge(a.leg, b.leg)
	a.waitPackets(40, from(2))
	checkContinuous(t, a.packets())
}

func TestRenegotiationAndICERestartKeepTheBridge(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	media.Bridge(a.leg, b.leg)
	a.capture()
	for _, o := range []mediatest.OfferOptions{{}, {ICERestart: true}, {ICERestart: true, Complete: true}} {
		ctx, cancel := context.WithTimeout(context.Background(), settle)
		if err := a.peer.Negotiate(ctx, a.leg, o); err != nil {
			cancel()
			t.Fatalf("renegotiate %+v: %v", o, err)
		}
		cancel()
		b.capture()
		b.waitPackets(25, from(1))
		a.waitPackets(len(a.packets())+25, from(2))
		if s := a.leg.Stats(); s.BridgedTo != "b" || !s.Connected {
			t.Fatalf("after renegotiation %+v: %+v", o, s)
		}
	}
	checkContinuousSource(t, a.packets())
	select {
	case cause := <-a.ended:
		t.Fatalf("leg ended: %s", cause)
	default:
	}
}

// checkContinuousSource: one source, one SSRC, no gap in sequence numbers
// (an ICE restart may lose a packet or two in flight).
func checkContinuousSource(t *testing.T, ps []mediatest.Packet) {
	t.Helper()
	lost := 0
	for i := 1; i < len(ps); i++ {
		p, q := ps[i-1], ps[i]
		if q.SSRC != p.SSRC {
			t.Fatalf("SSRC changed at packet %d", i)
		}
		d := q.SequenceNumber - p.SequenceNumber
		if d == 0 || d > 10 {
			t.Fatalf("sequence step %d at packet %d", d, i)
		}
		lost += int(d) - 1
		if q.Timestamp-p.Timestamp != 160*uint32(d) {
			t.Fatalf("timestamp step %d for a sequence step %d at packet %d", q.Timestamp-p.Timestamp, d, i)
		}
	}
	if lost > 10 {
		t.Errorf("%d packets lost", lost)
	}
}

func TestBridgeToItselfEchoes(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	a := dial(t, e, "a", 7, newPacer(t))
	a.capture()
	media.Bridge(a.leg, a.leg)
	a.waitPackets(20, from(7))
	a.leg.Close()
	if n := e.Legs(); n != 0 {
		t.Errorf("Legs() = %d after Close", n)
	}
}
