package media_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
	"github.com/pion/webrtc/v4"
)

// settle is the longest a test waits for something that should happen at
// once on loopback (connection, first packets). Generous: the machine may
// be busy with other builds.
const settle = 15 * time.Second

// noLeaks fails the test if the goroutine count does not come back to
// what it was when noLeaks was called, once everything the test started
// is closed. Call it first, so its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() { testutil.GoroutinesAtMost(t, base) })
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("MEDIA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEngine(t *testing.T, mut func(*media.Config)) *media.Engine {
	t.Helper()
	cfg := media.Config{ListenAddr: "127.0.0.1:0", Logger: testLogger(t)}
	if mut != nil {
		mut(&cfg)
	}
	e, err := media.New(cfg)
	if err != nil {
		t.Fatalf("media.New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("engine close: %v", err)
		}
		if n := e.Legs(); n != 0 {
			t.Errorf("%d legs open after Close", n)
		}
	})
	return e
}

func newPacer(t *testing.T) *mediatest.Pacer {
	p := mediatest.NewPacer(0)
	t.Cleanup(p.Close)
	return p
}

// call is a leg and the test peer connected to it.
type call struct {
	t         *testing.T
	leg       *media.Leg
	peer      *mediatest.Peer
	tag       byte
	connected chan struct{}
	ended     chan string

	mu   sync.Mutex
	got  []mediatest.Packet // copies of what the peer received
	keep bool
}

// dial makes a leg and a peer, negotiates with trickle and waits until both
// sides are connected and media flows. The peer sends tagged packets (see
// tagged) from the start.
func dial(t *testing.T, e *media.Engine, id string, tag byte, pacer *mediatest.Pacer) *call {
	t.Helper()
	c := &call{t: t, tag: tag, connected: make(chan struct{}), ended: make(chan string, 1)}
	peer, err := mediatest.New(mediatest.Config{Codec: e.Codec(), Pacer: pacer})
	if err != nil {
		t.Fatalf("mediatest.New: %v", err)
	}
	c.peer = peer
	t.Cleanup(func() { _ = peer.Close() })
	var once sync.Once
	leg, err := e.NewLeg(id, media.LegHandler{
		OnCandidate: func(ci webrtc.ICECandidateInit) {
			// The answer carries the engine's candidates; a candidate is
			// trickled only if it was not in it.
			if rd := peer.PeerConnection().RemoteDescription(); rd != nil && strings.Contains(rd.SDP, ci.Candidate) {
				t.Errorf("leg %s trickled a candidate that was in its answer: %s", id, ci.Candidate)
			}
			if err := peer.AddCandidate(ci); err != nil {
				t.Errorf("peer.AddCandidate: %v", err)
			}
		},
		OnConnected: func() { once.Do(func() { close(c.connected) }) },
		OnEnded:     func(cause string) { c.ended <- cause },
	})
	if err != nil {
		t.Fatalf("NewLeg: %v", err)
	}
	c.leg = leg
	t.Cleanup(leg.Close)
	peer.OnPacket(c.record)
	peer.StartSending(tagged(tag))
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	if err := peer.Negotiate(ctx, leg, mediatest.OfferOptions{}); err != nil {
		t.Fatalf("negotiate %s: %v", id, err)
	}
	c.waitConnected()
	return c
}

func (c *call) waitConnected() {
	c.t.Helper()
	for _, ch := range []<-chan struct{}{c.peer.Connected(), c.connected} {
		select {
		case <-ch:
		case <-time.After(settle):
			c.t.Fatalf("leg %s did not connect (stats %+v)", c.leg.ID(), c.leg.Stats())
		}
	}
}

func (c *call) record(p mediatest.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.keep {
		return
	}
	p.Payload = bytes.Clone(p.Payload)
	c.got = append(c.got, p)
}

// capture starts keeping what the peer receives, dropping what was kept.
func (c *call) capture() {
	c.mu.Lock()
	c.keep = true
	c.got = nil
	c.mu.Unlock()
}

func (c *call) packets() []mediatest.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]mediatest.Packet(nil), c.got...)
}

// waitPackets waits until the peer has kept at least n packets that match.
func (c *call) waitPackets(n int, match func(mediatest.Packet) bool) []mediatest.Packet {
	c.t.Helper()
	deadline := time.Now().Add(settle)
	for {
		ps := c.packets()
		k := 0
		for _, p := range ps {
			if match == nil || match(p) {
				k++
			}
		}
		if k >= n {
			return ps
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("leg %s: %d of %d packets after %v (kept %d, leg %+v, peer %+v)",
				c.leg.ID(), k, n, settle, len(ps), c.leg.Stats(), c.peer.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tagged makes payloads that say who sent them: the tag, the sequence
// number, then bytes derived from both.
func tagged(tag byte) mediatest.PayloadFunc {
	return func(seq uint16, p []byte) {
		p[0] = tag
		binary.BigEndian.PutUint16(p[1:], seq)
		for i := 3; i < len(p); i++ {
			p[i] = byte(int(seq)*7 + i*int(tag))
		}
	}
}

// tagOf returns the tag of a payload made by tagged, or false if the
// payload is not one (or was changed on the way).
func tagOf(p []byte) (byte, bool) {
	if len(p) != mediatest.FrameSize {
		return 0, false
	}
	want := make([]byte, len(p))
	tagged(p[0])(binary.BigEndian.Uint16(p[1:]), want)
	return p[0], bytes.Equal(want, p)
}

func from(tag byte) func(mediatest.Packet) bool {
	return func(p mediatest.Packet) bool {
		got, ok := tagOf(p.Payload)
		return ok && got == tag
	}
}

func describe(ps []mediatest.Packet) string {
	var b strings.Builder
	for i, p := range ps {
		tag, ok := tagOf(p.Payload)
		fmt.Fprintf(&b, "%d: seq %d ts %d m %v tag %d/%v\n", i, p.SequenceNumber, p.Timestamp, p.Marker, tag, ok)
	}
	return b.String()
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
