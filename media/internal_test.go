package media

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v4/packetio"
)

func TestG711AgainstReferenceValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  int16
		want int16
	}{
		{"μ-law 0xFF is +0", ULawToLinear(0xFF), 0},
		{"μ-law 0x7F is -0", ULawToLinear(0x7F), 0},
		{"μ-law 0x80 is the positive peak", ULawToLinear(0x80), 32124},
		{"μ-law 0x00 is the negative peak", ULawToLinear(0x00), -32124},
		{"μ-law 0xFE is the smallest step", ULawToLinear(0xFE), 8},
		{"A-law 0xD5 is the smallest positive", ALawToLinear(0xD5), 8},
		{"A-law 0x55 is the smallest negative", ALawToLinear(0x55), -8},
		{"A-law 0xAA is the positive peak", ALawToLinear(0xAA), 32256},
		{"A-law 0x2A is the negative peak", ALawToLinear(0x2A), -32256},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if c := LinearToULaw(0); c != 0xFF {
		t.Errorf("LinearToULaw(0) = %#x, want 0xff", c)
	}
	if c := LinearToULaw(32767); c != 0x80 {
		t.Errorf("LinearToULaw(32767) = %#x, want 0x80", c)
	}
	if c := LinearToULaw(-32768); c != 0x00 {
		t.Errorf("LinearToULaw(-32768) = %#x, want 0x00", c)
	}
	if c := LinearToALaw(0); c != 0xD5 {
		t.Errorf("LinearToALaw(0) = %#x, want 0xd5", c)
	}
	// Every code decodes to a value that encodes to the same code (μ-law's
	// -0 comes back as +0).
	for c := range 256 {
		if c != 0x7F {
			if got := LinearToULaw(ULawToLinear(byte(c))); got != byte(c) {
				t.Errorf("μ-law %#x -> %d -> %#x", c, ULawToLinear(byte(c)), got)
			}
		}
		if got := LinearToALaw(ALawToLinear(byte(c))); got != byte(c) {
			t.Errorf("A-law %#x -> %d -> %#x", c, ALawToLinear(byte(c)), got)
		}
	}
	// Encoding is monotonic: louder samples never get smaller codes.
	prev := ULawToLinear(LinearToULaw(-32768))
	for v := -32768; v <= 32767; v += 7 {
		d := ULawToLinear(LinearToULaw(int16(v)))
		if d < prev {
			t.Fatalf("μ-law not monotonic at %d", v)
		}
		prev = d
	}
}

func TestGainTables(t *testing.T) {
	for _, name := range []string{"PCMU", "PCMA"} {
		law, err := lawFor(name)
		if err != nil {
			t.Fatal(err)
		}
		zero := law.gainTable(0)
		half := law.gainTable(0.5)
		quad := law.gainTable(4)
		for c := range 256 {
			v := float64(law.decode[c])
			if got := law.decode[zero[c]]; got < -8 || got > 8 { // A-law has no exact zero
				t.Errorf("%s: gain 0 maps %#x to %d", name, c, got)
			}
			// Half is within one quantization step of v/2.
			if got := float64(law.decode[half[c]]); got*v < 0 || abs(got-v/2) > abs(v)/16+16 {
				t.Errorf("%s: gain 0.5 maps %v to %v", name, v, got)
			}
			if got := float64(law.decode[quad[c]]); got*v < 0 {
				t.Errorf("%s: gain 4 flips the sign of %v to %v", name, v, got)
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func rtpBytes(t *testing.T, h rtp.Header, payload []byte, pad byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: h, Payload: payload}
	if pad > 0 {
		p.Padding = true
		p.PaddingSize = pad
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRTP(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5}
	base := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 7, Timestamp: 1600, SSRC: 42}
	withCSRC := base
	withCSRC.CSRC = []uint32{1, 2}
	withExt := base
	if err := withExt.SetExtension(1, []byte{9, 9}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"a plain header", rtpBytes(t, base, payload, 0), true},
		{"CSRCs are skipped", rtpBytes(t, withCSRC, payload, 0), true},
		{"an extension is skipped", rtpBytes(t, withExt, payload, 0), true},
		{"padding is stripped", rtpBytes(t, base, payload, 3), true},
		{"too short for a header", []byte{0x80, 0, 0}, false},
		{"version 1", append([]byte{0x40}, rtpBytes(t, base, payload, 0)[1:]...), false},
		{"CSRCs past the end", []byte{0x8F, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0}, false},
		{"an extension past the end", []byte{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 9}, false},
		{"padding longer than the packet", append(rtpBytes(t, base, payload, 0)[:12:12], 0xFF), false},
		{"padding of zero", func() []byte { b := rtpBytes(t, base, payload, 0); b[0] |= 0x20; b[len(b)-1] = 0; return b }(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "padding longer than the packet" {
				tc.b[0] |= 0x20
			}
			p, ok := parseRTP(tc.b)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (string(p.payload) != string(payload) || p.seq != 7 || p.ts != 1600 || p.ssrc != 42 || p.pt != 0) {
				t.Errorf("parsed %+v", p)
			}
		})
	}
}

func FuzzParseRTP(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xFF})
	f.Add([]byte{0xBF, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseRTP(b)
		if ok && len(p.payload) > len(b) {
			t.Fatalf("payload of %d bytes from a packet of %d", len(p.payload), len(b))
		}
	})
}

func FuzzCheckOffer(f *testing.F) {
	law, _ := lawFor("PCMU")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AA\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=ice-ufrag:u\r\na=ice-pwd:p\r\na=rtpmap:0 PCMU/8000\r\n")
	f.Add("v=0\r\nm=audio 0 RTP/AVP 8\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		err := checkOffer(offer, law)
		if err != nil && !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCommonCodec) {
			t.Fatalf("untyped error: %v", err)
		}
	})
}

// capture is a TrackLocalWriter that keeps what is written.
type capture struct {
	hdrs     []rtp.Header
	payloads [][]byte
}

func (c *capture) WriteRTP(h *rtp.Header, p []byte) (int, error) {
	c.hdrs = append(c.hdrs, *h)
	c.payloads = append(c.payloads, append([]byte(nil), p...))
	return len(p), nil
}

func (c *capture) Write(b []byte) (int, error) { return len(b), nil }

func TestOutStreamSegments(t *testing.T) {
	law, _ := lawFor("PCMU")
	l := &Leg{}
	o := &l.out
	o.init(l, law)
	w := &capture{}
	o.writer = w
	o.hdr.SSRC = 1234
	ms := int64(1e6)
	frame := make([]byte, 160)
	send := func(src uint64, ssrc uint32, seq uint16, ts uint32, at int64) {
		o.write(src, ssrc, seq, ts, frame, at*ms)
	}
	const a, b = 1, 2
	o.setSource(a)
	send(a, 10, 100, 16000, 0)
	send(a, 10, 101, 16160, 20)
	send(a, 10, 103, 16480, 60) // 102 lost: the gap is kept
	send(a, 10, 102, 16320, 61) // late: goes out with its own numbers
	send(b, 20, 7, 999, 62)     // not the source: dropped
	o.setSource(b)
	send(a, 10, 104, 16640, 80) // the old source: dropped
	send(b, 20, 7, 999, 300)    // new segment
	send(b, 20, 8, 1159, 320)
	o.setSource(a)
	send(a, 10, 500, 80000, 321) // back to a: new segment, 1 ms later
	if len(w.hdrs) != 7 {
		t.Fatalf("%d packets written, want 7", len(w.hdrs))
	}
	h := w.hdrs
	seq0, ts0 := h[0].SequenceNumber, h[0].Timestamp
	want := []struct {
		dseq   uint16
		dts    uint32
		marker bool
	}{
		{0, 0, true},
		{1, 160, false},
		{3, 480, false},
		{2, 320, false},
		{4, 480 + 240*8, true}, // next after the highest sent, 240 ms after it
		{5, 480 + 240*8 + 160, false},
		{6, 480 + 240*8 + 160 + 160, true}, // 1 ms later: at least one packet's worth
	}
	for i, w := range want {
		if d := h[i].SequenceNumber - seq0; d != w.dseq {
			t.Errorf("packet %d: sequence +%d, want +%d", i, d, w.dseq)
		}
		if d := h[i].Timestamp - ts0; d != w.dts {
			t.Errorf("packet %d: timestamp +%d, want +%d", i, d, w.dts)
		}
		if h[i].Marker != w.marker {
			t.Errorf("packet %d: marker %v", i, h[i].Marker)
		}
		if h[i].SSRC != 1234 || h[i].PayloadType != 0 {
			t.Errorf("packet %d: SSRC %d PT %d", i, h[i].SSRC, h[i].PayloadType)
		}
	}
}

func TestGuardThrottlesEachSource(t *testing.T) {
	g := &guardConn{epoch: time.Now(), sources: map[netip.AddrPort]*window{}}
	a := netip.MustParseAddrPort("10.0.0.1:5000")
	b := netip.MustParseAddrPort("10.0.0.2:5000")
	admitted := func(addr netip.AddrPort, n int) int {
		k := 0
		for range n {
			if g.admit(addr) {
				k++
			}
		}
		return k
	}
	// Each burst below takes far less than a window (250 ms).
	if k := admitted(a, 400); k != guardLimit {
		t.Errorf("a flood of 400 from one source: %d admitted, want %d", k, guardLimit)
	}
	if k := admitted(b, 10); k != 10 {
		t.Errorf("another source is not affected: %d of 10 admitted", k)
	}
	// The next window admits a's packets again.
	g.sources[a].start -= int64(guardWindow)
	if k := admitted(a, 5); k != 5 {
		t.Errorf("next window: %d of 5 admitted", k)
	}
	// Quiet sources are forgotten.
	g.sources[b].start -= int64(2 * guardIdle)
	g.lastSweep -= int64(2 * guardIdle)
	g.admit(a)
	if _, ok := g.sources[b]; ok {
		t.Error("an idle source was not swept")
	}
	// A full table sends new sources through the shared overflow window.
	for i := range guardSources {
		g.sources[netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 1)] = &window{start: g.lastSweep}
	}
	c := netip.MustParseAddrPort("10.9.9.9:1")
	if !g.admit(c) {
		t.Error("a new source with the table full was refused outright")
	}
	if _, ok := g.sources[c]; ok {
		t.Error("the table grew past its bound")
	}
}

func TestSoundsAreAudibleAndDoNotClip(t *testing.T) {
	for _, tc := range []struct {
		name         string
		pcm          []float64
		seconds      float64
		minDB, maxDB float64 // RMS of the whole clip, dBFS
	}{
		{"music", synthMusic(), 19.9, -30, -12},
		{"ringback", synthRingback(), 6, -25, -15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := float64(len(tc.pcm)) / sampleRate; got < tc.seconds || got > tc.seconds+0.2 {
				t.Errorf("%.2f s long, want %.1f s", got, tc.seconds)
			}
			if len(tc.pcm)%frameLen != 0 {
				t.Errorf("%d samples: not whole 20 ms frames", len(tc.pcm))
			}
			var sum, peak float64
			for _, v := range tc.pcm {
				sum += v * v
				peak = max(peak, abs(v))
			}
			if peak >= 1 {
				t.Errorf("peak %.2f clips", peak)
			}
			db := 10 * math.Log10(sum/float64(len(tc.pcm)))
			if db < tc.minDB || db > tc.maxDB {
				t.Errorf("RMS %.1f dBFS, want %.0f..%.0f", db, tc.minDB, tc.maxDB)
			}
			// The loop point: the last 10 ms are nearly silent, so the
			// restart does not click.
			for _, v := range tc.pcm[len(tc.pcm)-80:] {
				if abs(v) > 0.02 {
					t.Fatalf("the clip ends at %.3f: the loop clicks", v)
				}
			}
			t.Logf("%.1f s, RMS %.1f dBFS, peak %.2f", float64(len(tc.pcm))/sampleRate, db, peak)
		})
	}
}

// A leg's reader that falls behind loses packets past 300 ms of audio
// instead of delaying the call more and more; what it reads is the oldest
// queued, in order.
func TestAReaderThatFallsBehindLosesPacketsNotTime(t *testing.T) {
	e := &Engine{}
	b := e.newStreamBuffer(packetio.RTPBufferPacket, 1)
	defer b.Close()
	pkt := make([]byte, 12+160) // 20 ms of G.711
	for i := range 100 {
		pkt[0] = byte(i)
		_, _ = b.Write(pkt)
	}
	if got, want := e.bufferDrops.Load(), uint64(100-rtpQueuePackets); got != want {
		t.Fatalf("%d packets dropped, want %d", got, want)
	}
	buf := make([]byte, 1500)
	for i := range rtpQueuePackets {
		n, err := b.Read(buf)
		if err != nil || n != len(pkt) || buf[0] != byte(i) {
			t.Fatalf("read %d: %d bytes, first %d, %v", i, n, buf[0], err)
		}
	}
	if rtpQueuePackets*20*time.Millisecond > 300*time.Millisecond {
		t.Fatalf("the queue holds %d packets: more than 300 ms", rtpQueuePackets)
	}
	// Room again once read.
	if _, err := b.Write(pkt); err != nil {
		t.Fatalf("write after reading: %v", err)
	}
}

func FuzzParseRTPSDP(f *testing.F) {
	law, _ := lawFor("PCMU")
	good := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp:4001 IN IP4 127.0.0.1\r\na=sendonly\r\n"
	f.Add(good)
	f.Add(strings.Replace(good, "a=rtcp:4001 IN IP4 127.0.0.1", "a=rtcp:", 1))
	f.Add(strings.Replace(good, "a=rtcp:4001 IN IP4 127.0.0.1", "a=rtcp:99999 IN IP4 x", 1))
	f.Add(strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP6 ::", 1))
	f.Add(strings.Replace(good, "m=audio 4000", "m=audio 70000", 1))
	f.Add(strings.Replace(good, "m=audio 4000 RTP/AVP 0 101", "m=audio 4000/2 RTP/AVP 300 0", 1))
	f.Fuzz(func(t *testing.T, text string) {
		r, err := parseRTPSDP(text, law)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if r.index < 0 || r.index >= len(r.mlines) {
			t.Fatalf("section %d of %d", r.index, len(r.mlines))
		}
		_ = localSDP{ip: netip.MustParseAddr("127.0.0.1"), port: 10000, law: law, tePT: r.tePT}.String(r)
	})
}

func FuzzParseRTCP(f *testing.F) {
	f.Add([]byte{0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 64, 0, 0, 12, 0, 0, 0, 100, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x80, 200, 0, 6, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x9F, 201, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0x80, 202, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := &Engine{epoch: time.Now()}
		l := &Leg{e: e}
		l.out.init(l, &codecLaw{payloadType: 0})
		l.out.hdr.SSRC = 2
		l.parseRTCP(b)
		var s LegStats
		l.rx.fill(&s)
		if s.RemoteFractionLost < 0 || s.RemoteFractionLost >= 1 {
			t.Fatalf("fraction %v", s.RemoteFractionLost)
		}
	})
}

func TestReceiveStatsFollowRFC3550(t *testing.T) {
	var s rxStats
	ms := int64(time.Millisecond)
	// 65534, 65535, then across the wrap 0, 1, 3 (2 lost), a duplicate
	// of 1, and a late one from before the start (ignored for the max).
	arrivals := []struct {
		seq uint16
		ts  uint32
		at  int64
	}{
		{65534, 1000, 0},
		{65535, 1160, 20 * ms},
		{0, 1320, 45 * ms}, // 5 ms late: transit +40 units
		{1, 1480, 60 * ms},
		{3, 1800, 100 * ms},
		{1, 1480, 101 * ms},
	}
	want := 0.0
	prevTransit := int64(0)
	for i, a := range arrivals {
		s.update(7, a.seq, a.ts, a.at, true)
		transit := a.at/(int64(time.Second)/8000) - int64(a.ts)
		if i > 0 {
			d := float64(transit - prevTransit)
			if d < 0 {
				d = -d
			}
			want += (d - want) / 16
		}
		prevTransit = transit
	}
	var st LegStats
	s.fill(&st)
	// Expected 65534..3 across the wrap: 6; received 6 (the duplicate
	// counts, as in RFC 3550): 0 lost by the RFC's arithmetic.
	if st.PacketsLost != 0 {
		t.Errorf("lost %d, want 0", st.PacketsLost)
	}
	if math.Abs(s.jitter-want) > 1e-9 || st.Jitter != time.Duration(want*float64(time.Second)/8000) {
		t.Errorf("jitter %v (%v units), want %v units", st.Jitter, s.jitter, want)
	}
	if s.cycles != 1<<16 || s.maxSeq != 3 {
		t.Errorf("cycles %d max %d", s.cycles, s.maxSeq)
	}
	b, ok := s.reportBlock(nil, 200*ms)
	if !ok || len(b) != 24 {
		t.Fatalf("report block %v %d", ok, len(b))
	}
	if got := binary.BigEndian.Uint32(b[8:]); got != 1<<16|3 {
		t.Errorf("extended highest sequence %#x", got)
	}
	// A new SSRC starts over; telephone-events do not move the jitter.
	s.update(8, 500, 0, 300*ms, true)
	s.update(8, 502, 0, 900*ms, false)
	s.fill(&st)
	if st.PacketsLost != 1 || st.Jitter != 0 {
		t.Errorf("after a new SSRC: lost %d jitter %v", st.PacketsLost, st.Jitter)
	}
}

func TestAnRTPSocketsGuardTracksFewSources(t *testing.T) {
	g := &guardConn{epoch: time.Now(), sources: map[netip.AddrPort]*window{}, tableSize: rtpGuardSources}
	for i := range 1000 {
		g.admit(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(1000+i)))
	}
	if n := len(g.sources); n != rtpGuardSources {
		t.Errorf("%d sources tracked, want %d", n, rtpGuardSources)
	}
}
