package media_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

func waitEnded(t *testing.T, c *call, within time.Duration) string {
	t.Helper()
	select {
	case cause := <-c.ended:
		return cause
	case <-time.After(within):
		t.Fatalf("leg %s did not end within %v (stats %+v)", c.leg.ID(), within, c.leg.Stats())
		return ""
	}
}

func TestLegsEndByThemselves(t *testing.T) {
	noLeaks(t)
	const timeout = time.Second
	for _, tc := range []struct {
		name  string
		do    func(c *call)
		cause []string
	}{
		{"a peer that stops sending times out", func(c *call) { c.peer.StopSending() }, []string{media.CauseMediaTimeout}},
		// With MediaTimeout 1 s ICE gives up after 750 ms without a packet,
		// before the media timeout; with the defaults it is 15 s and 20 s.
		{"a peer that vanishes is lost", func(c *call) { c.peer.Vanish() },
			[]string{media.CauseICEFailed, media.CauseMediaTimeout}},
		{"a peer that closes is closed", func(c *call) { _ = c.peer.Close() }, []string{media.CausePeerClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, func(c *media.Config) { c.MediaTimeout = timeout })
			pacer := newPacer(t)
			a := dial(t, e, "a", 1, pacer)
			b := dial(t, e, "b", 2, pacer)
			media.Bridge(a.leg, b.leg)
			start := time.Now()
			tc.do(a)
			cause := waitEnded(t, a, 10*timeout)
			took := time.Since(start)
			ok := false
			for _, want := range tc.cause {
				ok = ok || cause == want
			}
			if !ok {
				t.Errorf("cause %q, want one of %q", cause, tc.cause)
			}
			if cause == media.CauseMediaTimeout && took < timeout {
				t.Errorf("media timeout after %v, before MediaTimeout %v", took, timeout)
			}
			t.Logf("ended with %s after %v", cause, took.Round(time.Millisecond))
			var ended *media.EndedError
			if err := context.Cause(a.leg.Context()); !errors.As(err, &ended) || ended.Cause != cause || !errors.Is(err, media.ErrClosed) {
				t.Errorf("the leg's context ended with %v, want an EndedError with cause %s", err, cause)
			}
			if s := a.leg.Stats(); !s.Closed || s.Connected {
				t.Errorf("stats after the end: %+v", s)
			}
			if n := e.Legs(); n != 1 {
				t.Errorf("Legs() = %d, want 1", n)
			}
			if s := b.leg.Stats(); s.BridgedTo != "" {
				t.Errorf("b still bridged to %q", s.BridgedTo)
			}
			if _, err := a.leg.HandleOffer("v=0"); !errorsIs(err, media.ErrClosed) {
				t.Errorf("HandleOffer on an ended leg: %v, want ErrClosed", err)
			}
			a.leg.Close() // after the end: a no-op
		})
	}
}

func TestALegThatNeverConnectsFails(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, func(c *media.Config) { c.MediaTimeout = time.Second })
	ended := make(chan string, 1)
	leg, err := e.NewLeg("a", media.LegHandler{OnEnded: func(cause string) { ended <- cause }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leg.Close)
	peer, err := mediatest.New(mediatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	offer, err := peer.Offer(ctx, mediatest.OfferOptions{Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	peer.Vanish() // gone before the answer
	if _, err := leg.HandleOffer(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-ended:
		if cause != media.CauseICEFailed {
			t.Errorf("cause %q, want %q", cause, media.CauseICEFailed)
		}
	case <-time.After(settle):
		t.Fatal("the leg did not end")
	}
}

func TestCloseDoesNotCallOnEnded(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, func(c *media.Config) { c.MediaTimeout = 300 * time.Millisecond })
	a := dial(t, e, "a", 1, newPacer(t))
	a.peer.StopSending()
	a.leg.Close()
	a.leg.Close()
	if err := context.Cause(a.leg.Context()); err == nil || err.Error() != "media: leg a ended: closed" {
		t.Errorf("context cause after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Every goroutine of the engine has ended: nothing can call OnEnded now.
	select {
	case cause := <-a.ended:
		t.Errorf("OnEnded(%q) after Close", cause)
	default:
	}
}
