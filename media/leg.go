package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Causes passed to LegHandler.OnEnded.
const (
	CauseMediaTimeout = "media_timeout" // no RTP for MediaTimeout
	CauseICEFailed    = "ice_failed"    // ICE never connected, or lost the browser
	CauseDTLSFailed   = "dtls_failed"   // the DTLS handshake failed
	CausePeerClosed   = "peer_closed"   // the browser closed the connection (DTLS close_notify)
	CauseClosed       = "closed"        // Close was called (only in Context's cause; OnEnded is not called)
)

// maxCandidates bounds the remote candidates a leg takes per offer (a
// browser sends a handful; each one is an address the server will send
// connectivity checks to).
const maxCandidates = 64

// maxQueuedEvents bounds the events a leg queues for its handler when
// they come from the network (DTMF).
const maxQueuedEvents = 256

// LegHandler receives what happens to a leg. The callbacks of one leg run
// one at a time, in order, on a goroutine of the leg (never on a pion
// goroutine and never inside a Leg method), so they may block for a while
// and may call the leg's methods, Close included.
type LegHandler struct {
	// OnCandidate is a local ICE candidate to trickle to the browser (the
	// same JSON as the browser's RTCIceCandidateInit). The answer from
	// HandleOffer already carries the candidates gathered by then, which
	// with the UDP mux is all of them, so this is rarely called; it is
	// never called with a candidate that was in an answer.
	OnCandidate func(webrtc.ICECandidateInit)
	// OnConnected: media flows. For a WebRTC leg, ICE and DTLS are
	// connected and the browser's audio has arrived; for an RTP leg, the
	// peer's first RTP packet has arrived. Called once.
	OnConnected func()
	// OnEnded: the leg ended by itself, with one of the Cause constants.
	// Called at most once, after the leg's resources are freed, and not if
	// Close was called first.
	OnEnded func(cause string)
	// OnDTMF: the peer of an RTP leg sent an RFC 4733 telephone-event:
	// '0'-'9', '*', '#', 'A'-'D'. Called once per event, however many
	// packets (updates, the three end packets) carry it.
	OnDTMF func(digit byte)
}

// LegStats is a snapshot of a leg's counters.
type LegStats struct {
	Kind                  LegKind
	SSRC                  uint32 // of the stream the leg sends (0 for a WebRTC leg before its answer)
	PacketsIn, PacketsOut uint64 // RTP packets received from and sent to the peer
	BytesIn, BytesOut     uint64 // RTP audio payload bytes
	// PacketsDropped counts packets received that were not forwarded
	// because they were not audio in the negotiated codec or did not
	// parse; for an RTP leg also those larger than 1500 bytes, those
	// before any description and those from a source that is not the
	// peer's (see the package doc).
	PacketsDropped uint64
	// Throttled counts the datagrams an RTP leg's sockets dropped unread
	// because their source sent more than 500 a second.
	Throttled uint64
	LastIn    time.Time // when the last RTP packet arrived; zero before the first
	Connected bool      // OnConnected has happened and the leg is open
	Closed    bool      // the leg has ended or was closed
	BridgedTo string    // the id of the leg this one is bridged to, if any
	Sound     Sound     // what the leg hears when it is not bridged (after the clip, if one plays)
	Clip      bool      // a clip (PlayClip) plays now

	// What the leg receives, by RFC 3550 (A.3, A.8): packets lost
	// (expected minus received, since the stream's first packet) and
	// interarrival jitter. For both kinds of leg.
	PacketsLost int64
	Jitter      time.Duration

	// RTP legs only: where RTP goes (the latched source with symmetric
	// RTP, else the description's address; empty before any), the peer's
	// direction, the RTCP packets received and what the peer's last report
	// said of the leg's outgoing stream.
	RemoteAddr         string
	RemoteDirection    Direction
	RTCPPackets        uint64
	RemoteFractionLost float64 // 0 to 1, over the peer's last report interval
	RemotePacketsLost  int64
	RemoteJitter       time.Duration
	DTMFIn, DTMFOut    uint64 // telephone-events received (reported) and sent
}

// Leg is one browser's voice connection: a pion PeerConnection that
// receives the browser's audio (forwarded to whatever leg hears it) and
// sends the browser what it hears: a bridged leg's audio, a sound, or
// nothing.
type Leg struct {
	e      *Engine
	kind   LegKind
	rtp    *rtpLeg // RTP legs only
	id     string
	h      LegHandler
	log    *slog.Logger
	source uint64 // identifies this leg as a source of audio in outStream
	pc     *webrtc.PeerConnection
	xcvr   *webrtc.RTPTransceiver

	// Routing, guarded by e.routeMu.
	partner *Leg
	play    playState
	gone    bool // torn down: Bridge and Play leave it alone

	// The media path.
	fwd atomic.Pointer[Leg] // the leg that hears this one
	out outStream           // what this leg hears

	pktIn, bytesIn, pktOut, bytesOut, dropped atomic.Uint64
	lastIn                                    atomic.Int64 // engine clock; 0 before connection
	timedOut                                  atomic.Bool
	connected                                 atomic.Bool
	digitsIn, digitsOut                       atomic.Uint64
	rx                                        rxStats
	rec                                       atomic.Pointer[recorder]
	dtmf                                      dtmfState // guarded by e.routeMu

	offerMu sync.Mutex // one offer at a time (TryLock)

	mu          sync.Mutex // guards the fields below
	closeCalled bool
	ending      bool
	haveRemote  bool                      // the first offer has been applied
	applying    bool                      // an offer is being applied: remote candidates wait
	pending     []webrtc.ICECandidateInit // remote candidates that wait for an offer
	remoteN     int                       // remote candidates taken for this offer
	offering    bool                      // HandleOffer runs: local candidates wait
	held        []webrtc.ICECandidateInit
	announced   map[string]bool // local candidates in the last answer
	pcUp        bool            // PeerConnection connected
	trackUp     bool            // browser audio arrived
	events      []event

	evWake   chan struct{}
	quit     chan struct{} // closed by Close: the event goroutine stops
	teardown sync.Once
	ctx      context.Context
	cancel   context.CancelCauseFunc
	readerWG sync.WaitGroup
}

type eventKind int

const (
	evCandidate eventKind = iota
	evPCState
	evICEState
	evTrack
	evEnd
	evMediaUp // an RTP leg's first packet
	evDTMF
)

type event struct {
	kind  eventKind
	cand  webrtc.ICECandidateInit
	pc    webrtc.PeerConnectionState
	ice   webrtc.ICEConnectionState
	cause string
	digit byte
}

// NewLeg makes a leg, ready for the browser's offer. id names it in logs
// and stats; it must be unique among open legs.
func (e *Engine) NewLeg(id string, h LegHandler) (*Leg, error) {
	if id == "" {
		return nil, fmt.Errorf("media: empty leg id: %w", ErrConfig)
	}
	cert, err := e.certificate()
	if err != nil {
		return nil, err
	}
	l := e.newLeg(id, h)
	if e.hasLeg(id) {
		return nil, fmt.Errorf("media: new leg %s: %w", id, ErrDuplicateLeg)
	}

	pc, err := e.api.NewPeerConnection(webrtc.Configuration{
		Certificates: []webrtc.Certificate{cert},
		BundlePolicy: webrtc.BundlePolicyMaxBundle,
	})
	if err != nil {
		return nil, fmt.Errorf("media: new leg %s: %w", id, err)
	}
	l.pc = pc
	xcvr, err := pc.AddTransceiverFromTrack(&localTrack{leg: l}, webrtc.RTPTransceiverInit{
		Direction: webrtc.RTPTransceiverDirectionSendrecv,
	})
	if err != nil {
		_ = pc.GracefulClose()
		return nil, fmt.Errorf("media: new leg %s: audio transceiver: %w", id, err)
	}
	l.xcvr = xcvr
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			l.post(event{kind: evCandidate, cand: c.ToJSON()})
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		l.post(event{kind: evPCState, pc: s})
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		l.post(event{kind: evICEState, ice: s})
	})
	pc.OnTrack(l.onTrack)

	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		_ = pc.GracefulClose()
		return nil, fmt.Errorf("media: new leg %s: engine: %w", id, ErrClosed)
	case e.legs[id] != nil:
		e.mu.Unlock()
		_ = pc.GracefulClose()
		return nil, fmt.Errorf("media: new leg %s: %w", id, ErrDuplicateLeg)
	}
	e.legs[id] = l
	e.wg.Add(1) // under e.mu, so Close (which sets closed first) waits for it
	e.mu.Unlock()
	go l.run()
	l.log.Debug("leg opened")
	return l, nil
}

// newLeg makes the part of a leg both kinds share.
func (e *Engine) newLeg(id string, h LegHandler) *Leg {
	l := &Leg{
		e:         e,
		id:        id,
		h:         h,
		log:       e.log.With("leg", id),
		source:    e.nextSource.Add(1),
		announced: map[string]bool{},
		evWake:    make(chan struct{}, 1),
		quit:      make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	l.out.init(l, e.law)
	return l
}

func (e *Engine) hasLeg(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.legs[id] != nil
}

func (e *Engine) removeLeg(l *Leg) {
	e.mu.Lock()
	if e.legs[l.id] == l {
		delete(e.legs, l.id)
	}
	e.mu.Unlock()
}

// ID is the id given to NewLeg.
func (l *Leg) ID() string { return l.id }

// HandleOffer applies the browser's offer and returns the answer. It takes
// the first offer and every later one (renegotiation, ICE restart) alike:
// the leg keeps its bridge or sound, its outgoing stream and its SSRC. The
// answer carries the server's candidates. A second offer while one is being
// answered gets ErrOfferPending.
func (l *Leg) HandleOffer(offer string) (answer string, err error) {
	if l.pc == nil {
		return "", fmt.Errorf("media: leg %s: WebRTC offer on an RTP leg: %w", l.id, ErrLegKind)
	}
	if !l.offerMu.TryLock() {
		return "", fmt.Errorf("media: leg %s: %w", l.id, ErrOfferPending)
	}
	defer l.offerMu.Unlock()
	if l.isClosed() {
		return "", fmt.Errorf("media: leg %s: offer: %w", l.id, ErrClosed)
	}
	if err := checkOffer(offer, l.e.law); err != nil {
		return "", fmt.Errorf("media: leg %s: %w", l.id, err)
	}

	l.mu.Lock()
	l.offering = true
	l.applying = true
	l.remoteN = 0
	l.mu.Unlock()
	announced := map[string]bool{}
	defer func() {
		// Candidates that came up while the offer was handled and are not
		// in the answer are trickled now, after the answer.
		l.mu.Lock()
		l.offering = false
		if err == nil {
			l.announced = announced
		}
		for _, c := range l.held {
			l.events = append(l.events, event{kind: evCandidate, cand: c})
		}
		l.held = nil
		l.mu.Unlock()
		l.wakeEvents()
	}()

	err = l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer})
	if err != nil && l.pc.SignalingState() == webrtc.SignalingStateHaveRemoteOffer {
		_ = l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
	}
	// Candidates that came while the offer was applied go in now (after an
	// ICE restart they belong to the new offer); if it failed, they wait
	// for the next one.
	l.mu.Lock()
	l.applying = false
	var pending []webrtc.ICECandidateInit
	if err == nil {
		pending, l.pending = l.pending, nil
		l.haveRemote = true
	}
	l.mu.Unlock()
	if err != nil {
		return "", l.pionError("apply offer", err, ErrBadSDP)
	}
	for _, c := range pending {
		if err := l.addCandidate(c); err != nil {
			l.log.Debug("buffered candidate refused", "err", err)
		}
	}

	gathered := webrtc.GatheringCompletePromise(l.pc)
	ans, err := l.pc.CreateAnswer(nil)
	if err == nil {
		err = l.pc.SetLocalDescription(ans)
	}
	if err != nil {
		// Back to stable, so the next offer starts from the last good one.
		_ = l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
		return "", l.pionError("answer", err, ErrBadSDP)
	}
	wait := time.NewTimer(gatherWait)
	select {
	case <-gathered:
	case <-wait.C:
		l.log.Warn("ICE gathering still running; the rest of the candidates will trickle")
	case <-l.quit:
	}
	wait.Stop()
	local := l.pc.LocalDescription()
	if local == nil || l.isClosed() {
		return "", fmt.Errorf("media: leg %s: no local description: %w", l.id, ErrClosed)
	}
	for line := range strings.Lines(local.SDP) {
		if c, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "a="); ok && strings.HasPrefix(c, "candidate:") {
			announced[c] = true
		}
	}
	return local.SDP, nil
}

// pionError wraps an error from pion: ErrClosed if the leg is gone, else
// the given sentinel.
func (l *Leg) pionError(what string, err error, sentinel error) error {
	if l.isClosed() || errors.Is(err, webrtc.ErrConnectionClosed) {
		return fmt.Errorf("media: leg %s: %s: %v: %w", l.id, what, err, ErrClosed)
	}
	return fmt.Errorf("media: leg %s: %s: %v: %w", l.id, what, err, sentinel)
}

// AddCandidate adds one of the browser's ICE candidates. Candidates that
// arrive before the first offer, or while an offer is being applied, are
// kept and applied after it. An empty
// candidate (end of candidates) is accepted and ignored; a candidate that
// does not parse is ErrBadCandidate; a candidate the engine cannot use (an
// mDNS name, TCP) is ignored.
func (l *Leg) AddCandidate(c webrtc.ICECandidateInit) error {
	if l.pc == nil {
		return fmt.Errorf("media: leg %s: ICE candidate on an RTP leg: %w", l.id, ErrLegKind)
	}
	value := strings.TrimPrefix(c.Candidate, "candidate:")
	if value == "" {
		return nil
	}
	if len(value) > 1024 {
		return fmt.Errorf("media: leg %s: candidate of %d bytes: %w", l.id, len(value), ErrBadCandidate)
	}
	if _, err := ice.UnmarshalCandidate(value); err != nil &&
		!errors.Is(err, ice.ErrUnknownCandidateTyp) && !errors.Is(err, ice.ErrDetermineNetworkType) {
		return fmt.Errorf("media: leg %s: candidate %q: %v: %w", l.id, value, err, ErrBadCandidate)
	}
	l.mu.Lock()
	if l.closeCalled || l.ending {
		l.mu.Unlock()
		return fmt.Errorf("media: leg %s: candidate: %w", l.id, ErrClosed)
	}
	if l.remoteN >= maxCandidates {
		l.mu.Unlock()
		return fmt.Errorf("media: leg %s: more than %d candidates: %w", l.id, maxCandidates, ErrTooManyCandidates)
	}
	l.remoteN++
	if !l.haveRemote || l.applying {
		l.pending = append(l.pending, c)
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	return l.addCandidate(c)
}

func (l *Leg) addCandidate(c webrtc.ICECandidateInit) error {
	if err := l.pc.AddICECandidate(c); err != nil {
		return l.pionError("candidate", err, ErrBadCandidate)
	}
	return nil
}

// Close ends the leg and frees everything it holds. OnEnded is not called.
// Close is idempotent and returns when the leg's connection and readers are
// gone (its event goroutine ends right after).
func (l *Leg) Close() {
	l.mu.Lock()
	first := !l.closeCalled
	l.closeCalled = true
	l.mu.Unlock()
	if first {
		l.log.Debug("leg closed")
		close(l.quit)
	}
	l.free(CauseClosed)
}

func (l *Leg) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeCalled || l.ending
}

// Context is cancelled when the leg ends or is closed; its cause
// (context.Cause) is an *EndedError, which matches ErrClosed.
func (l *Leg) Context() context.Context { return l.ctx }

// EndedError is the cause of a leg's Context: why it ended.
type EndedError struct {
	Leg   string
	Cause string // a Cause constant, or CauseClosed
}

func (e *EndedError) Error() string { return "media: leg " + e.Leg + " ended: " + e.Cause }

// Is makes errors.Is(err, ErrClosed) true.
func (e *EndedError) Is(target error) bool { return target == ErrClosed }

// free detaches the leg from any bridge or sound, closes the peer
// connection and waits for the readers. Once only; later callers wait for
// the first.
func (l *Leg) free(cause string) {
	l.teardown.Do(func() {
		l.cancel(&EndedError{Leg: l.id, Cause: cause})
		e := l.e
		e.routeMu.Lock()
		e.detach(l)
		e.stopDTMF(l)
		l.gone = true
		e.routeMu.Unlock()
		e.removeLeg(l)
		if l.pc != nil {
			if err := l.pc.GracefulClose(); err != nil {
				l.log.Debug("closing the peer connection", "err", err)
			}
		} else {
			_ = l.rtp.conn.Close()
			_ = l.rtp.rtcpConn.Close()
		}
		l.readerWG.Wait()
		if l.rtp != nil {
			e.ports.release(l.rtp.port) // after the readers: the sockets are closed
		}
		if r := l.rec.Load(); r != nil {
			r.stop()
		}
		l.connected.Store(false)
	})
}

// Stats returns the leg's counters.
func (l *Leg) Stats() LegStats {
	s := LegStats{
		Kind:           l.kind,
		DTMFIn:         l.digitsIn.Load(),
		DTMFOut:        l.digitsOut.Load(),
		PacketsIn:      l.pktIn.Load(),
		PacketsOut:     l.pktOut.Load(),
		BytesIn:        l.bytesIn.Load(),
		BytesOut:       l.bytesOut.Load(),
		PacketsDropped: l.dropped.Load(),
		Connected:      l.connected.Load(),
		Closed:         l.isClosed(),
	}
	if l.pktIn.Load() > 0 {
		s.LastIn = l.e.wallTime(l.lastIn.Load())
	}
	l.e.routeMu.Lock()
	if l.partner != nil {
		s.BridgedTo = l.partner.id
	}
	s.Sound = l.play.sound
	s.Clip = l.play.clip != nil
	l.e.routeMu.Unlock()
	l.out.mu.Lock()
	s.SSRC = l.out.hdr.SSRC
	l.out.mu.Unlock()
	l.rx.fill(&s)
	if r := l.rtp; r != nil {
		if d := r.dest.Load(); d != nil {
			s.RemoteAddr = d.String()
		}
		s.RemoteDirection = l.RemoteDirection()
		s.RTCPPackets = r.rtcpIn.Load()
		s.Throttled = r.guard.dropped.Load() + r.rtcpGuard.dropped.Load()
	}
	return s
}

// post queues an event for the leg's event goroutine. It never blocks, so
// pion callbacks may call it.
func (l *Leg) post(ev event) {
	l.mu.Lock()
	if l.closeCalled || l.ending { // nobody will handle it
		l.mu.Unlock()
		return
	}
	if ev.kind == evDTMF && len(l.events) >= maxQueuedEvents {
		l.mu.Unlock() // a handler that does not keep up loses digits, not memory
		return
	}
	l.events = append(l.events, ev)
	l.mu.Unlock()
	l.wakeEvents()
}

func (l *Leg) wakeEvents() {
	select {
	case l.evWake <- struct{}{}:
	default:
	}
}

// run runs the leg's callbacks and its reactions to pion's state
// changes, one at a time. It ends when the leg is closed or has ended.
func (l *Leg) run() {
	defer l.e.wg.Done()
	for {
		select {
		case <-l.quit:
			return
		case <-l.evWake:
		}
		for {
			l.mu.Lock()
			if len(l.events) == 0 {
				l.events = l.events[:0:0]
				l.mu.Unlock()
				break
			}
			ev := l.events[0]
			l.events[0] = event{}
			l.events = l.events[1:]
			l.mu.Unlock()
			select {
			case <-l.quit:
				return
			default:
			}
			if done := l.handle(ev); done {
				return
			}
		}
	}
}

// handle reacts to one event; it reports whether the leg has ended.
func (l *Leg) handle(ev event) bool {
	switch ev.kind {
	case evCandidate:
		l.mu.Lock()
		if l.offering {
			l.held = append(l.held, ev.cand)
			l.mu.Unlock()
			return false
		}
		skip := l.announced["candidate:"+strings.TrimPrefix(ev.cand.Candidate, "candidate:")]
		l.mu.Unlock()
		if !skip && l.h.OnCandidate != nil {
			l.h.OnCandidate(ev.cand)
		}
	case evTrack:
		l.mu.Lock()
		l.trackUp = true
		l.mu.Unlock()
		l.maybeConnected()
	case evPCState:
		l.log.Debug("peer connection", "state", ev.pc.String())
		switch ev.pc {
		case webrtc.PeerConnectionStateConnected:
			l.lastIn.CompareAndSwap(0, l.e.now()) // the media timeout starts now
			l.mu.Lock()
			l.pcUp = true
			l.mu.Unlock()
			l.maybeConnected()
		case webrtc.PeerConnectionStateFailed:
			cause := CauseDTLSFailed
			if s := l.pc.ICEConnectionState(); s == webrtc.ICEConnectionStateFailed || s == webrtc.ICEConnectionStateDisconnected {
				cause = CauseICEFailed
			}
			return l.end(cause)
		case webrtc.PeerConnectionStateClosed:
			return l.end(CausePeerClosed)
		}
	case evICEState:
		l.log.Debug("ICE", "state", ev.ice.String())
		if ev.ice == webrtc.ICEConnectionStateFailed {
			return l.end(CauseICEFailed)
		}
	case evEnd:
		return l.end(ev.cause)
	case evMediaUp:
		l.mu.Lock()
		l.pcUp, l.trackUp = true, true
		l.mu.Unlock()
		l.maybeConnected()
	case evDTMF:
		if l.h.OnDTMF != nil {
			l.h.OnDTMF(ev.digit)
		}
	}
	return false
}

func (l *Leg) maybeConnected() {
	l.mu.Lock()
	fire := l.pcUp && l.trackUp && !l.connected.Load() && !l.closeCalled && !l.ending
	if fire {
		l.connected.Store(true)
	}
	l.mu.Unlock()
	if fire {
		l.log.Info("leg connected")
		if l.h.OnConnected != nil {
			l.h.OnConnected()
		}
	}
}

// end ends the leg by itself: it frees it, then tells the handler, unless
// Close came first.
func (l *Leg) end(cause string) bool {
	l.mu.Lock()
	if l.closeCalled || l.ending {
		l.mu.Unlock()
		return true
	}
	l.ending = true
	l.mu.Unlock()
	l.log.Info("leg ended", "cause", cause)
	l.free(cause)
	l.mu.Lock()
	notify := !l.closeCalled
	l.mu.Unlock()
	if notify && l.h.OnEnded != nil {
		l.h.OnEnded(cause)
	}
	return true
}

// onTrack starts a reader for the browser's audio. Only the leg's own
// audio transceiver is read: the audio of any further section the browser
// adds is left unread (pion drops it when its buffer is full).
func (l *Leg) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	if r != l.xcvr.Receiver() || t.Kind() != webrtc.RTPCodecTypeAudio {
		l.log.Debug("ignoring a second remote track", "ssrc", uint32(t.SSRC()))
		return
	}
	l.mu.Lock()
	if l.closeCalled || l.ending {
		l.mu.Unlock()
		return
	}
	l.readerWG.Add(1)
	l.mu.Unlock()
	go l.read(t, uint8(t.PayloadType()))
	l.post(event{kind: evTrack})
}

// read forwards the browser's audio: one goroutine per remote track, a
// reused buffer, no allocation per packet.
func (l *Leg) read(t *webrtc.TrackRemote, pt uint8) {
	defer l.readerWG.Done()
	buf := make([]byte, 1500)
	failures := 0
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) || l.isClosed() {
				return
			}
			// A packet pion refused (an unknown payload type). Errors one
			// after the other with no packet between would be a broken
			// stream: stop rather than spin.
			l.dropped.Add(1)
			if failures++; failures > 1000 {
				l.log.Warn("giving up reading the browser's audio", "err", err)
				return
			}
			continue
		}
		failures = 0
		now := l.e.now()
		p, ok := parseRTP(buf[:n])
		if !ok || p.pt != pt {
			l.pktIn.Add(1)
			l.lastIn.Store(now)
			l.dropped.Add(1)
			continue
		}
		l.receive(p, now)
	}
}

// receive is the media path of both kinds of leg for one audio packet:
// count it, record it, forward it to the leg that hears this one.
func (l *Leg) receive(p rtpPacket, now int64) {
	l.countIn(p, now, true)
	l.bytesIn.Add(uint64(len(p.payload)))
	if r := l.rec.Load(); r != nil {
		r.add(p.payload)
	}
	if dst := l.fwd.Load(); dst != nil {
		dst.out.write(l.source, p.ssrc, p.seq, p.ts, p.payload, now)
	}
}

// countIn counts a packet received (audio or telephone-event) for the
// stats and the media timeout.
func (l *Leg) countIn(p rtpPacket, now int64, audio bool) {
	l.pktIn.Add(1)
	l.lastIn.Store(now)
	l.rx.update(p.ssrc, p.seq, p.ts, now, audio)
}

// randomStart gives a new outgoing stream its first sequence number and
// timestamp (RFC 3550 wants them random).
func randomStart() (uint16, uint32) {
	return uint16(rand.Uint32()), rand.Uint32()
}
