package media

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// rtcpInterval is how often an RTP leg sends its RTCP report.
const rtcpInterval = 5 * time.Second

// rxStats is what a leg knows of the stream it receives (RFC 3550 A.1,
// A.3, A.8) and, for RTP legs, what the peer's RTCP says of the stream
// the leg sends. A fixed size: nothing here grows.
type rxStats struct {
	mu       sync.Mutex
	started  bool
	ssrc     uint32
	maxSeq   uint16
	cycles   uint32
	baseSeq  uint32
	received uint64
	transit  int64   // of the last audio packet, in timestamp units
	jitter   float64 // in timestamp units
	haveTr   bool

	expPrior, recvPrior uint64 // at the last report we sent

	lsr   uint32 // middle 32 bits of the NTP time of the peer's last SR
	lsrAt int64  // engine clock when it arrived

	rFraction uint8 // from the peer's last report block about our stream
	rLost     int64
	rJitter   uint32
}

// update takes one received packet. Jitter is measured on audio only
// (telephone-event packets repeat their timestamp).
func (s *rxStats) update(ssrc uint32, seq uint16, ts uint32, now int64, audio bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || ssrc != s.ssrc {
		// A new stream (the first, or a new SSRC after a re-INVITE).
		s.started, s.ssrc, s.maxSeq, s.baseSeq, s.cycles, s.received = true, ssrc, seq, uint32(seq), 0, 0
		s.expPrior, s.recvPrior, s.jitter, s.haveTr = 0, 0, 0, false
	} else {
		switch d := seq - s.maxSeq; {
		case d == 0:
		case d < 3000: // in order, with a permissible gap
			if seq < s.maxSeq {
				s.cycles += 1 << 16
			}
			s.maxSeq = seq
		case d <= 0xFFFF-100: // a jump: the stream restarted
			s.maxSeq, s.baseSeq, s.cycles, s.received = seq, uint32(seq), 0, 0
			s.expPrior, s.recvPrior = 0, 0
		default: // late or duplicate
		}
	}
	s.received++
	if !audio {
		return
	}
	arrival := now / (int64(time.Second) / sampleRate)
	transit := arrival - int64(ts)
	if s.haveTr {
		d := transit - s.transit
		if d < 0 {
			d = -d
		}
		s.jitter += (float64(d) - s.jitter) / 16
	}
	s.transit, s.haveTr = transit, true
}

func (s *rxStats) expected() uint64 {
	return uint64(s.cycles) + uint64(s.maxSeq) - uint64(s.baseSeq) + 1
}

func (s *rxStats) fill(st *LegStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		st.PacketsLost = int64(s.expected()) - int64(s.received)
		st.Jitter = time.Duration(s.jitter * float64(time.Second) / sampleRate)
	}
	st.RemoteFractionLost = float64(s.rFraction) / 256
	st.RemotePacketsLost = s.rLost
	st.RemoteJitter = time.Duration(float64(s.rJitter) * float64(time.Second) / sampleRate)
}

// reportBlock appends an RFC 3550 report block about the received stream,
// or nothing before the first packet; it reports whether it did.
func (s *rxStats) reportBlock(b []byte, now int64) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return b, false
	}
	exp := s.expected()
	lost := int64(exp) - int64(s.received)
	expInt := exp - s.expPrior
	recvInt := s.received - s.recvPrior
	s.expPrior, s.recvPrior = exp, s.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recvInt); expInt > 0 && lostInt > 0 {
		fraction = uint8(min(lostInt<<8/int64(expInt), 255))
	}
	lost = min(max(lost, -(1<<23)), 1<<23-1)
	var dlsr uint32
	if s.lsrAt != 0 {
		dlsr = uint32((now - s.lsrAt) * 65536 / int64(time.Second))
	}
	b = binary.BigEndian.AppendUint32(b, s.ssrc)
	b = binary.BigEndian.AppendUint32(b, uint32(fraction)<<24|uint32(lost)&0xFFFFFF)
	b = binary.BigEndian.AppendUint32(b, uint32(s.cycles)|uint32(s.maxSeq))
	b = binary.BigEndian.AppendUint32(b, uint32(s.jitter))
	b = binary.BigEndian.AppendUint32(b, s.lsr)
	b = binary.BigEndian.AppendUint32(b, dlsr)
	return b, true
}

// ntpTime is t as a 64-bit NTP timestamp.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // 1900 to 1970, in seconds
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// sendReport sends the leg's RTCP: a sender report once it has sent RTP
// (a receiver report before), with a report block about what it receives,
// and the SDES CNAME RFC 3550 asks for. Called by the engine clock.
func (l *Leg) sendReport(now int64) {
	r := l.rtp
	dst := r.rtcpDest.Load()
	p := r.peer.Load()
	if dst == nil || p == nil {
		return
	}
	b := r.rtcpOut[:0]
	o := &l.out
	o.mu.Lock()
	ssrc := o.hdr.SSRC
	started, lastTS, lastAt := o.started, o.lastTS, o.lastAt
	o.mu.Unlock()
	sent, octets := l.pktOut.Load(), l.bytesOut.Load()
	if started && sent > 0 {
		b = append(b, 0x80, 200, 0, 0) // SR; count and length below
		b = binary.BigEndian.AppendUint32(b, ssrc)
		b = binary.BigEndian.AppendUint64(b, ntpTime(l.e.wallTime(now)))
		ts := lastTS + uint32((now-lastAt)*sampleRate/int64(time.Second))
		b = binary.BigEndian.AppendUint32(b, ts)
		b = binary.BigEndian.AppendUint32(b, uint32(sent))
		b = binary.BigEndian.AppendUint32(b, uint32(octets))
	} else {
		b = append(b, 0x80, 201, 0, 0) // RR
		b = binary.BigEndian.AppendUint32(b, ssrc)
	}
	var ok bool
	if b, ok = l.rx.reportBlock(b, now); ok {
		b[0] |= 1
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)/4-1))
	// SDES with one chunk: CNAME, then END and padding to 32 bits.
	start := len(b)
	cname := "contactd-" + l.id
	if len(cname) > 64 {
		cname = cname[:64]
	}
	b = append(b, 0x81, 202, 0, 0)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = append(b, 1, byte(len(cname)))
	b = append(b, cname...)
	b = append(b, 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16((len(b)-start)/4-1))
	r.rtcpOut = b
	if _, err := r.rtcpConn.WriteToUDPAddrPort(b, *dst); err != nil && !errors.Is(err, net.ErrClosed) {
		l.log.Debug("RTCP send", "err", err)
	}
}

// readRTCP is the RTCP socket's one reader. It takes the peer's sender
// reports (for the LSR/DLSR of our reports) and the report blocks about
// our stream (into Stats); it keeps nothing else.
func (l *Leg) readRTCP() {
	defer l.readerWG.Done()
	r := l.rtp
	buf := make([]byte, maxDatagram+1)
	failures := 0
	var latched netip.AddrPort
	var seen *rtpPeer
	for {
		n, src, err := r.rtcpGuard.ReadFromAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures > 1000 {
				l.log.Warn("giving up reading RTCP", "err", err)
				return
			}
			continue
		}
		failures = 0
		p := r.peer.Load()
		if n > maxDatagram || n < 8 || p == nil {
			continue
		}
		if p != seen {
			if seen == nil || seen.sdpAddr != p.sdpAddr {
				latched = netip.AddrPort{}
			}
			seen = p
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if src != p.sdpRTCP {
			// Behind a NAT (RTP latched on another address than the
			// description's), the peer's RTCP comes from the host RTP
			// comes from, on a port of the NAT's choosing: the first such
			// source latches the RTCP destination, and only it is read.
			d := r.dest.Load()
			if !r.symmetric || d == nil || *d == p.sdpAddr || d.Addr() != src.Addr() ||
				(latched.IsValid() && src != latched) {
				continue
			}
			if !latched.IsValid() {
				latched = src
				a := src
				r.rtcpDest.Store(&a)
			}
		}
		if l.parseRTCP(buf[:n]) {
			r.rtcpIn.Add(1)
		}
	}
}

// parseRTCP reads a compound RTCP packet; it reports whether it was one.
func (l *Leg) parseRTCP(b []byte) bool {
	now := l.e.now()
	l.out.mu.Lock()
	ours := l.out.hdr.SSRC
	l.out.mu.Unlock()
	valid := false
	for len(b) >= 4 {
		if b[0]>>6 != 2 {
			return valid
		}
		size := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if size > len(b) {
			return valid
		}
		pkt := b[:size]
		b = b[size:]
		count := int(pkt[0] & 0x1F)
		var blocks []byte
		switch pkt[1] {
		case 200: // SR
			if len(pkt) < 28 {
				return valid
			}
			ntp := binary.BigEndian.Uint64(pkt[8:])
			l.rx.mu.Lock()
			l.rx.lsr, l.rx.lsrAt = uint32(ntp>>16), now
			l.rx.mu.Unlock()
			blocks = pkt[28:]
		case 201: // RR
			if len(pkt) < 8 {
				return valid
			}
			blocks = pkt[8:]
		default:
			valid = true
			continue
		}
		valid = true
		for i := 0; i < count && len(blocks) >= 24; i++ {
			blk := blocks[:24]
			blocks = blocks[24:]
			if binary.BigEndian.Uint32(blk) != ours {
				continue
			}
			lost := int64(binary.BigEndian.Uint32(blk[4:]) & 0xFFFFFF)
			if lost&0x800000 != 0 {
				lost -= 1 << 24
			}
			l.rx.mu.Lock()
			l.rx.rFraction = blk[4]
			l.rx.rLost = lost
			l.rx.rJitter = binary.BigEndian.Uint32(blk[12:])
			l.rx.mu.Unlock()
		}
	}
	return valid
}
