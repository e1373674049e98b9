package media_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
	"github.com/pion/stun/v4"
)

// rtpDatagram is a plain (unencrypted) RTP packet carrying a tagged
// payload.
func rtpDatagram(tag byte, seq uint16, ssrc uint32) []byte {
	b := make([]byte, 12+mediatest.FrameSize)
	b[0] = 0x80
	b[1] = 0 // PCMU
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	tagged(tag)(seq, b[12:])
	return b
}

func iceUfrags(t *testing.T, c *call) (server, client string) {
	t.Helper()
	pc := c.peer.PeerConnection()
	get := func(sdp string) string {
		for line := range strings.Lines(sdp) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
				return v
			}
		}
		t.Fatal("no ice-ufrag")
		return ""
	}
	return get(pc.RemoteDescription().SDP), get(pc.LocalDescription().SDP)
}

func TestMediaFromStrangersIsNotForwarded(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	media.Bridge(a.leg, b.leg)
	b.capture()
	b.waitPackets(5, from(1))

	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	serverUfrag, clientUfrag := iceUfrags(t, a)
	// A binding request with a's ufrag but not its password: the mux hands
	// it to a's ICE agent, which must refuse it and not learn the address.
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(serverUfrag+":"+clientUfrag),
		stun.NewShortTermIntegrity("not the password"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.WriteToUDP(req.Raw, e.Addr()); err != nil {
		t.Fatal(err)
	}
	// Then plain RTP, from the stranger and from a's own address (where it
	// fails SRTP authentication).
	ssrc := a.peer.SSRC()
	for i := range 200 {
		if _, err := stranger.WriteToUDP(rtpDatagram(99, uint16(i), ssrc), e.Addr()); err != nil {
			t.Fatal(err)
		}
		if err := a.peer.SendRaw(rtpDatagram(98, uint16(i), ssrc), e.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	// The call goes on: another second of a's audio reaches b, and nothing
	// of the injected packets.
	b.waitPackets(countMatching(b.packets(), from(1))+50, from(1))
	for _, p := range b.packets() {
		if tag, ok := tagOf(p.Payload); !ok || tag != 1 {
			t.Fatalf("b received a packet that a did not send (tag %d, ok %v)", tag, ok)
		}
	}
}

func TestAFloodOfJunkLeavesCallsAlone(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	pacer := newPacer(t)
	a := dial(t, e, "a", 1, pacer)
	b := dial(t, e, "b", 2, pacer)
	media.Bridge(a.leg, b.leg)
	a.capture()
	b.capture()
	a.waitPackets(5, from(2))

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	serverUfrag, _ := iceUfrags(t, a)

	// Junk of every kind, as fast as four senders can go: random bytes;
	// things that look like STUN, DTLS, RTP and RTCP by their first byte;
	// STUN with a's ufrag; some of it from a's own address.
	var wg sync.WaitGroup
	const perSender = 10000
	junk := func(r *rand.Rand, buf []byte) []byte {
		n := 2 + r.IntN(len(buf)-2)
		b := buf[:n]
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		switch r.IntN(6) {
		case 0: // STUN-looking: type, length, magic cookie
			if n >= 20 {
				b[0], b[1] = 0, 1
				binary.BigEndian.PutUint16(b[2:], uint16(n-20))
				binary.BigEndian.PutUint32(b[4:], 0x2112A442)
			}
		case 1:
			b[0] = 22 // DTLS handshake
		case 2:
			b[0] = 0x80 // RTP
		case 3:
			b[0], b[1] = 0x80, 200 // RTCP sender report
		case 4:
			if m, err := stun.Build(stun.TransactionID, stun.BindingRequest,
				stun.NewUsername(serverUfrag+":x"), stun.NewShortTermIntegrity("x"), stun.Fingerprint); err == nil {
				return m.Raw
			}
		}
		return b
	}
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(s), 1))
			buf := make([]byte, 1400)
			var send func([]byte) error
			if s == 0 {
				send = func(p []byte) error { return a.peer.SendRaw(p, e.Addr()) }
			} else {
				conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				send = func(p []byte) error { _, err := conn.WriteToUDP(p, e.Addr()); return err }
			}
			for range perSender {
				if err := send(junk(r, buf)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	// Both directions still carry audio, byte for byte, and no leg ended.
	a.capture()
	b.capture()
	a.waitPackets(50, from(2))
	b.waitPackets(50, from(1))
	for _, c := range []*call{a, b} {
		select {
		case cause := <-c.ended:
			t.Fatalf("leg %s ended: %s", c.leg.ID(), cause)
		default:
		}
	}
	if st := e.Stats(); st.Throttled == 0 {
		t.Errorf("nothing throttled: %+v", st)
	}
	after := heap()
	if grew := int64(after) - int64(before); grew > 16<<20 {
		t.Errorf("the heap grew by %d MB during the flood", grew>>20)
	}
	t.Logf("heap before %d KB, after %d KB; a %+v", before>>10, after>>10, a.leg.Stats())
}
