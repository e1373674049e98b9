package media_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// BenchmarkForwardRTP measures one packet relayed between two bridged RTP
// legs, end to end on loopback: the time from a phone's send to the other
// phone's receive, one packet in flight at a time (so ns/op is the
// latency of the relay, syscalls included, not its throughput).
//
//	go test -run '^$' -bench ForwardRTP -benchtime 1000x ./media/
func BenchmarkForwardRTP(b *testing.B) {
	e, err := media.New(media.Config{ListenAddr: "127.0.0.1:0", RTPAddr: "127.0.0.1", MediaTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	media.SetRTPGuardLimit(e, 1<<30) // the benchmark sends faster than a phone
	sender, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	receiver, err := mediatest.NewRTPPeer("PCMU")
	if err != nil {
		b.Fatal(err)
	}
	defer receiver.Close()
	got := make(chan struct{}, 1)
	receiver.OnPacket(func(mediatest.Packet) { got <- struct{}{} })

	a, err := e.NewRTPLeg("a", media.LegHandler{})
	if err != nil {
		b.Fatal(err)
	}
	bl, err := e.NewRTPLeg("b", media.LegHandler{})
	if err != nil {
		b.Fatal(err)
	}
	from := sender.LocalAddr().(*net.UDPAddr).AddrPort()
	offer := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
		itoa(int(from.Port())) + " RTP/AVP 0\r\n"
	if _, err := a.HandleRTPOffer(offer); err != nil {
		b.Fatal(err)
	}
	if _, err := bl.HandleRTPOffer(receiver.SDP("sendrecv")); err != nil {
		b.Fatal(err)
	}
	media.Bridge(a, bl)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(a.RTPPort()))
	pkt := rtpDatagram(1, 0, 99)
	b.ReportAllocs()
	b.ResetTimer()
	timeout := time.NewTimer(time.Hour)
	for i := range b.N {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i)*160)
		if _, err := sender.WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
		timeout.Reset(5 * time.Second)
		select {
		case <-got:
		case <-timeout.C:
			b.Fatalf("packet %d not relayed (stats %+v)", i, a.Stats())
		}
	}
}
