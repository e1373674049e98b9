package sip

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Flood control per source address, in the spirit of Kamailio's pike
// module: every source (an IPv4 address, or an IPv6 /64, since one host
// has a whole /64 to spoof from) has a token bucket of messages; past it,
// its datagrams are dropped silently (no answer: an answer would feed a
// reflection) and counted in cc_sip_dropped_total{reason="flood"}. Trunks'
// addresses are exempt or have their own rate. Idle sources are swept, and
// the table has a hard size, so a flood from spoofed addresses cannot grow
// memory without bound.
//
// The guard wraps the sockets before sipgo sees them: PacketConn for UDP,
// Listener for TCP (where it also bounds connections per source and sets a
// read timeout on each connection).

// Responses larger than the MTU over UDP. sipgo v1.7.3 refuses to send any
// UDP message over sip.UDPMTUSize-200 bytes (1300) and returns
// sip.ErrUDPMTUCongestion: a request that arrived as a large datagram (a
// long Via chain, a big SDP: RFC 4475's longreq is 3.5 KB) would get no
// answer at all, and its sender would retransmit until it gives up. RFC
// 3261 18.1.1 (switch to TCP past 1300 bytes) is for requests; a response
// goes back over the transport its request came on (18.2.2), so we send
// large responses as the (fragmented) datagram they need, like the
// request was. The registrar keeps its own 200 OK under 1300 bytes
// (fitUDP); requests we send are the edge's to route over TCP when large
// (FitsUDP).
func init() {
	sip.UDPMTUSize = 65507 + 200 // the largest UDP payload; sipgo subtracts 200
}

// FitsUDP reports whether a request may go over UDP (RFC 3261 18.1.1:
// at most 1300 bytes when the path MTU is unknown; larger ones go over a
// congestion-controlled transport such as TCP).
func FitsUDP(m sip.Message) bool { return size(m) <= MaxUDPMessage }

// Drop reasons (the label values of cc_sip_dropped_total).
const (
	DropFlood         = "flood"          // over the per-source rate
	DropOversize      = "oversize"       // datagram larger than the maximum
	DropTooManyConns  = "too_many_conns" // TCP connections per source
	DropAuthBlocked   = "auth_blocked"   // source blocked after failed authentications
	DropAuthFailed    = "auth_failed"    // a failed authentication (answered 401)
	DropInvalid       = "invalid"        // parsed but refused by Validate (answered)
	DropUnparseable   = "unparseable"    // sipgo could not parse it (no answer)
	DropRespondFailed = "respond_failed" // sending an answer failed
	DropUDPTrimmed    = "udp_trimmed"    // a response trimmed to fit a datagram
)

var dropReasons = []string{DropFlood, DropOversize, DropTooManyConns, DropAuthBlocked, DropAuthFailed,
	DropInvalid, DropUnparseable, DropRespondFailed, DropUDPTrimmed}

// Drops counts dropped or refused messages by reason. A nil *Drops counts
// nothing.
type Drops struct {
	vec    *prometheus.CounterVec
	counts sync.Map // reason -> *atomic.Int64
}

// NewDrops returns the counter, registered as cc_sip_dropped_total on reg
// (not registered when reg is nil).
func NewDrops(reg prometheus.Registerer) *Drops {
	d := &Drops{vec: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "cc", Subsystem: "sip", Name: "dropped_total",
		Help: "SIP messages dropped or refused by the edge's defences, by reason.",
	}, []string{"reason"})}
	for _, r := range dropReasons {
		d.vec.WithLabelValues(r)
		d.counts.Store(r, new(atomic.Int64))
	}
	if reg != nil {
		reg.MustRegister(d.vec)
	}
	return d
}

// Add counts one drop for reason (one of the Drop* constants).
func (d *Drops) Add(reason string) {
	if d == nil {
		return
	}
	d.vec.WithLabelValues(reason).Inc()
	c, _ := d.counts.LoadOrStore(reason, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// Count is how many drops were counted for reason.
func (d *Drops) Count(reason string) int64 {
	if d == nil {
		return 0
	}
	c, ok := d.counts.Load(reason)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

// SourceKey is the key of a source address: the address itself for IPv4
// (and IPv4-mapped IPv6), its /64 for IPv6.
func SourceKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, err := a.Prefix(64)
	if err != nil {
		return netip.PrefixFrom(a, a.BitLen())
	}
	return p
}

// FloodLimit is a rate for sources within Prefix (a trunk's addresses).
// Rate 0 exempts them.
type FloodLimit struct {
	Prefix netip.Prefix
	Rate   float64
	Burst  int
}

// FloodConfig configures a FloodGuard. Zero fields take the defaults.
type FloodConfig struct {
	// Rate is the messages per second one source may send on average and
	// Burst how many at once (sip_flood_rate, sip_flood_burst).
	Rate  float64
	Burst int
	// Limits override Rate and Burst for some prefixes (trunks); the first
	// match wins.
	Limits []FloodLimit
	// MaxDatagram is the largest UDP datagram accepted (bytes).
	MaxDatagram int
	// MaxConnsPerSource bounds a source's open TCP connections.
	MaxConnsPerSource int
	// TCPReadTimeout closes a TCP connection that sends nothing for this
	// long (phones keep theirs with CRLF keep-alives, RFC 5626).
	TCPReadTimeout time.Duration
	// IdleAfter forgets a source that sent nothing for this long;
	// MaxSources bounds the table.
	IdleAfter  time.Duration
	MaxSources int
	Now        func() time.Time
	Drops      *Drops
}

// Flood guard defaults: a phone sends a few messages a second at most; a
// trunk at 1,000 calls/s sends several thousand and must be listed in
// Limits (trunk addresses are exempt by default).
const (
	DefaultFloodRate         = 50
	DefaultFloodBurst        = 200
	DefaultMaxDatagram       = 16384
	DefaultMaxConnsPerSource = 32
	DefaultTCPReadTimeout    = 10 * time.Minute
	DefaultFloodIdleAfter    = 2 * time.Minute
	DefaultFloodMaxSources   = 100_000
)

func (c FloodConfig) withDefaults() FloodConfig {
	if c.Rate <= 0 {
		c.Rate = DefaultFloodRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultFloodBurst
	}
	if c.MaxDatagram <= 0 {
		c.MaxDatagram = DefaultMaxDatagram
	}
	if c.MaxConnsPerSource <= 0 {
		c.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if c.TCPReadTimeout <= 0 {
		c.TCPReadTimeout = DefaultTCPReadTimeout
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = DefaultFloodIdleAfter
	}
	if c.MaxSources <= 0 {
		c.MaxSources = DefaultFloodMaxSources
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// FloodGuard meters messages per source.
type FloodGuard struct {
	cfg FloodConfig

	mu        sync.Mutex
	m         map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
	conns  int
}

// NewFloodGuard returns a guard.
func NewFloodGuard(cfg FloodConfig) *FloodGuard {
	cfg = cfg.withDefaults()
	return &FloodGuard{cfg: cfg, m: map[netip.Prefix]*bucket{}, lastSweep: cfg.Now()}
}

// Drops is the guard's drop counter.
func (g *FloodGuard) Drops() *Drops { return g.cfg.Drops }

func (g *FloodGuard) limitFor(a netip.Addr) (rate float64, burst int) {
	for _, l := range g.cfg.Limits {
		if l.Prefix.Contains(a) {
			return l.Rate, max(l.Burst, 1)
		}
	}
	return g.cfg.Rate, g.cfg.Burst
}

// Allow takes one message's token for source a; false means drop it.
func (g *FloodGuard) Allow(a netip.Addr) bool { return g.AllowN(a, 1) }

// AllowN takes n messages' tokens for source a (n >= 1).
func (g *FloodGuard) AllowN(a netip.Addr, n int) bool {
	a = a.Unmap()
	rate, burst := g.limitFor(a)
	if rate == 0 {
		return true
	}
	now := g.cfg.Now()
	k := SourceKey(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.maybeSweepLocked(now)
	b := g.m[k]
	if b == nil {
		b = g.newBucketLocked(k, burst, now)
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < float64(n) {
		b.tokens = 0
		g.cfg.Drops.Add(DropFlood)
		return false
	}
	b.tokens -= float64(n)
	return true
}

func (g *FloodGuard) newBucketLocked(k netip.Prefix, burst int, now time.Time) *bucket {
	if len(g.m) >= g.cfg.MaxSources {
		g.sweepLocked(now)
		// Still full (a spoofing flood): forget an eighth, chosen by map
		// order; the flood's own entries are most of them.
		for k2, b := range g.m {
			if len(g.m) <= g.cfg.MaxSources-g.cfg.MaxSources/8 {
				break
			}
			if b.conns == 0 {
				delete(g.m, k2)
			}
		}
	}
	b := &bucket{tokens: float64(burst), last: now}
	g.m[k] = b
	return b
}

func (g *FloodGuard) maybeSweepLocked(now time.Time) {
	if now.Sub(g.lastSweep) >= g.cfg.IdleAfter/4 {
		g.sweepLocked(now)
	}
}

func (g *FloodGuard) sweepLocked(now time.Time) {
	g.lastSweep = now
	for k, b := range g.m {
		if b.conns == 0 && now.Sub(b.last) > g.cfg.IdleAfter {
			delete(g.m, k)
		}
	}
}

// Sources is the number of sources tracked.
func (g *FloodGuard) Sources() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// Sweep forgets idle sources now.
func (g *FloodGuard) Sweep() {
	g.mu.Lock()
	g.sweepLocked(g.cfg.Now())
	g.mu.Unlock()
}

func netAddrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// PacketConn wraps a UDP socket: oversized and over-rate datagrams never
// reach sipgo.
func (g *FloodGuard) PacketConn(pc net.PacketConn) net.PacketConn {
	return &guardedPacketConn{PacketConn: pc, g: g, buf: make([]byte, g.cfg.MaxDatagram+1)}
}

type guardedPacketConn struct {
	net.PacketConn
	g   *FloodGuard
	buf []byte // used by ReadFrom only (sipgo has one reader per socket)
}

func (c *guardedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	max := c.g.cfg.MaxDatagram
	for {
		var n int
		var addr net.Addr
		var err error
		direct := len(b) > max
		if direct {
			n, addr, err = c.PacketConn.ReadFrom(b)
		} else {
			n, addr, err = c.PacketConn.ReadFrom(c.buf)
		}
		if err != nil {
			return n, addr, err
		}
		if n > max {
			c.g.cfg.Drops.Add(DropOversize)
			continue
		}
		if !c.g.Allow(netAddrOf(addr)) {
			continue
		}
		if !direct {
			if n > len(b) {
				c.g.cfg.Drops.Add(DropOversize)
				continue
			}
			copy(b, c.buf[:n])
		}
		return n, addr, nil
	}
}

// Listener wraps a TCP listener: a source past its rate or its connection
// bound has new connections closed at once; every read on a connection
// takes a token (a connection past the rate is closed) and has a deadline.
func (g *FloodGuard) Listener(l net.Listener) net.Listener {
	return &guardedListener{Listener: l, g: g}
}

type guardedListener struct {
	net.Listener
	g *FloodGuard
}

func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		a := netAddrOf(c.RemoteAddr())
		if !l.g.Allow(a) || !l.g.openConn(a) {
			c.Close()
			continue
		}
		return &guardedConn{Conn: c, g: l.g, src: a}, nil
	}
}

func (g *FloodGuard) openConn(a netip.Addr) bool {
	rate, _ := g.limitFor(a)
	if rate == 0 {
		return true
	}
	k := SourceKey(a)
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.m[k]
	if b == nil {
		_, burst := g.limitFor(a)
		b = g.newBucketLocked(k, burst, g.cfg.Now())
	}
	if b.conns >= g.cfg.MaxConnsPerSource {
		g.cfg.Drops.Add(DropTooManyConns)
		return false
	}
	b.conns++
	return true
}

func (g *FloodGuard) closeConn(a netip.Addr) {
	rate, _ := g.limitFor(a)
	if rate == 0 {
		return
	}
	g.mu.Lock()
	if b := g.m[SourceKey(a)]; b != nil && b.conns > 0 {
		b.conns--
	}
	g.mu.Unlock()
}

var crlf2 = []byte("\r\n\r\n")

// errFlooded closes a TCP connection whose source is over its rate.
var errFlooded = errors.New("sip: source over its message rate")

type guardedConn struct {
	net.Conn
	g      *FloodGuard
	src    netip.Addr
	closed atomic.Bool
}

func (c *guardedConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.g.cfg.TCPReadTimeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	// A read holds any number of messages: count the ends of header
	// sections in it (at least one).
	if n > 0 && !c.g.AllowN(c.src, max(1, bytes.Count(b[:n], crlf2))) {
		c.Close()
		return 0, errFlooded
	}
	return n, err
}

func (c *guardedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.g.closeConn(c.src)
	}
	return c.Conn.Close()
}
