// Package mediatest provides a pion peer that stands in for a browser in
// voice tests and load tools: one sendrecv audio track in G.711, an offer
// (trickled or complete), RTP sent at 20 ms with payloads the caller makes,
// and the packets received, counted and handed to a callback.
//
// It does not depend on package media (or on testing), so a load generator
// can run many peers in one process; it reuses its buffers and sends from
// one shared clock (Pacer).
package mediatest

import (
	"context"
	"encoding/binary"
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
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// FrameSize is the payload of one 20 ms G.711 packet.
const FrameSize = 160

// FrameInterval is the time between two packets of a peer.
const FrameInterval = 20 * time.Millisecond

// maxBurst is how many packets a late pacer tick sends a peer at once.
const maxBurst = 50

// Config configures a Peer.
type Config struct {
	// Codec is "PCMU" (default) or "PCMA", the only codec the peer offers.
	Codec string
	// ListenAddr is the peer's own UDP socket; default "127.0.0.1:0".
	ListenAddr string
	// OnCandidate receives the peer's ICE candidates to trickle. Negotiate
	// replaces it with the answerer's AddCandidate.
	OnCandidate func(webrtc.ICECandidateInit)
	// Pacer is the clock the peer sends from; several peers should share
	// one. Nil: the peer makes its own.
	Pacer  *Pacer
	Logger *slog.Logger
}

// Packet is one RTP packet the peer received. Payload is only valid during
// the callback.
type Packet struct {
	SequenceNumber uint16
	Timestamp      uint32
	SSRC           uint32
	PayloadType    uint8
	Marker         bool
	Payload        []byte
	Arrival        time.Time
}

// Stats counts what the peer sent and received (payload bytes).
type Stats struct {
	PacketsSent, BytesSent         uint64
	PacketsReceived, BytesReceived uint64
	LastReceived                   time.Time
}

// PayloadFunc fills the payload (FrameSize bytes) of the packet with the
// given sequence number. It runs on the pacer's goroutine just before the
// packet is sent, so it may put the send time in the payload.
type PayloadFunc func(seq uint16, payload []byte)

// Peer is a client peer connection with one audio track.
type Peer struct {
	log       *slog.Logger
	codec     webrtc.RTPCodecCapability
	pt        uint8
	conn      *net.UDPConn
	mux       ice.UDPMux
	pc        *webrtc.PeerConnection
	pacer     *Pacer
	ownPacer  bool
	candidate atomic.Pointer[func(webrtc.ICECandidateInit)]
	onPacket  atomic.Pointer[func(Packet)]

	connected     chan struct{}
	connectedOnce sync.Once
	receiving     chan struct{}
	receivingOnce sync.Once
	failed        chan struct{}
	failedOnce    sync.Once

	// Sending, guarded by sendMu (the pacer and Start/StopSending).
	sendMu  sync.Mutex
	writer  webrtc.TrackLocalWriter
	hdr     rtp.Header
	gen     PayloadFunc
	sending bool
	start   time.Time
	frames  int64
	payload [FrameSize]byte

	sent, sentBytes, recv, recvBytes atomic.Uint64
	lastRecv                         atomic.Int64 // unix ns

	closeOnce sync.Once
	closeMu   sync.Mutex
	closing   bool // no new readers once set
	readers   sync.WaitGroup
}

// New makes a peer; it listens on its own UDP socket.
func New(cfg Config) (*Peer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	p := &Peer{
		log:       cfg.Logger,
		connected: make(chan struct{}),
		receiving: make(chan struct{}),
		failed:    make(chan struct{}),
	}
	switch strings.ToUpper(cfg.Codec) {
	case "", "PCMU":
		p.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}
		p.pt = 0
	case "PCMA":
		p.codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}
		p.pt = 8
	default:
		return nil, fmt.Errorf("mediatest: codec %q", cfg.Codec)
	}
	if cfg.OnCandidate != nil {
		f := cfg.OnCandidate
		p.candidate.Store(&f)
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("mediatest: %w", err)
	}
	p.conn, err = net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("mediatest: %w", err)
	}
	// A load tool's peers share a busy process: room for a burst.
	_ = p.conn.SetReadBuffer(1 << 20)
	logs := quietLogs{}
	p.mux = webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), p.conn)

	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(p.mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: p.codec, PayloadType: webrtc.PayloadType(p.pt)},
		webrtc.RTPCodecTypeAudio); err != nil {
		_ = p.mux.Close()
		return nil, fmt.Errorf("mediatest: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
	p.pc, err = api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		_ = p.mux.Close()
		return nil, fmt.Errorf("mediatest: %w", err)
	}
	if _, err := p.pc.AddTransceiverFromTrack(&track{p: p}, webrtc.RTPTransceiverInit{
		Direction: webrtc.RTPTransceiverDirectionSendrecv,
	}); err != nil {
		_ = p.pc.Close()
		_ = p.mux.Close()
		return nil, fmt.Errorf("mediatest: %w", err)
	}
	p.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		if f := p.candidate.Load(); f != nil {
			(*f)(c.ToJSON())
		}
	})
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connectedOnce.Do(func() { close(p.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			p.failedOnce.Do(func() { close(p.failed) })
		}
	})
	p.pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		p.closeMu.Lock()
		defer p.closeMu.Unlock()
		if p.closing {
			return
		}
		p.readers.Add(1)
		go p.read(t)
	})
	p.pacer = cfg.Pacer
	if p.pacer == nil {
		p.pacer = NewPacer(0)
		p.ownPacer = true
	}
	return p, nil
}

// LocalAddr is the peer's UDP address.
func (p *Peer) LocalAddr() *net.UDPAddr {
	a, _ := p.conn.LocalAddr().(*net.UDPAddr)
	return a
}

// PeerConnection is the underlying pion peer connection.
func (p *Peer) PeerConnection() *webrtc.PeerConnection { return p.pc }

// SSRC is the SSRC of the peer's audio (0 before the answer).
func (p *Peer) SSRC() uint32 {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.hdr.SSRC
}

// OfferOptions shape an offer.
type OfferOptions struct {
	// ICERestart makes new ICE credentials.
	ICERestart bool
	// Complete waits for ICE gathering and puts every candidate in the
	// offer, instead of trickling them.
	Complete bool
}

// Offer makes an offer and sets it as the local description. Without
// Complete, candidates go to the OnCandidate callback as they are found.
func (p *Peer) Offer(ctx context.Context, o OfferOptions) (string, error) {
	offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: o.ICERestart})
	if err != nil {
		return "", fmt.Errorf("mediatest: offer: %w", err)
	}
	var gathered <-chan struct{}
	if o.Complete {
		gathered = webrtc.GatheringCompletePromise(p.pc)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("mediatest: set offer: %w", err)
	}
	if !o.Complete {
		return offer.SDP, nil
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("mediatest: gathering: %w", ctx.Err())
	}
	return p.pc.LocalDescription().SDP, nil
}

// Accept applies the answer.
func (p *Peer) Accept(answer string) error {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("mediatest: answer: %w", err)
	}
	return nil
}

// AddCandidate adds a remote candidate.
func (p *Peer) AddCandidate(c webrtc.ICECandidateInit) error {
	return p.pc.AddICECandidate(c)
}

// Answerer is the server side of a negotiation (a *media.Leg).
type Answerer interface {
	HandleOffer(sdp string) (string, error)
	AddCandidate(webrtc.ICECandidateInit) error
}

// Negotiate runs one offer/answer with a: the offer, a's answer, and,
// unless o.Complete, the peer's candidates trickled to a (from now on).
// Candidates a trickles back must be given to AddCandidate by the caller
// (a *media.Leg puts them all in its answer).
func (p *Peer) Negotiate(ctx context.Context, a Answerer, o OfferOptions) error {
	if !o.Complete {
		f := func(c webrtc.ICECandidateInit) {
			if err := a.AddCandidate(c); err != nil {
				p.log.Debug("trickle", "err", err)
			}
		}
		p.candidate.Store(&f)
	}
	offer, err := p.Offer(ctx, o)
	if err != nil {
		return err
	}
	answer, err := a.HandleOffer(offer)
	if err != nil {
		return err
	}
	return p.Accept(answer)
}

// Connected is closed when ICE and DTLS are connected.
func (p *Peer) Connected() <-chan struct{} { return p.connected }

// Receiving is closed when the first RTP packet has arrived.
func (p *Peer) Receiving() <-chan struct{} { return p.receiving }

// Failed is closed when the connection failed or closed.
func (p *Peer) Failed() <-chan struct{} { return p.failed }

// OnPacket sets the callback for every RTP packet received (nil: none).
// It runs on the peer's reader goroutine; Payload is only valid during the
// call.
func (p *Peer) OnPacket(f func(Packet)) {
	if f == nil {
		p.onPacket.Store(nil)
		return
	}
	p.onPacket.Store(&f)
}

// Stats returns the peer's counters.
func (p *Peer) Stats() Stats {
	s := Stats{
		PacketsSent:     p.sent.Load(),
		BytesSent:       p.sentBytes.Load(),
		PacketsReceived: p.recv.Load(),
		BytesReceived:   p.recvBytes.Load(),
	}
	if ns := p.lastRecv.Load(); ns != 0 {
		s.LastReceived = time.Unix(0, ns)
	}
	return s
}

// StartSending sends one packet every 20 ms from the pacer, its payload
// made by gen (nil: a quiet constant payload). Sequence numbers and
// timestamps go on from where the last StartSending left them. With a
// pacer that ticks faster than every 20 ms, the first packet waits a
// random part of 20 ms, so that many peers do not all send at once.
func (p *Peer) StartSending(gen PayloadFunc) {
	p.sendMu.Lock()
	p.gen = gen
	p.start = time.Now()
	if p.pacer.tick < FrameInterval {
		p.start = p.start.Add(rand.N(FrameInterval))
	}
	p.frames = 0
	already := p.sending
	p.sending = true
	p.sendMu.Unlock()
	if !already {
		p.pacer.add(p)
	}
}

// StopSending stops sending.
func (p *Peer) StopSending() {
	p.sendMu.Lock()
	was := p.sending
	p.sending = false
	p.sendMu.Unlock()
	if was {
		p.pacer.remove(p)
	}
}

// sendDue sends the frames due by now (called by the pacer).
func (p *Peer) sendDue(now time.Time) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if !p.sending || p.writer == nil || now.Before(p.start) {
		return
	}
	due := int64(now.Sub(p.start)/FrameInterval) + 1
	if due-p.frames > maxBurst { // far behind: skip rather than burst
		skip := due - maxBurst - p.frames
		p.hdr.SequenceNumber += uint16(skip)
		p.hdr.Timestamp += uint32(skip * FrameSize)
		p.frames = due - maxBurst
	}
	for ; p.frames < due; p.frames++ {
		if p.gen != nil {
			p.gen(p.hdr.SequenceNumber, p.payload[:])
		} else {
			for i := range p.payload {
				p.payload[i] = 0xFF // μ-law zero; A-law reads it as a small value
			}
		}
		// 0 bytes: DTLS is not up yet and pion dropped the packet.
		if n, err := p.writer.WriteRTP(&p.hdr, p.payload[:]); err == nil && n > 0 {
			p.sent.Add(1)
			p.sentBytes.Add(FrameSize)
		}
		p.hdr.Marker = false
		p.hdr.SequenceNumber++
		p.hdr.Timestamp += FrameSize
	}
}

func (p *Peer) read(t *webrtc.TrackRemote) {
	defer p.readers.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
				return
			}
			if p.pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
				return
			}
			continue
		}
		b := buf[:n]
		if n < 12 {
			continue
		}
		hl := 12 + 4*int(b[0]&0x0F)
		if b[0]&0x10 != 0 && n >= hl+4 {
			hl += 4 + 4*int(binary.BigEndian.Uint16(b[hl+2:]))
		}
		end := n
		if b[0]&0x20 != 0 {
			end -= int(b[n-1])
		}
		if hl > end {
			continue
		}
		now := time.Now()
		p.recv.Add(1)
		p.recvBytes.Add(uint64(end - hl))
		p.lastRecv.Store(now.UnixNano())
		p.receivingOnce.Do(func() { close(p.receiving) })
		if f := p.onPacket.Load(); f != nil {
			(*f)(Packet{
				SequenceNumber: binary.BigEndian.Uint16(b[2:]),
				Timestamp:      binary.BigEndian.Uint32(b[4:]),
				SSRC:           binary.BigEndian.Uint32(b[8:]),
				PayloadType:    b[1] & 0x7F,
				Marker:         b[1]&0x80 != 0,
				Payload:        b[hl:end],
				Arrival:        now,
			})
		}
	}
}

// SendRaw sends a datagram from the peer's own socket, beside its peer
// connection: for tests of what a server does with junk from a known
// address.
func (p *Peer) SendRaw(b []byte, to *net.UDPAddr) error {
	_, err := p.conn.WriteToUDP(b, to)
	return err
}

// Vanish makes the peer disappear the way a browser on a dead network
// does: its socket closes first, so the server hears nothing more (no DTLS
// close, no ICE answers), then the peer frees itself.
func (p *Peer) Vanish() {
	_ = p.conn.Close()
	_ = p.Close()
}

// Close closes the peer connection (the server sees a DTLS close) and the
// socket, and waits for the peer's goroutines.
func (p *Peer) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closeMu.Lock()
		p.closing = true
		p.closeMu.Unlock()
		p.StopSending()
		err = p.pc.GracefulClose()
		_ = p.mux.Close()
		p.readers.Wait()
		if p.ownPacer {
			p.pacer.Close()
		}
	})
	return err
}

// track is the peer's outgoing audio: it keeps the binding's writer so the
// pacer writes header and payload straight to SRTP.
type track struct{ p *Peer }

func (t *track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.p.codec.MimeType) {
			p := t.p
			p.sendMu.Lock()
			seq := uint16(rand.Uint32())
			if p.writer == nil && p.hdr.SSRC == 0 {
				p.hdr = rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: rand.Uint32(), Marker: true}
			}
			p.writer = ctx.WriteStream()
			p.hdr.SSRC = uint32(ctx.SSRC())
			p.hdr.PayloadType = uint8(c.PayloadType)
			p.sendMu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *track) Unbind(webrtc.TrackLocalContext) error {
	t.p.sendMu.Lock()
	t.p.writer = nil
	t.p.sendMu.Unlock()
	return nil
}

func (t *track) ID() string                { return "mic" }
func (t *track) RID() string               { return "" }
func (t *track) StreamID() string          { return "mediatest" }
func (t *track) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// quietLogs drops pion's logs: a test peer's warnings are noise.
type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger { return quiet{} }

type quiet struct{}

func (quiet) Trace(string)          {}
func (quiet) Tracef(string, ...any) {}
func (quiet) Debug(string)          {}
func (quiet) Debugf(string, ...any) {}
func (quiet) Info(string)           {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warn(string)           {}
func (quiet) Warnf(string, ...any)  {}
func (quiet) Error(string)          {}
func (quiet) Errorf(string, ...any) {}

// Pacer is a clock that sends the due packets of every peer registered with
// it from one goroutine: much cheaper than a timer per peer. Each peer
// sends every 20 ms (FrameInterval); the pacer looks for due packets every
// tick. A tick of 20 ms sends every peer's packet in one burst; a shorter
// tick (a load tool's 2 ms) spreads the peers over the 20 ms like
// independent browsers. A tick that comes late sends the frames that were
// due (up to a second's worth per peer), so the rate stays right and the
// sequence has no gap, as with a browser whose audio thread was late.
type Pacer struct {
	tick     time.Duration
	mu       sync.Mutex
	peers    []*Peer
	snapshot []*Peer
	wake     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// NewPacer starts a pacer that ticks every tick; 0 means FrameInterval.
func NewPacer(tick time.Duration) *Pacer {
	if tick <= 0 || tick > FrameInterval {
		tick = FrameInterval
	}
	pc := &Pacer{
		tick: tick,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go pc.run()
	return pc
}

// Close stops the pacer.
func (pc *Pacer) Close() {
	pc.once.Do(func() {
		close(pc.quit)
		<-pc.done
	})
}

func (pc *Pacer) add(p *Peer) {
	pc.mu.Lock()
	pc.peers = append(pc.peers, p)
	pc.mu.Unlock()
	select {
	case pc.wake <- struct{}{}:
	default:
	}
}

func (pc *Pacer) remove(p *Peer) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for i, x := range pc.peers {
		if x == p {
			last := len(pc.peers) - 1
			pc.peers[i] = pc.peers[last]
			pc.peers[last] = nil
			pc.peers = pc.peers[:last]
			return
		}
	}
}

func (pc *Pacer) run() {
	defer close(pc.done)
	t := time.NewTicker(pc.tick)
	defer t.Stop()
	for {
		select {
		case <-pc.quit:
			return
		case <-pc.wake:
		case <-t.C:
		}
		pc.mu.Lock()
		pc.snapshot = append(pc.snapshot[:0], pc.peers...)
		pc.mu.Unlock()
		now := time.Now()
		for i, p := range pc.snapshot {
			p.sendDue(now)
			pc.snapshot[i] = nil
		}
	}
}
