package media_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

func TestClosingTheEngineLeavesNoGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	e, err := media.New(media.Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pacer := mediatest.NewPacer(0)
	// Legs in every state: never offered, offered but never connected,
	// bridged, on hold with music, ringing.
	if _, err := e.NewLeg("idle", media.LegHandler{}); err != nil {
		t.Fatal(err)
	}
	half, err := e.NewLeg("half", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := half.HandleOffer(validOffer(t, "PCMU")); err != nil {
		t.Fatal(err)
	}
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	c := dial(t, e, "c", 3, pacer)
	d := dial(t, e, "d", 4, pacer)
	media.Bridge(a.leg, b.leg)
	c.leg.Play(media.SoundMusic)
	d.leg.Play(media.SoundRingback)
	d.capture()
	d.waitPackets(5, notTagged)
	if n := e.Legs(); n != 6 {
		t.Errorf("Legs() = %d, want 6", n)
	}
	// The engine closes every leg; the peers see the DTLS close.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.Legs(); n != 0 {
		t.Errorf("Legs() = %d after Close", n)
	}
	// The peers usually see the DTLS close at once; it is one datagram,
	// though, and on a loaded machine it has been seen to go missing.
	for _, c := range []*call{a, b, c, d} {
		select {
		case <-c.peer.Failed():
		case <-time.After(2 * time.Second):
			t.Logf("peer of %s did not see the leg close", c.leg.ID())
		}
		_ = c.peer.Close()
	}
	pacer.Close()
	testutil.GoroutinesAtMost(t, base)
}
