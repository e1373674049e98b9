package sip

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	ctest "github.com/contactd/contactd/internal/testutil"
)

func TestFloodGuardTokenBucket(t *testing.T) {
	clock := newClock()
	drops := NewDrops(nil)
	g := NewFloodGuard(FloodConfig{Rate: 10, Burst: 5, Now: clock.Now, Drops: drops,
		Limits: []FloodLimit{
			{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Rate: 0},                  // a trunk: exempt
			{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Rate: 2000, Burst: 4000}, // a trunk with its own rate
		}})
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 5 {
		if !g.Allow(a) {
			t.Fatalf("message %d of the burst dropped", i)
		}
	}
	if g.Allow(a) {
		t.Fatal("past the burst allowed")
	}
	if drops.Count(DropFlood) != 1 {
		t.Fatalf("drops %d", drops.Count(DropFlood))
	}
	// Another source has its own bucket.
	if !g.Allow(netip.MustParseAddr("192.0.2.2")) {
		t.Fatal("another source dropped")
	}
	// Tokens come back at the rate: 10/s.
	clock.Advance(100 * time.Millisecond)
	if !g.Allow(a) || g.Allow(a) {
		t.Fatal("one token per 100 ms")
	}
	// The exempt trunk and the trunk with its own limit.
	for range 10000 {
		if !g.Allow(netip.MustParseAddr("203.0.113.9")) {
			t.Fatal("exempt source dropped")
		}
	}
	n := 0
	for range 5000 {
		if g.Allow(netip.MustParseAddr("198.51.100.7")) {
			n++
		}
	}
	if n != 4000 {
		t.Fatalf("trunk with its own burst: %d allowed", n)
	}
	// IPv4-mapped IPv6 is the IPv4 source.
	if g.Allow(netip.MustParseAddr("::ffff:192.0.2.1")) {
		t.Fatal("mapped address has a bucket of its own")
	}
}

func TestFloodGuardIPv6By64AndBoundedMemory(t *testing.T) {
	clock := newClock()
	g := NewFloodGuard(FloodConfig{Rate: 1, Burst: 2, Now: clock.Now, MaxSources: 1000, IdleAfter: time.Minute})
	// Every address of a /64 shares one bucket.
	if !g.Allow(netip.MustParseAddr("2001:db8:0:1::1")) || !g.Allow(netip.MustParseAddr("2001:db8:0:1:ffff::2")) {
		t.Fatal("burst")
	}
	if g.Allow(netip.MustParseAddr("2001:db8:0:1:1234::3")) {
		t.Fatal("a /64 has one bucket")
	}
	if !g.Allow(netip.MustParseAddr("2001:db8:0:2::1")) {
		t.Fatal("the next /64 is another source")
	}
	// A flood from spoofed addresses: the table stays bounded.
	for i := range 50000 {
		g.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := g.Sources(); n > 1000 {
		t.Fatalf("%d sources tracked, bound 1000", n)
	}
	// Idle sources are swept.
	clock.Advance(2 * time.Minute)
	g.Sweep()
	if n := g.Sources(); n != 0 {
		t.Fatalf("%d sources after the idle sweep", n)
	}
}

func sendUDP(t *testing.T, from *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := from.WriteTo(b, net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
}

func TestFloodOverUDPDropsSilentlyAndSparesOthers(t *testing.T) {
	start := time.Now()
	h := startHardEdge(t, FloodConfig{Rate: 1, Burst: 20})
	edge := addrOf(t, h.e, "udp")
	flooder, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Skipf("no 127.0.0.2 to flood from: %v", err)
	}
	defer flooder.Close()
	// Datagrams may be lost in the socket buffer before the guard sees
	// them: keep flooding until the guard has dropped 100.
	sent := 0
	ctest.Eventually(t, "flood drops counted", func() bool {
		for range 20 {
			sendUDP(t, flooder, edge, probe(fmt.Sprintf("flood-%d", sent), flooder.LocalAddr(), "UDP"))
			sent++
		}
		return h.drops.Count(DropFlood) >= 100
	})
	// Another source is served.
	udpExchange(t, edge, nil)
	// Answers went out for the burst only (and nothing for the drops).
	answered := 0
	for len(h.sent) > 0 {
		if r := <-h.sent; strings.HasPrefix(r.callID, "flood-") {
			answered++
		}
	}
	// The burst, and one a second after it.
	if limit := 20 + int(time.Since(start).Seconds()) + 1; answered > limit {
		t.Fatalf("%d answers to a flood with a burst of 20 at 1/s (%d sent), want at most %d", answered, sent, limit)
	}
}

func TestOversizedDatagramDroppedAndCounted(t *testing.T) {
	h := startHardEdge(t, FloodConfig{MaxDatagram: 2000})
	edge := addrOf(t, h.e, "udp")
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := probe("big@test", c.LocalAddr(), "UDP")
	big = append(big[:len(big)-2], []byte(fmt.Sprintf("X-Pad: %s\r\n\r\n", bytes.Repeat([]byte("a"), 3000)))...)
	sendUDP(t, c, edge, big)
	ctest.Eventually(t, "oversized datagram counted", func() bool { return h.drops.Count(DropOversize) == 1 })
	udpExchange(t, edge, nil)
	// Larger than sipgo's 32 KiB read buffer too (it would cut it).
	h2 := startHardEdge(t, FloodConfig{})
	huge := append(probe("huge@test", c.LocalAddr(), "UDP"), bytes.Repeat([]byte("a"), 40000)...)
	sendUDP(t, c, addrOf(t, h2.e, "udp"), huge)
	ctest.Eventually(t, "huge datagram counted", func() bool { return h2.drops.Count(DropOversize) == 1 })
	udpExchange(t, addrOf(t, h2.e, "udp"), nil)
}

func TestTCPConnectionsPerSourceAndReadTimeout(t *testing.T) {
	h := startHardEdge(t, FloodConfig{MaxConnsPerSource: 3, TCPReadTimeout: 300 * time.Millisecond})
	edge := addrOf(t, h.e, "tcp")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(edge))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	ctest.Eventually(t, "source tracked", func() bool { return h.guard.Sources() == 1 })
	// The fourth is closed at once.
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(edge))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("fourth connection not closed")
	}
	if h.drops.Count(DropTooManyConns) != 1 {
		t.Fatalf("too many conns counted %d", h.drops.Count(DropTooManyConns))
	}
	// The silent ones are closed by the read timeout, and then a new
	// connection is served.
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("idle connection not closed")
		}
	}
	ctest.Eventually(t, "connections released", func() bool {
		h.guard.mu.Lock()
		defer h.guard.mu.Unlock()
		for _, b := range h.guard.m {
			if b.conns != 0 {
				return false
			}
		}
		return true
	})
	tcpProbe(t, edge)
}

func TestTCPFloodClosesTheConnection(t *testing.T) {
	h := startHardEdge(t, FloodConfig{Rate: 1, Burst: 5})
	edge := addrOf(t, h.e, "tcp")
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(edge))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 65536)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	var burst []byte
	for i := range 20 {
		burst = append(burst, probe(fmt.Sprintf("tf-%d", i), c.LocalAddr(), "TCP")...)
	}
	c.Write(burst)
	<-closed
	if h.drops.Count(DropFlood) == 0 {
		t.Fatal("flood not counted")
	}
}
