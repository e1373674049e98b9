package media_test

import (
	"testing"

	"github.com/contactd/contactd/media"
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
