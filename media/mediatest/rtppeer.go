package mediatest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// RTPPeer stands in for a SIP phone's media: plain RTP/AVP on one UDP
// socket and RTCP on another, both on 127.0.0.1, with an SDP of its own,
// RTP sent on demand or every 20 ms, and the packets received handed to a
// callback. RFC 4733 telephone-events (payload type 101) go both ways.
type RTPPeer struct {
	conn, rtcp *net.UDPConn
	codec      string
	pt         uint8
	eventPT    uint8

	mu       sync.Mutex
	remote   netip.AddrPort
	hdr      rtp.Header
	onPacket func(Packet)
	onRTCP   func([]byte)
	ticker   *time.Ticker
	stopTick chan struct{}

	sent, recv, rtcpRecv atomic.Uint64
	wg                   sync.WaitGroup
	closeOnce            sync.Once
}

// EventPT is the payload type RTPPeer uses for telephone-event unless
// SetEventPT changes it.
const EventPT = 101

// SetEventPT changes the payload type the peer offers and sends
// telephone-events with (a phone's dynamic number). Call it before SDP.
func (p *RTPPeer) SetEventPT(pt uint8) {
	p.mu.Lock()
	p.eventPT = pt
	p.mu.Unlock()
}

// NewRTPPeer opens the peer's sockets. codec is "PCMU" (default) or
// "PCMA".
func NewRTPPeer(codec string) (*RTPPeer, error) {
	p := &RTPPeer{codec: "PCMU", pt: 0, eventPT: EventPT}
	if strings.EqualFold(codec, "PCMA") {
		p.codec, p.pt = "PCMA", 8
	}
	var err error
	if p.conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return nil, fmt.Errorf("mediatest: RTP socket: %w", err)
	}
	if p.rtcp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		_ = p.conn.Close()
		return nil, fmt.Errorf("mediatest: RTCP socket: %w", err)
	}
	p.hdr = rtp.Header{Version: 2, PayloadType: p.pt, SequenceNumber: uint16(rand.Uint32()),
		Timestamp: rand.Uint32(), SSRC: rand.Uint32()}
	p.wg.Add(2)
	go p.read()
	go p.readRTCP()
	return p, nil
}

// Addr is the peer's RTP address.
func (p *RTPPeer) Addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// RTCPAddr is the peer's RTCP address.
func (p *RTPPeer) RTCPAddr() netip.AddrPort { return p.rtcp.LocalAddr().(*net.UDPAddr).AddrPort() }

// SSRC is the SSRC the peer sends with.
func (p *RTPPeer) SSRC() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hdr.SSRC
}

// SDP is a description of the peer (an offer or an answer): its codec,
// telephone-event 101 and the given direction ("sendrecv", "sendonly",
// "recvonly", "inactive").
func (p *RTPPeer) SDP(direction string) string {
	a := p.Addr()
	p.mu.Lock()
	ev := p.eventPT
	p.mu.Unlock()
	return fmt.Sprintf("v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %d %d\r\na=rtpmap:%d %s/8000\r\na=rtpmap:%d telephone-event/8000\r\n"+
		"a=fmtp:%d 0-16\r\na=ptime:20\r\na=rtcp:%d\r\na=%s\r\n",
		a.Addr(), a.Port(), p.pt, ev, p.pt, p.codec, ev, ev, p.RTCPAddr().Port(), direction)
}

// SetRemote takes the other side's description: RTP goes to its c= address
// and audio port.
func (p *RTPPeer) SetRemote(desc string) error {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(desc); err != nil {
		return fmt.Errorf("mediatest: remote description: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return errors.New("mediatest: remote description has no address")
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return fmt.Errorf("mediatest: remote address: %w", err)
		}
		p.mu.Lock()
		p.remote = netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value))
		p.mu.Unlock()
		return nil
	}
	return errors.New("mediatest: remote description has no audio")
}

// Remote is where the peer sends RTP.
func (p *RTPPeer) Remote() netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remote
}

// OnPacket sets the callback for every RTP packet received (nil: none).
// Payload is only valid during the call. It runs on the peer's reader.
func (p *RTPPeer) OnPacket(f func(Packet)) {
	p.mu.Lock()
	p.onPacket = f
	p.mu.Unlock()
}

// OnRTCP sets the callback for every RTCP datagram received.
func (p *RTPPeer) OnRTCP(f func([]byte)) {
	p.mu.Lock()
	p.onRTCP = f
	p.mu.Unlock()
}

// Send sends one audio packet with the next sequence number and a
// timestamp 160 later (the first packet: marker set).
func (p *RTPPeer) Send(payload []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sendLocked(payload)
}

func (p *RTPPeer) sendLocked(payload []byte) error {
	p.hdr.PayloadType = p.pt
	p.hdr.SequenceNumber++
	p.hdr.Timestamp += FrameSize
	p.hdr.Marker = p.sent.Load() == 0
	return p.writeLocked(&p.hdr, payload)
}

// SendEvent sends one RFC 4733 telephone-event packet: the event code,
// the end bit, the duration and the timestamp given (a new event takes a
// new one), with the next sequence number.
func (p *RTPPeer) SendEvent(code byte, end bool, duration uint16, ts uint32, marker bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hdr
	h.PayloadType = p.eventPT
	p.hdr.SequenceNumber++
	h.SequenceNumber = p.hdr.SequenceNumber
	h.Timestamp = ts
	h.Marker = marker
	flags := byte(10)
	if end {
		flags |= 0x80
	}
	return p.writeLocked(&h, []byte{code, flags, byte(duration >> 8), byte(duration)})
}

// Timestamp is the timestamp of the last audio packet sent.
func (p *RTPPeer) Timestamp() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hdr.Timestamp
}

func (p *RTPPeer) writeLocked(h *rtp.Header, payload []byte) error {
	if !p.remote.IsValid() {
		return errors.New("mediatest: no remote address")
	}
	b, err := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
	if err != nil {
		return err
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, p.remote); err != nil {
		return err
	}
	p.sent.Add(1)
	return nil
}

// SendRaw sends a datagram from the peer's RTP socket.
func (p *RTPPeer) SendRaw(b []byte, to netip.AddrPort) error {
	_, err := p.conn.WriteToUDPAddrPort(b, to)
	return err
}

// SendRTCP sends a datagram from the peer's RTCP socket.
func (p *RTPPeer) SendRTCP(b []byte, to netip.AddrPort) error {
	_, err := p.rtcp.WriteToUDPAddrPort(b, to)
	return err
}

// StartSending sends an audio packet every 20 ms, its payload made by gen,
// until StopSending or Close.
func (p *RTPPeer) StartSending(gen PayloadFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ticker != nil {
		return
	}
	p.ticker = time.NewTicker(FrameInterval)
	p.stopTick = make(chan struct{})
	tick, stop := p.ticker.C, p.stopTick
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var payload [FrameSize]byte
		for {
			select {
			case <-stop:
				return
			case <-tick:
			}
			p.mu.Lock()
			gen(p.hdr.SequenceNumber+1, payload[:])
			_ = p.sendLocked(payload[:])
			p.mu.Unlock()
		}
	}()
}

// StopSending stops what StartSending started.
func (p *RTPPeer) StopSending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ticker != nil {
		p.ticker.Stop()
		close(p.stopTick)
		p.ticker = nil
	}
}

// Stats: packets sent, RTP and RTCP received.
func (p *RTPPeer) Stats() (sent, received, rtcp uint64) {
	return p.sent.Load(), p.recv.Load(), p.rtcpRecv.Load()
}

func (p *RTPPeer) read() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	var pkt rtp.Packet
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		p.recv.Add(1)
		p.mu.Lock()
		f := p.onPacket
		p.mu.Unlock()
		if f != nil {
			f(Packet{SequenceNumber: pkt.SequenceNumber, Timestamp: pkt.Timestamp, SSRC: pkt.SSRC,
				PayloadType: pkt.PayloadType, Marker: pkt.Marker, Payload: pkt.Payload, Arrival: time.Now()})
		}
	}
}

func (p *RTPPeer) readRTCP() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := p.rtcp.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.rtcpRecv.Add(1)
		p.mu.Lock()
		f := p.onRTCP
		p.mu.Unlock()
		if f != nil {
			f(append([]byte(nil), buf[:n]...))
		}
	}
}

// Close stops sending and closes the sockets; it returns when the peer's
// goroutines have ended.
func (p *RTPPeer) Close() {
	p.closeOnce.Do(func() {
		p.StopSending()
		_ = p.conn.Close()
		_ = p.rtcp.Close()
	})
	p.wg.Wait()
}

// ReceiverReport builds an RTCP receiver report from ssrc about the stream
// source, with the loss fraction (0-255), the cumulative loss and the
// jitter given.
func ReceiverReport(ssrc, source uint32, fraction uint8, lost int32, jitter uint32) []byte {
	b := []byte{0x81, 201, 0, 7}
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = binary.BigEndian.AppendUint32(b, source)
	b = binary.BigEndian.AppendUint32(b, uint32(fraction)<<24|uint32(lost)&0xFFFFFF)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, jitter)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	return b
}

// PortOf returns the port of an SDP's first audio section (0 if none).
func PortOf(desc string) int {
	for line := range strings.Lines(desc) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "m=audio "); ok {
			f := strings.Fields(rest)
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 0
}
