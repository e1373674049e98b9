package media_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

func isEvent(p mediatest.Packet) bool { return p.PayloadType == mediatest.EventPT }

// sendEvent sends one whole RFC 4733 event the way phones do: updates
// every 20 ms (here at once), then the end packet three times.
func sendEvent(t *testing.T, peer *mediatest.RTPPeer, code byte, ts uint32) {
	t.Helper()
	for k := range 4 {
		if err := peer.SendEvent(code, false, uint16((k+1)*160), ts, k == 0); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := peer.SendEvent(code, true, 800, ts, false); err != nil {
			t.Fatal(err)
		}
	}
}

func nextDigit(t *testing.T, ph *phone) byte {
	t.Helper()
	select {
	case d := <-ph.digits:
		return d
	case <-time.After(settle):
		t.Fatalf("no DTMF digit reported (stats %+v)", ph.leg.Stats())
		return 0
	}
}

func TestDTMFFromThePeerIsReportedOncePerEvent(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	ph := newPhone(t, e, "caller")
	other := newPhone(t, e, "agent")
	ph.callIn()
	other.callIn()
	other.capture()
	media.Bridge(ph.leg, other.leg)
	ts := ph.peer.Timestamp()
	sendEvent(t, ph.peer, 1, ts+160)
	sendEvent(t, ph.peer, 11, ts+2000)
	// A late end packet of the first event, then an event whose first
	// packets were lost (only its end packets arrive).
	if err := ph.peer.SendEvent(1, true, 800, ts+160, false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := ph.peer.SendEvent(13, true, 800, ts+4000, false); err != nil {
			t.Fatal(err)
		}
	}
	// A last event: any duplicate of the earlier ones would be reported
	// before it (a leg's callbacks run in order).
	sendEvent(t, ph.peer, 9, ts+6000)
	var got []byte
	for len(got) < 4 {
		got = append(got, nextDigit(t, ph))
	}
	if string(got) != "1#B9" {
		t.Errorf("digits %q, want \"1#B9\"", got)
	}
	if s := ph.leg.Stats(); s.DTMFIn != 4 {
		t.Errorf("DTMFIn %d, want 4", s.DTMFIn)
	}
	// The events are not forwarded to the bridged leg; audio is.
	if err := ph.peer.Send(make([]byte, mediatest.FrameSize)); err != nil {
		t.Fatal(err)
	}
	for _, p := range other.waitPackets(1, nil) {
		if isEvent(p) {
			t.Fatalf("a telephone-event was forwarded: %+v", p)
		}
	}
}

func TestDTMFUsesThePeersPayloadTypeNumber(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	for _, dir := range []string{"they offer", "we offer"} {
		ph := newPhone(t, e, dir)
		ph.peer.SetEventPT(96)
		var desc string
		if dir == "they offer" {
			desc = ph.callIn() // our answer keeps their 96
		} else {
			desc = ph.callOut() // we offer 101; they answer 96 and send with it
		}
		sendEvent(t, ph.peer, 5, ph.peer.Timestamp()+160)
		if d := nextDigit(t, ph); d != '5' {
			t.Errorf("%s: digit %q, want '5'", dir, d)
		}
		ph.capture()
		if err := ph.leg.SendDTMF("7"); err != nil {
			t.Fatal(err)
		}
		ps := ph.waitPackets(7, func(p mediatest.Packet) bool { return p.PayloadType == 96 })
		for _, p := range ps {
			if p.PayloadType != 96 || p.Payload[0] != 7 {
				t.Errorf("%s: sent PT %d event %d, want 96 and 7 (description:\n%s)", dir, p.PayloadType, p.Payload[0], desc)
				break
			}
		}
	}
}

func TestSendDTMFSendsRFC4733Events(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	ph := newPhone(t, e, "p")
	talker := newPhone(t, e, "talker")
	ph.callIn()
	talker.callIn()
	media.Bridge(ph.leg, talker.leg)
	talker.peer.StartSending(tagged(7))
	ph.capture()
	ph.waitPackets(5, from(7))
	if err := ph.leg.SendDTMF("1#"); err != nil {
		t.Fatal(err)
	}
	// Both events, then the talker's audio again.
	ps := ph.waitPackets(14, isEvent)
	lastEvent := 0
	for i, p := range ps {
		if isEvent(p) {
			lastEvent = i
		}
	}
	ps = ph.waitPackets(lastEvent+5, nil)
	type ev struct {
		code   byte
		end    bool
		dur    uint16
		marker bool
	}
	var events []ev
	var tss []uint32
	first := -1
	for i, p := range ps {
		if i > 0 && p.SequenceNumber-ps[i-1].SequenceNumber != 1 {
			t.Fatalf("sequence step %d at packet %d", p.SequenceNumber-ps[i-1].SequenceNumber, i)
		}
		if p.SSRC != ps[0].SSRC {
			t.Fatalf("SSRC changed at packet %d", i)
		}
		if !isEvent(p) {
			if first >= 0 && i < lastEvent {
				t.Fatalf("audio at packet %d among the events", i)
			}
			continue
		}
		if first < 0 {
			first = i
		}
		if len(p.Payload) != 4 {
			t.Fatalf("event payload of %d bytes", len(p.Payload))
		}
		events = append(events, ev{p.Payload[0], p.Payload[1]&0x80 != 0, binary.BigEndian.Uint16(p.Payload[2:]), p.Marker})
		tss = append(tss, p.Timestamp)
	}
	want := []ev{}
	for _, code := range []byte{1, 11} {
		for k := range 4 {
			want = append(want, ev{code, false, uint16((k + 1) * 160), k == 0})
		}
		for range 3 {
			want = append(want, ev{code, true, 800, false})
		}
	}
	if len(events) != len(want) {
		t.Fatalf("%d event packets, want %d", len(events), len(want))
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event packet %d: %+v, want %+v", i, events[i], want[i])
		}
	}
	// One timestamp per event, later than the audio before it.
	for i := range 7 {
		if tss[i] != tss[0] || tss[7+i] != tss[7] {
			t.Fatalf("timestamps within an event differ: %v", tss)
		}
	}
	if int32(tss[7]-tss[0]) < 800 || int32(tss[0]-ps[first-1].Timestamp) <= 0 {
		t.Errorf("event timestamps %d, %d after audio at %d", tss[0], tss[7], ps[first-1].Timestamp)
	}
	// Audio resumes as a new talkspurt after the events.
	after := ps[lastEvent+1]
	if isEvent(after) || !after.Marker || int32(after.Timestamp-tss[7]) < 800 {
		t.Errorf("after the events: %+v (last event ts %d)", after, tss[7])
	}
	testutil.Eventually(t, "DTMFOut counts both digits", func() bool { return ph.leg.Stats().DTMFOut == 2 })

	if err := ph.leg.SendDTMF("1x"); !errorsIs(err, media.ErrBadDTMF) {
		t.Errorf("SendDTMF(1x): %v", err)
	}
	if err := ph.leg.SendDTMF(strings.Repeat("1", 65)); !errorsIs(err, media.ErrBadDTMF) {
		t.Errorf("65 digits: %v", err)
	}
	// A peer without telephone-event.
	plain := newPhone(t, e, "plain")
	noEvents := strings.NewReplacer(" 101\r\n", "\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "", "a=fmtp:101 0-16\r\n", "").Replace(plain.peer.SDP("sendrecv"))
	answer, err := plain.leg.HandleRTPOffer(noEvents)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(answer, "telephone-event") {
		t.Errorf("answer offers telephone-event to a peer without it:\n%s", answer)
	}
	if err := plain.leg.SendDTMF("1"); !errorsIs(err, media.ErrNoDTMF) {
		t.Errorf("SendDTMF without telephone-event: %v", err)
	}
}

func TestPlayClipThenMusic(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	ph := newPhone(t, e, "p")
	ph.callIn()
	pcm := make([]int16, 160*9+80) // 9.5 frames: the last is padded
	for i := range pcm {
		pcm[i] = 3000
	}
	clip := e.NewClip(pcm)
	if d := clip.Duration(); d != 200*time.Millisecond {
		t.Errorf("Duration %v", d)
	}
	code := media.LinearToULaw(3000)
	isClip := func(p mediatest.Packet) bool {
		return bytes.Count(p.Payload, []byte{code}) >= 80
	}
	ph.capture()
	ph.leg.PlayClip(clip, media.SoundMusic)
	if s := ph.leg.Stats(); s.Sound != media.SoundMusic {
		t.Errorf("Stats.Sound %v", s.Sound)
	}
	ps := ph.waitPackets(30, nil)
	for i, p := range ps[:30] {
		if got, want := isClip(p), i < 10; got != want {
			t.Fatalf("packet %d is clip: %v, want %v", i, got, want)
		}
		if i >= 10 && rms("PCMU", p.Payload) == 0 {
			t.Errorf("packet %d is silent, want music", i)
		}
	}
	if last := ps[9].Payload; bytes.Count(last, []byte{code}) != 80 {
		t.Errorf("the last clip frame is not padded with silence")
	}
	checkContinuousSource(t, ps)
	if !ps[0].Marker {
		t.Error("no marker on the first packet")
	}

	// A clip followed by silence: exactly the clip, then nothing, until
	// the next clip.
	pcm2 := make([]int16, 160*3)
	for i := range pcm2 {
		pcm2[i] = -3000
	}
	code2 := media.LinearToULaw(-3000)
	clip2 := e.NewClip(pcm2)
	isClip2 := func(p mediatest.Packet) bool { return bytes.Count(p.Payload, []byte{code2}) == 160 }
	ph.leg.PlayClip(clip, media.SoundSilence)
	ph.capture()
	testutil.Eventually(t, "the clip ends", func() bool { return !ph.leg.Stats().Clip })
	ph.leg.PlayClip(clip2, media.SoundSilence)
	ps = ph.waitPackets(3, isClip2)
	n1, n2 := 0, 0
	for _, p := range ps {
		switch {
		case isClip(p):
			n1++
		case isClip2(p):
			n2++
		default:
			t.Fatalf("neither clip: %v", p.Payload[:8])
		}
	}
	if n1 > 10 || n2 != 3 {
		t.Errorf("%d packets of the first clip (at most 10), %d of the second (3)", n1, n2)
	}
	// Play replaces a clip at once.
	ph.leg.PlayClip(clip, media.SoundRingback)
	ph.leg.Play(media.SoundSilence)
	if s := ph.leg.Stats(); s.Clip || s.Sound != media.SoundSilence {
		t.Errorf("after Play(silence): %+v", s)
	}
}

// syncBuffer is a bytes.Buffer for a recording.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func TestRecordWritesWhatTheLegReceivesAsLinearPCM(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, func(c *media.Config) { c.Codec = "PCMA" })
	ph := newPhone(t, e, "p")
	ph.callIn()
	var rec syncBuffer
	stop := ph.leg.Record(&rec)
	var sent []byte
	payload := make([]byte, mediatest.FrameSize)
	for i := range 20 {
		tagged(byte(i+1))(uint16(i), payload)
		sent = append(sent, payload...)
		if err := ph.peer.Send(payload); err != nil {
			t.Fatal(err)
		}
		if i == 10 { // telephone-events are not recorded
			sendEvent(t, ph.peer, 5, ph.peer.Timestamp())
		}
	}
	testutil.Eventually(t, "the leg receives every packet", func() bool { return ph.leg.Stats().PacketsIn == 27 })
	stop()
	stop() // twice is fine
	got := rec.Bytes()
	if len(got) != 2*len(sent) {
		t.Fatalf("recorded %d bytes, want %d", len(got), 2*len(sent))
	}
	for i, c := range sent {
		if v := int16(binary.LittleEndian.Uint16(got[2*i:])); v != media.ALawToLinear(c) {
			t.Fatalf("sample %d: %d, want %d", i, v, media.ALawToLinear(c))
		}
	}
	// After stop, nothing more is written.
	if err := ph.peer.Send(payload); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the leg receives the last packet", func() bool { return ph.leg.Stats().PacketsIn == 28 })
	if n := len(rec.Bytes()); n != len(got) {
		t.Errorf("%d bytes written after stop", n-len(got))
	}

	// A WebRTC leg records the same way, and Close ends a recording.
	browser := dial(t, e, "browser", 3, newPacer(t))
	var brec syncBuffer
	browser.leg.Record(&brec)
	testutil.Eventually(t, "the browser's audio is recorded", func() bool { return len(brec.Bytes()) >= 4*320 })
	browser.leg.Close()
	if b := brec.Bytes(); len(b)%320 != 0 || int16(binary.LittleEndian.Uint16(b)) != media.ALawToLinear(3) {
		t.Errorf("browser recording: %d bytes, first sample %d", len(b), int16(binary.LittleEndian.Uint16(b)))
	}
}

func TestHostileDatagramsAreDropped(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	ph := newPhone(t, e, "p")
	other := newPhone(t, e, "o")
	// Before any description, even good RTP is dropped.
	port := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ph.leg.RTPPort()))
	if err := ph.peer.SendRaw(rtpDatagram(1, 1, 42), port); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the early packet is dropped", func() bool { return ph.leg.Stats().PacketsDropped == 1 })
	ph.callIn()
	other.callIn()
	other.capture()
	media.Bridge(ph.leg, other.leg)
	if err := ph.peer.SendRaw(rtpDatagram(1, 2, 42), port); err != nil { // latches
		t.Fatal(err)
	}
	other.waitPackets(1, from(1))

	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	oversized := append(rtpDatagram(1, 3, 42), make([]byte, 1600)...)
	wrongVersion := rtpDatagram(1, 4, 42)
	wrongVersion[0] = 0x40
	wrongPT := rtpDatagram(1, 5, 42)
	wrongPT[1] = 18
	badPadding := rtpDatagram(1, 6, 42)
	badPadding[0] |= 0x20
	badPadding[len(badPadding)-1] = 255
	junk := [][]byte{{0x80}, {0x80, 0, 1}, make([]byte, 11), wrongVersion, wrongPT, badPadding, oversized, {}}
	for _, b := range junk {
		if err := ph.peer.SendRaw(b, port); err != nil {
			t.Fatal(err)
		}
	}
	// A stranger's valid RTP, to the RTP and the RTCP port.
	for seq := range uint16(5) {
		if _, err := stranger.WriteToUDPAddrPort(rtpDatagram(9, 10+seq, 43), port); err != nil {
			t.Fatal(err)
		}
	}
	rtcpPort := netip.AddrPortFrom(port.Addr(), port.Port()+1)
	ours := ph.leg.Stats().SSRC
	if _, err := stranger.WriteToUDPAddrPort(mediatest.ReceiverReport(43, ours, 255, 1000, 1000), rtcpPort); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{{1, 2, 3}, {0x80, 201, 0xFF, 0xFF, 0, 0, 0, 0}, make([]byte, 1400)} {
		if err := ph.peer.SendRTCP(b, rtcpPort); err != nil {
			t.Fatal(err)
		}
	}
	// The peer's next packet still goes through, after everything above.
	if err := ph.peer.SendRaw(rtpDatagram(1, 20, 42), port); err != nil {
		t.Fatal(err)
	}
	ps := other.waitPackets(2, from(1))
	for _, p := range ps {
		if tag, ok := tagOf(p.Payload); !ok || tag != 1 {
			t.Fatalf("forwarded something hostile: % x", p.Payload[:8])
		}
	}
	testutil.Eventually(t, "every hostile RTP datagram is counted as dropped", func() bool {
		return ph.leg.Stats().PacketsDropped >= 1+uint64(len(junk)-1)+5
	})
	// The peer's own report, sent after the junk, is the only RTCP read.
	if err := ph.peer.SendRTCP(mediatest.ReceiverReport(42, ours, 1, 1, 1), rtcpPort); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the peer's report is read", func() bool { return ph.leg.Stats().RemotePacketsLost > 0 })
	if s := ph.leg.Stats(); s.RemoteAddr != ph.peer.Addr().String() || s.RTCPPackets != 1 ||
		s.RemoteFractionLost != 1.0/256 || s.RemotePacketsLost != 1 || s.PacketsIn != 2 {
		t.Errorf("stats after the junk: %+v", s)
	}
	// A flood from the peer itself: past 125 datagrams a quarter second,
	// the rest are dropped unread, and the leg goes on.
	flood := rtpDatagram(1, 30, 42)
	for range 400 {
		if err := ph.peer.SendRaw(flood, port); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "the flood is throttled", func() bool { return ph.leg.Stats().Throttled > 0 })
}

func TestSymmetricRTPLatchesOnThePeersSource(t *testing.T) {
	for _, symmetric := range []bool{true, false} {
		name := map[bool]string{true: "symmetric", false: "not symmetric"}[symmetric]
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			e := newRTPEngine(t, func(c *media.Config) {
				c.DisableSymmetricRTP = !symmetric
				c.MediaTimeout = time.Hour // RTCP goes out on the watchdog's tick (every second)
			})
			media.SetRTCPInterval(e, 50*time.Millisecond)
			ph := newPhone(t, e, "p")
			// The phone is behind a NAT: its SDP names an address it
			// does not send from (the decoy).
			decoy, err := mediatest.NewRTPPeer("PCMU")
			if err != nil {
				t.Fatal(err)
			}
			defer decoy.Close()
			var decoyGot sync.WaitGroup
			decoyGot.Add(1)
			var once sync.Once
			decoy.OnPacket(func(mediatest.Packet) { once.Do(decoyGot.Done) })
			answer, err := ph.leg.HandleRTPOffer(decoy.SDP("sendrecv"))
			if err != nil {
				t.Fatal(err)
			}
			if err := ph.peer.SetRemote(answer); err != nil {
				t.Fatal(err)
			}
			ph.leg.Play(media.SoundMusic)
			decoyGot.Wait() // before any packet, media goes to the SDP address
			ph.capture()
			ph.peer.StartSending(tagged(1))
			if symmetric {
				ph.waitConnected()
				ph.waitPackets(5, nil)
				if s := ph.leg.Stats(); s.RemoteAddr != ph.peer.Addr().String() {
					t.Errorf("RemoteAddr %q, want the source %s", s.RemoteAddr, ph.peer.Addr())
				}
				// RTCP from the host RTP latched on (another port than
				// the description's) is read, and answered there.
				rtcpPort := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ph.leg.RTPPort()+1))
				if err := ph.peer.SendRTCP(mediatest.ReceiverReport(1, ph.leg.Stats().SSRC, 0, 3, 0), rtcpPort); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, "the NATed peer's RTCP is read", func() bool { return ph.leg.Stats().RemotePacketsLost == 3 })
				testutil.Eventually(t, "RTCP goes to the NATed peer", func() bool {
					_, _, rtcp := ph.peer.Stats()
					return rtcp > 0
				})
				return
			}
			testutil.Eventually(t, "packets from elsewhere than the SDP address are dropped", func() bool {
				return ph.leg.Stats().PacketsDropped >= 5
			})
			if s := ph.leg.Stats(); s.PacketsIn != 0 || s.Connected || s.RemoteAddr != decoy.Addr().String() {
				t.Errorf("stats: %+v", s)
			}
			if n := len(ph.packets()); n != 0 {
				t.Errorf("the peer got %d packets though it is not the SDP address", n)
			}
		})
	}
}

func TestRTPLegsTimeOutButNotOnHold(t *testing.T) {
	noLeaks(t)
	const timeout = 300 * time.Millisecond
	e := newRTPEngine(t, func(c *media.Config) { c.MediaTimeout = timeout })
	waitEnd := func(ph *phone) string {
		t.Helper()
		select {
		case c := <-ph.ended:
			return c
		case <-time.After(settle):
			t.Fatalf("leg %s did not end", ph.leg.ID())
			return ""
		}
	}

	silent := newPhone(t, e, "silent")
	silent.callIn()
	stops := newPhone(t, e, "stops")
	stops.callIn()
	if err := stops.peer.Send(make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	stops.waitConnected()
	// Put on hold at once, before the timeout can run out on a busy
	// machine.
	held := newPhone(t, e, "held")
	held.callIn()
	if _, err := held.leg.HandleRTPOffer(held.peer.SDP("sendonly")); err != nil {
		t.Fatal(err)
	}
	if err := held.peer.Send(make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	held.waitConnected()
	heldInactive := newPhone(t, e, "inactive")
	heldInactive.callIn()
	if _, err := heldInactive.leg.HandleRTPOffer(heldInactive.peer.SDP("inactive")); err != nil {
		t.Fatal(err)
	}

	for _, ph := range []*phone{silent, stops} {
		if c := waitEnd(ph); c != media.CauseMediaTimeout {
			t.Errorf("%s ended with %q", ph.leg.ID(), c)
		}
		if ctxCause := ph.leg.Context().Err(); ctxCause == nil {
			t.Errorf("%s: context not cancelled", ph.leg.ID())
		}
	}
	// The held legs have heard nothing for far longer than the timeout
	// by now (the others ended); give the watchdog a few more rounds.
	select {
	case c := <-held.ended:
		t.Fatalf("a leg on hold (sendonly) ended: %s", c)
	case c := <-heldInactive.ended:
		t.Fatalf("a leg on hold (inactive) ended: %s", c)
	case <-time.After(4 * timeout):
	}
	// Resumed, the timeout counts again.
	if _, err := held.leg.HandleRTPOffer(held.peer.SDP("sendrecv")); err != nil {
		t.Fatal(err)
	}
	if c := waitEnd(held); c != media.CauseMediaTimeout {
		t.Errorf("resumed leg ended with %q", c)
	}
	if n := e.Legs(); n != 1 {
		t.Errorf("%d legs open, want 1 (the inactive one)", n)
	}
}

func TestRTCPReportsBothWays(t *testing.T) {
	noLeaks(t)
	// RTCP goes out on the watchdog's tick: every second with this
	// timeout, which the peer's silence never reaches during the test.
	e := newRTPEngine(t, func(c *media.Config) { c.MediaTimeout = time.Hour })
	media.SetRTCPInterval(e, 50*time.Millisecond)
	ph := newPhone(t, e, "p")
	ph.callIn()
	reports := make(chan []byte, 16)
	ph.peer.OnRTCP(func(b []byte) {
		select {
		case reports <- b:
		default:
		}
	})
	ph.capture()
	ph.leg.Play(media.SoundMusic)
	// A gap of 5 in the peer's sequence numbers is 5 lost.
	port := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ph.leg.RTPPort()))
	for _, seq := range []uint16{100, 101, 102, 108, 109} {
		if err := ph.peer.SendRaw(rtpDatagram(1, seq, 77), port); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, "loss counted", func() bool { return ph.leg.Stats().PacketsLost == 5 })
	ours := ph.waitPackets(3, nil)[0].SSRC

	// A sender report from the leg: its SSRC, packets sent, a block about
	// the peer's stream, and an SDES.
	var sr []byte
	deadline := time.After(settle)
	for sr == nil {
		select {
		case b := <-reports:
			if len(b) >= 52 && b[1] == 200 && b[0]&0x1F == 1 && binary.BigEndian.Uint32(b[32:])&0xFFFFFF == 5 {
				sr = b
			}
		case <-deadline:
			t.Fatal("no sender report")
		}
	}
	if ssrc := binary.BigEndian.Uint32(sr[4:]); ssrc != ours {
		t.Errorf("SR SSRC %d, want %d", ssrc, ours)
	}
	if sr[0]&0x1F != 1 || binary.BigEndian.Uint32(sr[20:]) == 0 {
		t.Errorf("SR: %d blocks, %d packets sent", sr[0]&0x1F, binary.BigEndian.Uint32(sr[20:]))
	}
	blk := sr[28:52]
	if binary.BigEndian.Uint32(blk) != 77 || binary.BigEndian.Uint32(blk[4:])&0xFFFFFF != 5 ||
		binary.BigEndian.Uint32(blk[8:])&0xFFFF != 109 {
		t.Errorf("report block % x", blk)
	}
	srLen := 4 * (int(binary.BigEndian.Uint16(sr[2:])) + 1)
	if len(sr) <= srLen || sr[srLen+1] != 202 || !bytes.Contains(sr[srLen:], []byte("contactd-p")) {
		t.Errorf("no SDES CNAME after the SR: % x", sr)
	}

	// The peer's receiver report about the leg's stream reaches Stats.
	rr := mediatest.ReceiverReport(77, ours, 64, 12, 80)
	rtcpPort := netip.AddrPortFrom(port.Addr(), port.Port()+1)
	if err := ph.peer.SendRTCP(rr, rtcpPort); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the report is read", func() bool { return ph.leg.Stats().RTCPPackets == 1 })
	s := ph.leg.Stats()
	if s.RemoteFractionLost != 0.25 || s.RemotePacketsLost != 12 || s.RemoteJitter != 10*time.Millisecond {
		t.Errorf("remote report in stats: fraction %v lost %d jitter %v", s.RemoteFractionLost, s.RemotePacketsLost, s.RemoteJitter)
	}
}

// freeRange finds n consecutive free UDP ports on 127.0.0.1, starting on
// an even one.
func freeRange(t *testing.T, n int) int {
	t.Helper()
	for base := 24000; base < 32000; base += 2 * n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				continue
			}
			_ = c.Close()
		}
		if ok {
			return base
		}
	}
	t.Skip("no free range of UDP ports on 127.0.0.1")
	return 0
}

func TestRTPPortsAreEvenAndQuarantined(t *testing.T) {
	noLeaks(t)
	base := freeRange(t, 4)
	e := newRTPEngine(t, func(c *media.Config) {
		c.RTPPortMin, c.RTPPortMax = base, base+3
		c.RTPQuarantine = time.Hour
	})
	a, err := e.NewRTPLeg("a", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.NewRTPLeg("b", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if a.RTPPort()%2 != 0 || b.RTPPort()%2 != 0 || a.RTPPort() == b.RTPPort() {
		t.Errorf("ports %d and %d", a.RTPPort(), b.RTPPort())
	}
	if _, err := e.NewRTPLeg("c", media.LegHandler{}); !errorsIs(err, media.ErrNoPorts) {
		t.Errorf("a third leg in a range of two pairs: %v", err)
	}
	a.Close()
	if _, err := e.NewRTPLeg("c", media.LegHandler{}); !errorsIs(err, media.ErrNoPorts) {
		t.Errorf("a pair in quarantine was reused: %v", err)
	}
	b.Close()

	// With a short quarantine, the pair comes back.
	e2 := newRTPEngine(t, func(c *media.Config) {
		c.RTPPortMin, c.RTPPortMax = base, base+1
		c.RTPQuarantine = 50 * time.Millisecond
	})
	x, err := e2.NewRTPLeg("x", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
	var y *media.Leg
	testutil.Eventually(t, "the pair is free after its quarantine", func() bool {
		y, err = e2.NewRTPLeg("y", media.LegHandler{})
		return err == nil
	})
	if y.RTPPort() != base {
		t.Errorf("port %d, want %d", y.RTPPort(), base)
	}
	y.Close()

	for _, c := range []media.Config{
		{ListenAddr: "127.0.0.1:0", RTPPortMin: 20000, RTPPortMax: 10000},
		{ListenAddr: "127.0.0.1:0", RTPPortMin: 80, RTPPortMax: 100},
		{ListenAddr: "127.0.0.1:0", RTPAddr: "not an address"},
		{ListenAddr: "127.0.0.1:0", RTPPublicIP: "0.0.0.0"},
	} {
		if e, err := media.New(c); !errorsIs(err, media.ErrConfig) {
			if e != nil {
				_ = e.Close()
			}
			t.Errorf("New(%+v): %v, want ErrConfig", c, err)
		}
	}
}

func TestClosingRTPLegsLeavesNoGoroutine(t *testing.T) {
	noLeaks(t)
	e, err := media.New(media.Config{ListenAddr: "127.0.0.1:0", RTPAddr: "127.0.0.1", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Legs in every state: never negotiated, offered, bridged both ways,
	// playing, recording, sending DTMF, bridged to a browser.
	if _, err := e.NewRTPLeg("idle", media.LegHandler{}); err != nil {
		t.Fatal(err)
	}
	offered, err := e.NewRTPLeg("offered", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := offered.RTPOffer(); err != nil {
		t.Fatal(err)
	}
	a := newPhone(t, e, "a")
	b := newPhone(t, e, "b")
	a.callIn()
	b.callOut()
	media.Bridge(a.leg, b.leg)
	a.peer.StartSending(tagged(1))
	b.peer.StartSending(tagged(2))
	a.waitConnected()
	var rec syncBuffer
	a.leg.Record(&rec)
	if err := b.leg.SendDTMF("123"); err != nil {
		t.Fatal(err)
	}
	c := newPhone(t, e, "c")
	c.callIn()
	c.leg.PlayClip(e.NewClip(make([]int16, 8000)), media.SoundMusic)
	browser := dial(t, e, "browser", 3, newPacer(t))
	d := newPhone(t, e, "d")
	d.callIn()
	media.Bridge(browser.leg, d.leg)
	if n := e.Legs(); n != 7 {
		t.Errorf("Legs() = %d, want 7", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := e.Legs(); n != 0 {
		t.Errorf("Legs() = %d after Close", n)
	}
	for _, ph := range []*phone{a, b, c, d} {
		ph.peer.Close()
	}
	_ = browser.peer.Close()
}

func TestRTPLegMisuse(t *testing.T) {
	noLeaks(t)
	e, err := media.New(media.Config{ListenAddr: "127.0.0.1:0", RTPAddr: "127.0.0.1", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewRTPLeg("", media.LegHandler{}); !errorsIs(err, media.ErrConfig) {
		t.Errorf("empty id: %v", err)
	}
	// Racing for one id: exactly one wins; the others free their ports
	// and readers.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, dup := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.NewRTPLeg("same", media.LegHandler{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errorsIs(err, media.ErrDuplicateLeg):
				dup++
			default:
				t.Errorf("NewRTPLeg: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || dup != 7 {
		t.Errorf("%d won, %d duplicates", won, dup)
	}
	// A closed leg refuses what would need it and ignores the rest.
	c, err := e.NewRTPLeg("closed", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if _, err := c.HandleRTPOffer("v=0"); !errorsIs(err, media.ErrClosed) {
		t.Errorf("offer to a closed leg: %v", err)
	}
	if _, err := c.RTPOffer(); !errorsIs(err, media.ErrClosed) {
		t.Errorf("RTPOffer on a closed leg: %v", err)
	}
	if err := c.SendDTMF("1"); !errorsIs(err, media.ErrClosed) {
		t.Errorf("DTMF on a closed leg: %v", err)
	}
	c.PlayClip(e.NewClip(make([]int16, 160)), media.SoundMusic)
	media.Bridge(c, c)
	var rec syncBuffer
	c.Record(&rec)() // returns at once
	if s := c.Stats(); !s.Closed || s.Sound != media.SoundSilence || s.BridgedTo != "" {
		t.Errorf("closed leg stats %+v", s)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewRTPLeg("late", media.LegHandler{}); !errorsIs(err, media.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	l, _ := e.NewRTPLeg("late", media.LegHandler{})
	if l != nil {
		t.Error("a leg after Close")
	}
}

func TestRingbackBridgeAndHoldMusicPlayToAPhoneAsToABrowser(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	a := newPhone(t, e, "caller")
	b := newPhone(t, e, "agent")
	a.callIn()
	b.callOut()
	b.peer.StartSending(tagged(2))
	a.capture()
	a.leg.Play(media.SoundRingback)
	ps := a.waitPackets(40, notTagged)
	for i, p := range ps[:40] {
		if r := rms("PCMU", p.Payload); r < 2000 || r > 6000 {
			t.Fatalf("ringback packet %d has RMS %.0f, want about 3300", i, r)
		}
	}
	media.Bridge(a.leg, b.leg)
	n := len(a.waitPackets(20, from(2)))
	a.leg.Play(media.SoundMusic) // hold
	a.waitPackets(n+20, nil)
	// One stream across ringback, the agent and the music: sequence
	// numbers step by one, and each change of source is a talkspurt.
	checkContinuous(t, a.packets())
	if s := b.leg.Stats(); s.BridgedTo != "" {
		t.Errorf("the agent is still bridged: %+v", s)
	}
}
