package media

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// guardConn is the engine's UDP socket as pion's ICE mux sees it. It drops
// the datagrams of any source address that sends more than guardLimit in
// guardWindow (a browser sends about 55 a second: 50 RTP, a few RTCP and
// STUN), before they cost anything.
//
// Pion's mux queues every datagram of a known address for the leg's ICE
// agent without a bound; a peer that floods its own connection could
// otherwise grow that queue faster than the leg drains it.
//
// Only the mux's reader goroutine calls ReadFromAddrPort, so the table of
// sources needs no lock.
type guardConn struct {
	*net.UDPConn
	epoch     time.Time
	sources   map[netip.AddrPort]*window
	overflow  window // shared by new addresses while the table is full
	lastSweep int64
	limit     int // datagrams per source per guardWindow; 0: guardLimit
	tableSize int // sources tracked one by one; 0: guardSources
	passed    atomic.Uint64
	dropped   atomic.Uint64
}

const (
	// 125 datagrams per quarter second: 500 a second on average, and room
	// for a browser that sends two seconds of audio at once after a stall.
	guardWindow  = 250 * time.Millisecond
	guardLimit   = 125
	guardSources = 1 << 16
	guardIdle    = 10 * time.Second
)

type window struct {
	start int64 // ns since epoch
	n     int
}

func newGuardConn(c *net.UDPConn) *guardConn {
	return &guardConn{UDPConn: c, epoch: time.Now(), sources: map[netip.AddrPort]*window{}, limit: guardLimit}
}

// ReadFromAddrPort returns the next datagram within its source's budget.
func (g *guardConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, addr, err := g.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, addr, err
		}
		if g.admit(addr) {
			g.passed.Add(1)
			return n, addr, nil
		}
		g.dropped.Add(1)
	}
}

// ReadFrom is ReadFromAddrPort for callers that want a net.Addr.
func (g *guardConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := g.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort sends a datagram.
func (g *guardConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return g.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (g *guardConn) admit(addr netip.AddrPort) bool {
	now := int64(time.Since(g.epoch))
	if now-g.lastSweep > int64(guardIdle) {
		g.sweep(now)
	}
	w := g.sources[addr]
	if w == nil {
		size := g.tableSize
		if size == 0 {
			size = guardSources
		}
		if len(g.sources) >= size {
			w = &g.overflow
		} else {
			w = &window{start: now}
			g.sources[addr] = w
		}
	}
	if now-w.start >= int64(guardWindow) {
		w.start, w.n = now, 0
	}
	w.n++
	limit := g.limit
	if limit == 0 {
		limit = guardLimit
	}
	if w == &g.overflow {
		limit *= 20
	}
	return w.n <= limit
}

// sweep forgets the sources that have been quiet for guardIdle.
func (g *guardConn) sweep(now int64) {
	g.lastSweep = now
	for addr, w := range g.sources {
		if now-w.start > int64(guardIdle) {
			delete(g.sources, addr)
		}
	}
}
