package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/contactd/contactd/media/mediatest"
)

// Voice mode's peers: the pacers they send from, the server's trickled
// candidates, the direct pairs of the baseline, and the rule that only this
// machine's addresses are used.

// startPacers starts n pacers, spread evenly over the 20 ms of a frame.
func (vr *voiceRun) startPacers(n int) {
	const frame = 20 * time.Millisecond
	for k := range n {
		if k > 0 {
			time.Sleep(frame / time.Duration(n)) // the phase of the next one
		}
		vr.pacers = append(vr.pacers, mediatest.NewPacer(frame))
	}
}

func (vr *voiceRun) closePacers() {
	for _, p := range vr.pacers {
		p.Close()
	}
}

// pacerOf is the pacer of call (or baseline pair) k.
func (vr *voiceRun) pacerOf(k int) *mediatest.Pacer { return vr.pacers[k%len(vr.pacers)] }

// trickle holds the server's trickled candidates until the answer is
// applied. (The server puts its candidates in the answer; it trickles only
// those found later.)
type trickle struct {
	mu      sync.Mutex
	peer    *mediatest.Peer
	pending []webrtc.ICECandidateInit
}

func (t *trickle) add(raw json.RawMessage, r *runner, local func(net.IP) bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	var c webrtc.ICECandidateInit
	if json.Unmarshal(raw, &c) != nil {
		r.st.fail("bad_candidate")
		return
	}
	if !localCandidate(c.Candidate, local) {
		return
	}
	t.mu.Lock()
	p := t.peer
	if p == nil {
		t.pending = append(t.pending, c)
	}
	t.mu.Unlock()
	if p != nil {
		_ = p.AddCandidate(c)
	}
}

// ready applies the candidates held so far; later ones go straight to p.
func (t *trickle) ready(p *mediatest.Peer, r *runner, local func(net.IP) bool) {
	t.mu.Lock()
	pending := t.pending
	t.pending, t.peer = nil, p
	t.mu.Unlock()
	for _, c := range pending {
		_ = p.AddCandidate(c)
	}
}

// startBaseline connects n pairs of peers directly (no contactd) and starts
// them sending; it returns the peers. Pairs that fail are counted and left
// out.
func (vr *voiceRun) startBaseline(ctx context.Context, n int) []*mediatest.Peer {
	r := vr.r
	live := new(atomic.Bool)
	live.Store(true)
	var out []*mediatest.Peer
	for i := range n {
		a, b, err := vr.directPair(ctx, live, i)
		if err != nil {
			r.st.fail("baseline")
			r.logf("baseline pair %d: %v", i, err)
			continue
		}
		out = append(out, a, b)
	}
	return out
}

// directPair is one baseline pair: a offers, b answers, both send. Flow
// ids are above every call's.
func (vr *voiceRun) directPair(ctx context.Context, live *atomic.Bool, i int) (*mediatest.Peer, *mediatest.Peer, error) {
	r := vr.r
	a, err := mediatest.New(mediatest.Config{Pacer: vr.pacerOf(i)})
	if err != nil {
		return nil, nil, err
	}
	b, err := mediatest.New(mediatest.Config{Pacer: vr.pacerOf(i)})
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	fail := func(err error) (*mediatest.Peer, *mediatest.Peer, error) {
		a.Close()
		b.Close()
		return nil, nil, err
	}
	ab := &flow{id: uint32(2*maxCalls + 2*i), live: live, m: &vr.direct}
	ba := &flow{id: uint32(2*maxCalls + 2*i + 1), live: live, m: &vr.direct}
	b.OnPacket(r.listener(ab))
	a.OnPacket(r.listener(ba))
	sctx, cancel := context.WithTimeout(ctx, callStepWait)
	defer cancel()
	offer, err := a.Offer(sctx, mediatest.OfferOptions{Complete: true})
	if err != nil {
		return fail(err)
	}
	pc := b.PeerConnection()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-sctx.Done():
		return fail(sctx.Err())
	}
	if err := a.Accept(pc.LocalDescription().SDP); err != nil {
		return fail(err)
	}
	for _, p := range []*mediatest.Peer{a, b} {
		select {
		case <-p.Connected():
		case <-p.Failed():
			return fail(errors.New("ICE failed"))
		case <-sctx.Done():
			return fail(fmt.Errorf("not connected: %w", sctx.Err()))
		}
	}
	a.StartSending(r.payloader(ab))
	b.StartSending(r.payloader(ba))
	return a, b, nil
}

// localAddrs returns a test for addresses of this machine: loopback, or
// one of its interfaces'. ccload only loads its own machine, so the
// server's candidates are kept only when they are local (packets to them
// never leave the host).
func localAddrs() func(net.IP) bool {
	own := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				own[n.IP.String()] = true
			}
		}
	}
	return func(ip net.IP) bool { return ip != nil && (ip.IsLoopback() || own[ip.String()]) }
}

// localCandidate says whether an ICE candidate ("candidate:f c udp prio
// ADDRESS port typ ...") is for an address of this machine.
func localCandidate(c string, local func(net.IP) bool) bool {
	f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(c, "a="), "candidate:"))
	return len(f) >= 6 && local(net.ParseIP(f[4]))
}

// localSDP drops the candidates of sdp that are not for this machine, and
// says how many are left.
func localSDP(sdp string, local func(net.IP) bool) (string, int) {
	var b strings.Builder
	b.Grow(len(sdp))
	n := 0
	for line := range strings.Lines(sdp) {
		if c, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a=candidate:"); ok {
			if !localCandidate(c, local) {
				continue
			}
			n++
		}
		b.WriteString(line)
	}
	return b.String(), n
}
