package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Port range defaults for RTP legs.
const (
	DefaultRTPPortMin = 10000
	DefaultRTPPortMax = 20000
	// DefaultRTPQuarantine is how long a port pair that closed stays unused,
	// so the late packets of an old call drain instead of reaching a new one.
	DefaultRTPQuarantine = 10 * time.Second
)

// portPool hands out even RTP ports (RTCP on the odd port above) from a
// range, round-robin, and keeps a released pair out of use for a
// quarantine. Its state is one int64 per pair: 0 free, -1 in use, else the
// engine time (ns) until which the pair is quarantined.
type portPool struct {
	mu         sync.Mutex
	ip         netip.Addr // the local address sockets bind
	min        int        // first even port
	pairs      []int64
	next       int
	quarantine int64
	now        func() int64
}

func newPortPool(ip netip.Addr, lo, hi int, quarantine time.Duration, now func() int64) (*portPool, error) {
	if lo == 0 && hi == 0 {
		lo, hi = DefaultRTPPortMin, DefaultRTPPortMax
	}
	if lo%2 == 1 {
		lo++
	}
	if lo < 1024 || hi > 65535 || hi < lo+1 {
		return nil, fmt.Errorf("media: RTP port range %d-%d (want even ports within 1024-65535, at least one pair): %w", lo, hi, ErrConfig)
	}
	n := (hi - lo + 1) / 2 // pairs (p, p+1) with p+1 <= hi
	if quarantine == 0 {
		quarantine = DefaultRTPQuarantine
	}
	if quarantine < 0 {
		return nil, fmt.Errorf("media: negative RTPQuarantine: %w", ErrConfig)
	}
	// The round-robin starts at a random pair: an engine that starts (a
	// restart, a second process on the machine) does not reuse at once the
	// ports another just released, whose peers may still be sending (the
	// quarantine does not outlive a process), and ports are not guessable.
	return &portPool{ip: ip, min: lo, pairs: make([]int64, n), next: rand.IntN(n), quarantine: int64(quarantine), now: now}, nil
}

// open binds the next free pair: the RTP socket on an even port and the
// RTCP socket on the port above. A pair another process holds is skipped.
func (p *portPool) open() (rtpConn, rtcpConn *net.UDPConn, port int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for range len(p.pairs) {
		i := p.next
		p.next = (p.next + 1) % len(p.pairs)
		if st := p.pairs[i]; st == -1 || (st > 0 && st > now) {
			continue
		}
		port = p.min + 2*i
		a, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port+1))))
		if err != nil {
			_ = a.Close()
			continue
		}
		p.pairs[i] = -1
		return a, b, port, nil
	}
	return nil, nil, 0, fmt.Errorf("media: no free RTP port pair in %d-%d: %w", p.min, p.min+2*len(p.pairs)-1, ErrNoPorts)
}

// release puts a pair in quarantine.
func (p *portPool) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := (port - p.min) / 2
	if i >= 0 && i < len(p.pairs) {
		p.pairs[i] = max(p.now()+p.quarantine, 1)
	}
}
