package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// LegKind tells a WebRTC leg (a browser) from a plain RTP leg (SIP).
type LegKind int

// Kinds of leg.
const (
	KindWebRTC LegKind = iota
	KindRTP
)

func (k LegKind) String() string {
	if k == KindRTP {
		return "rtp"
	}
	return "webrtc"
}

// maxDatagram is the largest RTP or RTCP datagram an RTP leg reads; a
// larger one is dropped. G.711 at 20 ms is 172 bytes.
const maxDatagram = 1500

// rtpGuardSources is how many source addresses an RTP socket's guard
// tracks one by one.
const rtpGuardSources = 64

// rtpLeg is what only RTP legs have: the port pair, the negotiated
// session, the latched peer address and the RTCP state.
type rtpLeg struct {
	conn, rtcpConn   *net.UDPConn
	guard, rtcpGuard *guardConn
	port             int
	ip               netip.Addr // written in our SDP
	symmetric        bool

	mu       sync.Mutex // guards the negotiation state
	sessID   uint64
	version  uint64
	lastBody string
	offered  bool // our offer waits for its answer

	// What the media path needs of the peer, replaced whole by each
	// description; nil before the first.
	peer atomic.Pointer[rtpPeer]
	// Where RTP and RTCP go: the SDP addresses, or with symmetric RTP the
	// addresses the peer's packets come from once they came. Nil: nowhere.
	dest, rtcpDest atomic.Pointer[netip.AddrPort]

	up    atomic.Bool  // the first RTP packet arrived
	since atomic.Int64 // engine clock when the session last became sendrecv: the media timeout counts from here at the earliest

	wbuf [maxDatagram + 64]byte // outgoing RTP, used under Leg.out.mu

	// The reader's own state.
	dtmfSeen bool
	dtmfSSRC uint32
	dtmfTS   uint32

	// RTCP, sent by the engine clock.
	rtcpOut []byte
	lastSR  int64
	rtcpIn  atomic.Uint64
}

// rtpPeer is one remote description, as the media path uses it.
type rtpPeer struct {
	sdpAddr, sdpRTCP netip.AddrPort // invalid: the peer takes no media (c=0.0.0.0)
	// Payload types the peer may send with (ours if we offered, theirs if
	// they did; both are accepted) and the ones we send with (theirs).
	inAudio, outAudio uint8
	inEvent, outEvent int // -1: none
	dir               Direction
}

func (p *rtpPeer) isAudio(pt uint8) bool { return pt == p.outAudio || pt == p.inAudio }
func (p *rtpPeer) isEvent(pt uint8) bool {
	return (p.outEvent >= 0 && int(pt) == p.outEvent) || (p.inEvent >= 0 && int(pt) == p.inEvent)
}

// NewRTPLeg makes a plain RTP/AVP leg (a SIP call's media) on the next
// free port pair of the configured range: RTP on an even port, RTCP on the
// port above. It has no ICE, no DTLS and no SRTP. Negotiate with RTPOffer
// and HandleRTPAnswer, or HandleRTPOffer. ErrNoPorts: the range is full.
func (e *Engine) NewRTPLeg(id string, h LegHandler) (*Leg, error) {
	if id == "" {
		return nil, fmt.Errorf("media: empty leg id: %w", ErrConfig)
	}
	if e.hasLeg(id) {
		return nil, fmt.Errorf("media: new leg %s: %w", id, ErrDuplicateLeg)
	}
	conn, rtcpConn, port, err := e.ports.open()
	if err != nil {
		return nil, fmt.Errorf("media: new leg %s: %w", id, err)
	}
	_ = conn.SetReadBuffer(64 << 10)
	l := e.newLeg(id, h)
	l.kind = KindRTP
	r := &rtpLeg{
		conn:      conn,
		rtcpConn:  rtcpConn,
		guard:     newGuardConn(conn),
		rtcpGuard: newGuardConn(rtcpConn),
		port:      port,
		ip:        e.rtpIP,
		symmetric: !e.cfg.DisableSymmetricRTP,
		sessID:    rand.Uint64() >> 2,
		lastSR:    e.now(),
	}
	r.guard.limit, r.rtcpGuard.limit = e.rtpGuard, e.rtpGuard
	// A leg talks to one peer: a small table of sources, so a spray from
	// many ports cannot grow each leg's memory (the rest share one budget).
	r.guard.tableSize, r.rtcpGuard.tableSize = rtpGuardSources, rtpGuardSources
	l.rtp = r
	l.out.writer = rtpWriter{l}
	l.out.hdr.SSRC = rand.Uint32()

	// The readers start before the leg is registered, so a Close that
	// finds it always has them to wait for.
	l.readerWG.Add(2)
	go l.readRTP()
	go l.readRTCP()

	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		r.closeSockets(l)
		return nil, fmt.Errorf("media: new leg %s: engine: %w", id, ErrClosed)
	case e.legs[id] != nil:
		e.mu.Unlock()
		r.closeSockets(l)
		return nil, fmt.Errorf("media: new leg %s: %w", id, ErrDuplicateLeg)
	}
	e.legs[id] = l
	e.wg.Add(1)
	e.mu.Unlock()
	go l.run()
	l.log.Debug("RTP leg opened", "port", port)
	return l, nil
}

// closeSockets closes a leg that was never registered: its sockets, its
// readers, its port pair (into quarantine).
func (r *rtpLeg) closeSockets(l *Leg) {
	_ = r.conn.Close()
	_ = r.rtcpConn.Close()
	l.readerWG.Wait()
	l.e.ports.release(r.port)
}

// Kind tells a WebRTC leg from an RTP leg.
func (l *Leg) Kind() LegKind { return l.kind }

// RTPPort is the local RTP port of an RTP leg (RTCP is on the port
// above), 0 for a WebRTC leg.
func (l *Leg) RTPPort() int {
	if l.rtp == nil {
		return 0
	}
	return l.rtp.port
}

func (l *Leg) rtpOnly(what string) (*rtpLeg, error) {
	if l.rtp == nil {
		return nil, fmt.Errorf("media: leg %s: %s on a WebRTC leg: %w", l.id, what, ErrLegKind)
	}
	if l.isClosed() {
		return nil, fmt.Errorf("media: leg %s: %s: %w", l.id, what, ErrClosed)
	}
	return l.rtp, nil
}

// RTPOffer returns an offer for the peer (an outbound INVITE, or the offer
// in the 200 to an INVITE without SDP): the engine's codec, static payload
// type, telephone-event on 101, sendrecv. Apply the peer's answer with
// HandleRTPAnswer.
func (l *Leg) RTPOffer() (sdp string, err error) {
	r, err := l.rtpOnly("RTP offer")
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offered = true
	return r.describe(l.localSDP(l.e.law.payloadType, DefaultTelephoneEventPT, SendRecv), nil), nil
}

// HandleRTPOffer applies the peer's offer and returns the answer. It takes
// the first offer and every later one (re-INVITE) alike: the answer
// mirrors the offer's direction (sendonly is answered recvonly, inactive
// inactive), uses the offer's payload type numbers, and rejects (port 0)
// every section but the first RTP/AVP audio one with the engine's codec.
// RemoteDirection reports the offer's direction. The leg keeps its port,
// bridge or sound, its SSRC and its stream. ErrNoCommonCodec: no such
// section (SIP 488); ErrBadSDP: the offer does not parse or has no
// usable address. On error the leg keeps its previous session.
func (l *Leg) HandleRTPOffer(offer string) (answer string, err error) {
	r, err := l.rtpOnly("RTP offer")
	if err != nil {
		return "", err
	}
	rs, err := parseRTPSDP(offer, l.e.law)
	if err != nil {
		return "", fmt.Errorf("media: leg %s: offer: %w", l.id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.offered = false
	l.applyRemote(&rtpPeer{
		sdpAddr: rs.addr, sdpRTCP: rs.rtcp,
		inAudio: rs.audioPT, outAudio: rs.audioPT,
		inEvent: rs.tePT, outEvent: rs.tePT,
		dir: rs.dir,
	})
	return r.describe(l.localSDP(rs.audioPT, rs.tePT, rs.dir.reverse()), rs), nil
}

// HandleRTPAnswer applies the peer's answer to the last RTPOffer.
// ErrNoCommonCodec: the answer accepted no audio in the engine's codec;
// ErrBadSDP: it does not parse, or no offer is waiting for an answer.
func (l *Leg) HandleRTPAnswer(answer string) error {
	r, err := l.rtpOnly("RTP answer")
	if err != nil {
		return err
	}
	rs, err := parseRTPSDP(answer, l.e.law)
	if err != nil {
		return fmt.Errorf("media: leg %s: answer: %w", l.id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.offered {
		return fmt.Errorf("media: leg %s: an answer with no offer waiting: %w", l.id, ErrBadSDP)
	}
	r.offered = false
	inEvent := -1
	if rs.tePT >= 0 {
		inEvent = DefaultTelephoneEventPT
	}
	l.applyRemote(&rtpPeer{
		sdpAddr: rs.addr, sdpRTCP: rs.rtcp,
		inAudio: l.e.law.payloadType, outAudio: rs.audioPT,
		inEvent: inEvent, outEvent: rs.tePT,
		dir: rs.dir,
	})
	return nil
}

// RemoteDirection is the direction of the peer's last description, as the
// peer wrote it (c=0.0.0.0 turns sendrecv into sendonly, recvonly into
// inactive). SendRecv before any. A SIP edge reads SendOnly and Inactive
// as hold from the peer.
func (l *Leg) RemoteDirection() Direction {
	if l.rtp == nil {
		return SendRecv
	}
	if p := l.rtp.peer.Load(); p != nil {
		return p.dir
	}
	return SendRecv
}

func (l *Leg) localSDP(audioPT uint8, tePT int, dir Direction) localSDP {
	r := l.rtp
	return localSDP{sessID: r.sessID, ip: r.ip, port: r.port, law: l.e.law,
		audioPT: audioPT, tePT: tePT, dir: dir}
}

// describe renders a description, with a new version number only when it
// differs from the last one sent (RFC 3264 8). The caller holds r.mu.
func (r *rtpLeg) describe(s localSDP, remote *remoteSDP) string {
	s.version = r.version
	body := s.String(remote)
	if body != r.lastBody {
		if r.lastBody != "" {
			r.version++
			s.version = r.version
			body = s.String(remote)
		}
		r.lastBody = body
	}
	return body
}

// applyRemote makes p the peer's session. The caller holds r.mu.
func (l *Leg) applyRemote(p *rtpPeer) {
	r := l.rtp
	old := r.peer.Load()
	if old == nil || old.sdpAddr != p.sdpAddr {
		// A new address: forget the latched one (the reader does too).
		if p.sdpAddr.IsValid() {
			a, c := p.sdpAddr, p.sdpRTCP
			r.dest.Store(&a)
			r.rtcpDest.Store(&c)
		} else {
			r.dest.Store(nil)
			r.rtcpDest.Store(nil)
		}
	}
	if (old == nil || old.dir != SendRecv) && p.dir == SendRecv {
		r.since.Store(l.e.now()) // the media timeout (re)starts now
	}
	l.out.mu.Lock()
	l.out.hdr.PayloadType = p.outAudio
	l.out.mu.Unlock()
	r.peer.Store(p)
	if old == nil || old.dir != p.dir || old.sdpAddr != p.sdpAddr {
		l.log.Info("RTP session", "remote", p.sdpAddr.String(), "direction", p.dir.String(),
			"pt", p.outAudio, "telephoneEvent", p.outEvent)
	}
}

// rtpWriter sends an RTP leg's outgoing stream: header and payload into
// one buffer, one datagram to where the peer receives. Called under
// Leg.out.mu.
type rtpWriter struct{ l *Leg }

var errDatagramTooLarge = errors.New("RTP packet too large")

func (w rtpWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	r := w.l.rtp
	p := r.peer.Load()
	if p == nil || !p.dir.receives() {
		return 0, nil
	}
	dst := r.dest.Load()
	if dst == nil {
		return 0, nil
	}
	n, err := h.MarshalTo(r.wbuf[:])
	if err != nil {
		return 0, err
	}
	if n+len(payload) > len(r.wbuf) {
		return 0, errDatagramTooLarge
	}
	n += copy(r.wbuf[n:], payload)
	return r.conn.WriteToUDPAddrPort(r.wbuf[:n], *dst)
}

func (w rtpWriter) Write(b []byte) (int, error) {
	dst := w.l.rtp.dest.Load()
	if dst == nil {
		return 0, nil
	}
	return w.l.rtp.conn.WriteToUDPAddrPort(b, *dst)
}

var _ webrtc.TrackLocalWriter = rtpWriter{}

// readRTP is the RTP socket's one reader: it drops what is not the peer's
// RTP in a negotiated payload type, latches the peer's address (symmetric
// RTP) and hands the packet to the shared receive path.
func (l *Leg) readRTP() {
	defer l.readerWG.Done()
	r := l.rtp
	buf := make([]byte, maxDatagram+1)
	var latched netip.AddrPort
	var seen *rtpPeer
	failures := 0
	for {
		n, src, err := r.guard.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures > 1000 {
				l.log.Warn("giving up reading RTP", "err", err)
				return
			}
			continue
		}
		failures = 0
		p := r.peer.Load()
		if n > maxDatagram || p == nil {
			l.dropped.Add(1)
			continue
		}
		pkt, ok := parseRTP(buf[:n])
		if !ok || !(p.isAudio(pkt.pt) || p.isEvent(pkt.pt)) {
			l.dropped.Add(1)
			continue
		}
		if p != seen {
			if seen == nil || seen.sdpAddr != p.sdpAddr {
				latched = netip.AddrPort{}
			}
			seen = p
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if !r.symmetric {
			if src != p.sdpAddr {
				l.dropped.Add(1)
				continue
			}
		} else if src != latched {
			// The first source latches; once latched, only the address in
			// the description may take over.
			if latched.IsValid() && src != p.sdpAddr {
				l.dropped.Add(1)
				continue
			}
			latched = src
			a := src
			r.dest.Store(&a)
			l.log.Debug("RTP source latched", "addr", src.String())
		}
		now := l.e.now()
		if !r.up.Load() && r.up.CompareAndSwap(false, true) {
			l.post(event{kind: evMediaUp})
		}
		if p.isEvent(pkt.pt) {
			l.countIn(pkt, now, false)
			l.dtmfIn(pkt)
			continue
		}
		l.receive(pkt, now)
	}
}
