package media

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/transport/v4/packetio"
	"github.com/pion/webrtc/v4"
)

// Defaults.
const (
	DefaultMediaTimeout = 20 * time.Second

	// ICE consent (RFC 7675): pion sends a binding request on the selected
	// pair this often. RFC 7675 asks for about 5 s; pion's default of 2 s
	// only costs CPU (pion's STUN handling allocates).
	iceKeepalive = 5 * time.Second

	// gatherWait bounds how long HandleOffer waits for the server's
	// candidates to put them in the answer. With the UDP mux and no STUN
	// server, gathering takes well under a millisecond.
	gatherWait = 2 * time.Second

	// certLifetime: a new DTLS certificate is made for new legs after this.
	// Pion's certificates are valid for a month.
	certLifetime = 24 * time.Hour

	// rtpQueuePackets bounds the decrypted RTP queued for one leg's reader:
	// 15 packets are 300 ms of audio at the usual 20 ms a packet. A reader
	// that falls further behind (the machine is overloaded) loses packets
	// instead of delaying the call by more and more; a bounded size in
	// bytes backs the count up for odd packet sizes.
	rtpQueuePackets = 15
	rtpQueueBytes   = 32 << 10

	socketBuffer = 4 << 20
)

// Config configures an Engine.
type Config struct {
	// ListenAddr is the one UDP address all legs share (ICE UDP mux), for
	// example ":40000", or "127.0.0.1:0" in tests. On a host with several
	// addresses, give the one the browsers reach.
	ListenAddr string
	// PublicIPs are announced in the candidates instead of the local
	// addresses (a 1:1 NAT, as on cloud VMs). Optional.
	PublicIPs []string
	// Codec is "PCMU" (the default) or "PCMA". It is the only codec the
	// engine offers, so every leg speaks it and bridging never transcodes.
	Codec string
	// MediaTimeout ends a connected leg that has received no RTP for this
	// long, with cause "media_timeout". 0 means DefaultMediaTimeout.
	MediaTimeout time.Duration
	Logger       *slog.Logger

	// RTP legs (NewRTPLeg), for SIP.
	//
	// RTPPortMin and RTPPortMax bound the ports RTP legs bind: RTP on an
	// even port, RTCP on the port above; both 0 means 10000-20000.
	RTPPortMin, RTPPortMax int
	// RTPQuarantine is how long a port pair that closed is left unused,
	// so late packets of an old call drain instead of reaching a new one.
	// 0 means DefaultRTPQuarantine (10 s).
	RTPQuarantine time.Duration
	// RTPAddr is the local IP address RTP sockets bind; empty binds every
	// address (0.0.0.0). Tests use 127.0.0.1.
	RTPAddr string
	// RTPPublicIP is the address written in the c= line of RTP legs' SDP
	// (a 1:1 NAT). Empty: RTPAddr, or with no RTPAddr the address the host
	// would send from to the public Internet.
	RTPPublicIP string
	// DisableSymmetricRTP turns symmetric RTP off. With it on (the
	// default), an RTP leg sends to the address the peer's packets come
	// from once the first one came, instead of the address in the peer's
	// SDP (phones behind NAT). Off, only packets from the SDP address are
	// accepted.
	DisableSymmetricRTP bool
}

// Engine owns the voice legs of this process: the UDP socket WebRTC legs
// share, the port range of RTP legs, the pion API, the clock that paces
// sounds, prompts, DTMF and RTCP, and the watchdog that ends silent legs.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	law   *codecLaw
	api   *webrtc.API
	conn  *net.UDPConn
	guard *guardConn
	mux   ice.UDPMux
	epoch time.Time
	clips [numSounds]*clip

	ports     *portPool
	rtpIP     netip.Addr   // written in RTP legs' SDP
	rtcpEvery atomic.Int64 // ns between RTCP reports of RTP legs (tests shorten it)
	rtpGuard  int          // datagrams per source per guardWindow on RTP sockets (benchmarks raise it)

	mu      sync.Mutex // guards legs, closed, cert
	legs    map[string]*Leg
	closed  bool
	cert    webrtc.Certificate
	certAt  time.Time
	scratch []*Leg // the watchdog's snapshot of legs

	// routeMu guards who hears whom: Leg.partner, Leg.play and playing.
	routeMu sync.Mutex
	playing []*Leg
	dtmfing []*Leg      // legs with DTMF digits to send
	batch   []playFrame // the sound clock's snapshot

	nextSource  atomic.Uint64
	bufferDrops atomic.Uint64 // RTP dropped because a reader fell behind
	wake        chan struct{} // the set of playing legs changed
	quit        chan struct{}
	wg          sync.WaitGroup // the clock and every leg's event goroutine
}

// New opens the UDP socket and starts the engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MediaTimeout == 0 {
		cfg.MediaTimeout = DefaultMediaTimeout
	}
	if cfg.MediaTimeout < 0 {
		return nil, fmt.Errorf("media: negative MediaTimeout %v: %w", cfg.MediaTimeout, ErrConfig)
	}
	law, err := lawFor(cfg.Codec)
	if err != nil {
		return nil, err
	}
	for _, ip := range cfg.PublicIPs {
		if net.ParseIP(ip) == nil {
			return nil, fmt.Errorf("media: public IP %q: %w", ip, ErrConfig)
		}
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("media: listen address %q: %v: %w", cfg.ListenAddr, err, ErrConfig)
	}
	bindIP, sdpIP, err := rtpAddrs(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "media")
	e := &Engine{
		cfg:   cfg,
		log:   log,
		law:   law,
		epoch: time.Now(),
		legs:  map[string]*Leg{},
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
	}
	e.rtpIP = sdpIP
	e.rtcpEvery.Store(int64(rtcpInterval))
	e.rtpGuard = guardLimit
	e.ports, err = newPortPool(bindIP, cfg.RTPPortMin, cfg.RTPPortMax, cfg.RTPQuarantine, e.now)
	if err != nil {
		return nil, err
	}
	e.clips[SoundMusic] = encodeClip(synthMusic(), law)
	e.clips[SoundRingback] = encodeClip(synthRingback(), law)
	if err := e.renewCert(); err != nil {
		return nil, err
	}

	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("media: listen on %s: %w", cfg.ListenAddr, err)
	}
	// Room for bursts: 200 calls are 20,000 datagrams a second, and a
	// default buffer (208 KB) holds about 15 ms of them.
	_ = conn.SetReadBuffer(socketBuffer)
	_ = conn.SetWriteBuffer(socketBuffer)
	if got := receiveBuffer(conn); got > 0 && got < socketBuffer {
		log.Warn("the UDP receive buffer is smaller than asked; bursts may drop packets: raise net.core.rmem_max",
			"bytes", got, "asked", socketBuffer)
	}
	e.conn = conn
	e.guard = newGuardConn(conn)
	logs := pionLogs{log: log}
	e.mux = webrtc.NewICEUDPMux(logs.NewLogger("udpmux"), e.guard)

	se := webrtc.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(e.mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(laddr.IP.IsLoopback())
	disconnected, failed := iceTimeouts(cfg.MediaTimeout)
	se.SetICETimeouts(disconnected, failed, iceKeepalive)
	if len(cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			_ = e.mux.Close()
			return nil, fmt.Errorf("media: public IPs: %v: %w", err, ErrConfig)
		}
	}
	se.BufferFactory = e.newStreamBuffer

	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: law.mime, ClockRate: sampleRate},
		PayloadType:        webrtc.PayloadType(law.payloadType),
	}, webrtc.RTPCodecTypeAudio); err != nil {
		_ = e.mux.Close()
		return nil, fmt.Errorf("media: register %s: %w", law.name, err)
	}
	// No interceptors: NACK, reports and congestion control buy nothing for
	// G.711 and cost CPU on every packet.
	e.api = webrtc.NewAPI(
		webrtc.WithSettingEngine(se),
		webrtc.WithMediaEngine(me),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}),
	)

	e.wg.Add(1)
	go e.clock()
	log.Info("media engine listening", "addr", e.Addr().String(), "codec", law.name,
		"publicIPs", strings.Join(cfg.PublicIPs, ","), "mediaTimeout", cfg.MediaTimeout)
	return e, nil
}

// rtpAddrs finds the address RTP sockets bind and the one written in
// their SDP.
func rtpAddrs(cfg Config) (bind, public netip.Addr, err error) {
	bind = netip.IPv4Unspecified()
	if cfg.RTPAddr != "" {
		if bind, err = netip.ParseAddr(cfg.RTPAddr); err != nil {
			return bind, public, fmt.Errorf("media: RTPAddr %q: %w", cfg.RTPAddr, ErrConfig)
		}
		bind = bind.Unmap()
	}
	switch {
	case cfg.RTPPublicIP != "":
		if public, err = netip.ParseAddr(cfg.RTPPublicIP); err != nil || public.IsUnspecified() {
			return bind, public, fmt.Errorf("media: RTPPublicIP %q: %w", cfg.RTPPublicIP, ErrConfig)
		}
		public = public.Unmap()
	case !bind.IsUnspecified():
		public = bind
	default:
		// The address the host sends from (no packet is sent).
		public = netip.MustParseAddr("127.0.0.1")
		if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil {
			if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
				if ip, ok := netip.AddrFromSlice(a.IP); ok {
					public = ip.Unmap()
				}
			}
			_ = c.Close()
		}
	}
	return bind, public, nil
}

func lawFor(codec string) (*codecLaw, error) {
	switch strings.ToUpper(codec) {
	case "", "PCMU":
		return &codecLaw{name: "PCMU", mime: webrtc.MimeTypePCMU, payloadType: 0,
			decode: &ulawDecode, encode: LinearToULaw, silence: LinearToULaw(0)}, nil
	case "PCMA":
		return &codecLaw{name: "PCMA", mime: webrtc.MimeTypePCMA, payloadType: 8,
			decode: &alawDecode, encode: LinearToALaw, silence: LinearToALaw(0)}, nil
	}
	return nil, fmt.Errorf("media: codec %q (want PCMU or PCMA): %w", codec, ErrConfig)
}

// Addr is the UDP address the engine listens on.
func (e *Engine) Addr() *net.UDPAddr {
	a, _ := e.conn.LocalAddr().(*net.UDPAddr)
	return a
}

// EngineStats counts what the engine's socket received.
type EngineStats struct {
	Legs int // open now
	// Datagrams passed to the ICE mux, and datagrams dropped because their
	// source sent more than 500 a second.
	Datagrams, Throttled uint64
	// Overruns counts RTP packets dropped because a leg's reader was too
	// far behind (the process starved of CPU).
	Overruns uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() EngineStats {
	return EngineStats{
		Legs:      e.Legs(),
		Datagrams: e.guard.passed.Load(),
		Throttled: e.guard.dropped.Load(),
		Overruns:  e.bufferDrops.Load(),
	}
}

// Codec is the engine's codec, "PCMU" or "PCMA".
func (e *Engine) Codec() string { return e.law.name }

// Legs is the number of legs open now.
func (e *Engine) Legs() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.legs)
}

// Close closes every leg (without calling OnEnded) and the socket, and
// returns when every goroutine of the engine has ended. Do not call it from
// a LegHandler callback.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	legs := make([]*Leg, 0, len(e.legs))
	for _, l := range e.legs {
		legs = append(legs, l)
	}
	e.mu.Unlock()

	var wg sync.WaitGroup
	for _, l := range legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Close()
		}()
	}
	wg.Wait()
	close(e.quit)
	err := e.mux.Close() // closes the socket too
	e.wg.Wait()
	e.log.Info("media engine closed")
	return err
}

// now is the engine's monotonic clock, in nanoseconds since New.
func (e *Engine) now() int64 { return int64(time.Since(e.epoch)) }

func (e *Engine) wallTime(mono int64) time.Time { return e.epoch.Add(time.Duration(mono)) }

// certificate returns the DTLS certificate for a new leg. All legs share
// one (it is what makes the fingerprint in the answer), renewed daily.
func (e *Engine) certificate() (webrtc.Certificate, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.certAt) > certLifetime {
		if err := e.renewCertLocked(); err != nil {
			return webrtc.Certificate{}, err
		}
	}
	return e.cert, nil
}

func (e *Engine) renewCert() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.renewCertLocked()
}

func (e *Engine) renewCertLocked() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("media: DTLS key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return fmt.Errorf("media: DTLS certificate: %w", err)
	}
	e.cert, e.certAt = *cert, time.Now()
	return nil
}

// newStreamBuffer makes the buffers between SRTP and its readers. RTP gets
// a bounded packet buffer. RTCP is dropped on arrival: with no
// interceptors nothing reads it, and pion would otherwise keep up to 100 KB
// of it per stream.
func (e *Engine) newStreamBuffer(t packetio.BufferPacketType, _ uint32) io.ReadWriteCloser {
	if t == packetio.RTCPBufferPacket {
		return &discard{closed: make(chan struct{})}
	}
	b := &rtpBuffer{Buffer: packetio.NewBuffer(), full: &e.bufferDrops}
	b.SetLimitCount(rtpQueuePackets)
	b.SetLimitSize(rtpQueueBytes)
	return b
}

// rtpBuffer counts the packets dropped because a leg's reader fell behind.
type rtpBuffer struct {
	*packetio.Buffer
	full *atomic.Uint64
}

func (b *rtpBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	if errors.Is(err, packetio.ErrFull) {
		b.full.Add(1)
	}
	return n, err
}

// discard accepts and drops every write; a read waits until it is closed.
type discard struct {
	once   sync.Once
	closed chan struct{}
}

func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

func (d *discard) Read([]byte) (int, error) {
	<-d.closed
	return 0, io.EOF
}

func (d *discard) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

// iceTimeouts: a leg that hears nothing from its browser (no RTP, no
// consent check) is "disconnected" after the first duration and fails,
// ending with cause "ice_failed", after the sum of both; a leg that never
// connects fails after the sum too. The sum is three quarters of
// MediaTimeout, at most 15 s (5 s + 10 s with the default MediaTimeout), so
// a browser that vanished is detected within MediaTimeout, as "ice_failed"
// when its consent checks stop and as "media_timeout" when only its audio
// stops.
func iceTimeouts(mediaTimeout time.Duration) (disconnected, failed time.Duration) {
	return min(mediaTimeout/4, 5*time.Second), min(mediaTimeout/2, 10*time.Second)
}

// watchdogEvery is how often legs are checked for the media timeout.
func (e *Engine) watchdogEvery() time.Duration {
	return min(max(e.cfg.MediaTimeout/4, 10*time.Millisecond), time.Second)
}

// clock is the engine's one timing goroutine. Every 20 ms, while any leg
// plays a sound, it sends each such leg the frames that are due; every
// watchdogEvery it ends legs that have been silent for MediaTimeout.
func (e *Engine) clock() {
	defer e.wg.Done()
	watchdog := time.NewTicker(e.watchdogEvery())
	defer watchdog.Stop()
	pace := time.NewTicker(frameMillis * time.Millisecond)
	pace.Stop()
	defer pace.Stop()
	var paceC <-chan time.Time
	for {
		select {
		case <-e.quit:
			return
		case <-e.wake:
			if e.playFrames() && paceC == nil {
				pace.Reset(frameMillis * time.Millisecond)
				paceC = pace.C
			}
		case <-paceC:
			if !e.playFrames() {
				pace.Stop()
				paceC = nil
			}
		case <-watchdog.C:
			e.checkTimeouts()
		}
	}
}

// checkTimeouts ends the connected legs that have received nothing for
// MediaTimeout.
func (e *Engine) checkTimeouts() {
	e.mu.Lock()
	e.scratch = e.scratch[:0]
	for _, l := range e.legs {
		e.scratch = append(e.scratch, l)
	}
	legs := e.scratch
	e.mu.Unlock()
	now := e.now()
	limit := int64(e.cfg.MediaTimeout)
	for i, l := range legs {
		legs[i] = nil
		if r := l.rtp; r != nil {
			if now-r.lastSR >= e.rtcpEvery.Load() {
				r.lastSR = now
				l.sendReport(now)
			}
			if p := r.peer.Load(); p == nil || p.dir != SendRecv {
				// On hold (either way) the peer may send nothing: the
				// timeout waits until the session is sendrecv again.
				continue
			}
		}
		last := l.lastIn.Load()
		if r := l.rtp; r != nil {
			last = max(last, r.since.Load())
		}
		if last == 0 || now-last < limit {
			continue
		}
		if l.timedOut.CompareAndSwap(false, true) {
			l.log.Info("no media", "for", time.Duration(now-last).Round(time.Millisecond))
			l.post(event{kind: evEnd, cause: CauseMediaTimeout})
		}
	}
}
