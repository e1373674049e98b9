package media_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// newRTPEngine is newEngine with RTP sockets on 127.0.0.1.
func newRTPEngine(t *testing.T, mut func(*media.Config)) *media.Engine {
	t.Helper()
	return newEngine(t, func(c *media.Config) {
		c.RTPAddr = "127.0.0.1"
		if mut != nil {
			mut(c)
		}
	})
}

// phone is an RTP leg and the test peer (a SIP phone's media) on its far
// side.
type phone struct {
	t         *testing.T
	leg       *media.Leg
	peer      *mediatest.RTPPeer
	connected chan struct{}
	ended     chan string
	digits    chan byte

	mu   sync.Mutex
	got  []mediatest.Packet
	keep bool
}

// newPhone makes an RTP leg and a peer, not yet negotiated.
func newPhone(t *testing.T, e *media.Engine, id string) *phone {
	t.Helper()
	ph := &phone{t: t, connected: make(chan struct{}), ended: make(chan string, 1), digits: make(chan byte, 64)}
	peer, err := mediatest.NewRTPPeer(e.Codec())
	if err != nil {
		t.Fatalf("NewRTPPeer: %v", err)
	}
	ph.peer = peer
	t.Cleanup(peer.Close)
	var once sync.Once
	leg, err := e.NewRTPLeg(id, media.LegHandler{
		OnConnected: func() { once.Do(func() { close(ph.connected) }) },
		OnEnded:     func(cause string) { ph.ended <- cause },
		OnDTMF:      func(d byte) { ph.digits <- d },
	})
	if err != nil {
		t.Fatalf("NewRTPLeg: %v", err)
	}
	ph.leg = leg
	t.Cleanup(leg.Close)
	peer.OnPacket(ph.record)
	return ph
}

// callIn negotiates the way an inbound INVITE does: the peer offers, the
// leg answers.
func (ph *phone) callIn() string {
	ph.t.Helper()
	answer, err := ph.leg.HandleRTPOffer(ph.peer.SDP("sendrecv"))
	if err != nil {
		ph.t.Fatalf("HandleRTPOffer: %v", err)
	}
	if err := ph.peer.SetRemote(answer); err != nil {
		ph.t.Fatalf("peer: %v", err)
	}
	return answer
}

// callOut negotiates the way an outbound INVITE does: the leg offers, the
// peer answers.
func (ph *phone) callOut() string {
	ph.t.Helper()
	offer, err := ph.leg.RTPOffer()
	if err != nil {
		ph.t.Fatalf("RTPOffer: %v", err)
	}
	if err := ph.peer.SetRemote(offer); err != nil {
		ph.t.Fatalf("peer: %v", err)
	}
	if err := ph.leg.HandleRTPAnswer(ph.peer.SDP("sendrecv")); err != nil {
		ph.t.Fatalf("HandleRTPAnswer: %v", err)
	}
	return offer
}

func (ph *phone) waitConnected() {
	ph.t.Helper()
	select {
	case <-ph.connected:
	case <-time.After(settle):
		ph.t.Fatalf("leg %s did not connect (stats %+v)", ph.leg.ID(), ph.leg.Stats())
	}
}

func (ph *phone) record(p mediatest.Packet) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if !ph.keep {
		return
	}
	p.Payload = bytes.Clone(p.Payload)
	ph.got = append(ph.got, p)
}

func (ph *phone) capture() {
	ph.mu.Lock()
	ph.keep = true
	ph.got = nil
	ph.mu.Unlock()
}

func (ph *phone) packets() []mediatest.Packet {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return append([]mediatest.Packet(nil), ph.got...)
}

// waitPackets waits until the peer has kept at least n packets that match.
func (ph *phone) waitPackets(n int, match func(mediatest.Packet) bool) []mediatest.Packet {
	ph.t.Helper()
	deadline := time.Now().Add(settle)
	for {
		ps := ph.packets()
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
			ph.t.Fatalf("leg %s: %d of %d packets after %v (kept %d, leg %+v)",
				ph.leg.ID(), k, n, settle, len(ps), ph.leg.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
