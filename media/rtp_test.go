package media_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// allTagged fails the test if a payload the peer kept is not
// byte-identical to one a peer sent.
func allTagged(t *testing.T, who string, ps []mediatest.Packet) {
	t.Helper()
	for _, p := range ps {
		if _, ok := tagOf(p.Payload); !ok {
			t.Fatalf("%s received a payload that is not byte-identical to one sent: % x", who, p.Payload[:min(8, len(p.Payload))])
		}
	}
}

func TestRTPLegsBridgeBothWaysUnchanged(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			noLeaks(t)
			e := newRTPEngine(t, func(c *media.Config) { c.Codec = codec })
			a := newPhone(t, e, "a")
			b := newPhone(t, e, "b")
			a.callIn()
			b.callOut()
			a.capture()
			b.capture()
			media.Bridge(a.leg, b.leg)
			a.peer.StartSending(tagged(1))
			b.peer.StartSending(tagged(2))
			a.waitConnected()
			b.waitConnected()
			allTagged(t, "a", a.waitPackets(30, from(2)))
			allTagged(t, "b", b.waitPackets(30, from(1)))
			checkContinuousSource(t, a.packets())
			for _, p := range a.packets() {
				if want := map[string]uint8{"PCMU": 0, "PCMA": 8}[codec]; p.PayloadType != want {
					t.Fatalf("payload type %d, want %d", p.PayloadType, want)
				}
			}
			sa := a.leg.Stats()
			if sa.Kind != media.KindRTP || sa.BridgedTo != "b" || sa.PacketsIn == 0 || sa.PacketsOut == 0 || !sa.Connected {
				t.Errorf("stats of a: %+v", sa)
			}
			if sa.RemoteAddr != a.peer.Addr().String() {
				t.Errorf("a sends to %q, want %s", sa.RemoteAddr, a.peer.Addr())
			}
			// SetOutputGain works on RTP legs as on WebRTC legs.
			a.leg.SetOutputGain(0)
			silence := map[string]byte{"PCMU": media.LinearToULaw(0), "PCMA": media.LinearToALaw(0)}[codec]
			a.capture()
			a.waitPackets(5, func(p mediatest.Packet) bool {
				return len(p.Payload) == mediatest.FrameSize && bytes.Count(p.Payload, []byte{silence}) == mediatest.FrameSize
			})
		})
	}
}

func TestRTPLegBridgesToWebRTCLegUnchanged(t *testing.T) {
	noLeaks(t)
	e := newRTPEngine(t, nil)
	pacer := newPacer(t)
	browser := dial(t, e, "browser", 1, pacer)
	ph := newPhone(t, e, "phone")
	ph.callIn()
	ph.peer.StartSending(tagged(2))
	ph.waitConnected()
	browser.capture()
	ph.capture()
	media.Bridge(browser.leg, ph.leg)
	allTagged(t, "the browser", browser.waitPackets(30, from(2)))
	allTagged(t, "the phone", ph.waitPackets(30, from(1)))
	checkContinuousSource(t, ph.packets())
	// And the WebRTC leg's receive stats are filled too.
	if s := browser.leg.Stats(); s.Kind != media.KindWebRTC || s.PacketsLost < 0 {
		t.Errorf("browser stats %+v", s)
	}
}

func TestRTPOfferAndAnswer(t *testing.T) {
	e := newRTPEngine(t, func(c *media.Config) { c.RTPPublicIP = "203.0.113.7" })
	ph := newPhone(t, e, "p")
	offer, err := ph.leg.RTPOffer()
	if err != nil {
		t.Fatal(err)
	}
	port := ph.leg.RTPPort()
	if port%2 != 0 || port < media.DefaultRTPPortMin || port > media.DefaultRTPPortMax {
		t.Errorf("RTP port %d", port)
	}
	for _, want := range []string{
		"c=IN IP4 203.0.113.7\r\n",
		"m=audio " + itoa(port) + " RTP/AVP 0 101\r\n",
		"a=rtpmap:0 PCMU/8000\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=fmtp:101 0-16\r\n",
		"a=ptime:20\r\n",
		"a=rtcp:" + itoa(port+1) + "\r\n",
		"a=sendrecv\r\n",
	} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	// An answer without an offer waiting is refused; after the offer the
	// peer's answer is taken.
	if err := ph.leg.HandleRTPAnswer(ph.peer.SDP("sendrecv")); err != nil {
		t.Fatal(err)
	}
	if err := ph.leg.HandleRTPAnswer(ph.peer.SDP("sendrecv")); !errorsIs(err, media.ErrBadSDP) {
		t.Errorf("second answer: %v, want ErrBadSDP", err)
	}

	// A peer that offers PCMU on a dynamic number, telephone-event on 96
	// and video: the answer keeps its numbers and rejects the video.
	in := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 18 97 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:97 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n" +
		"m=video 4002 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\n"
	answer, err := ph.leg.HandleRTPOffer(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"m=audio " + itoa(port) + " RTP/AVP 97 96\r\n",
		"a=rtpmap:97 PCMU/8000\r\n",
		"a=rtpmap:96 telephone-event/8000\r\n",
		"m=video 0 RTP/AVP 99\r\n",
		"o=contactd ",
	} {
		if !strings.Contains(answer, want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
	if strings.Index(answer, "m=audio") > strings.Index(answer, "m=video") {
		t.Errorf("sections out of order:\n%s", answer)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestHoldReOfferIsAnsweredAndReported(t *testing.T) {
	e := newRTPEngine(t, nil)
	ph := newPhone(t, e, "p")
	ph.callIn()
	if d := ph.leg.RemoteDirection(); d != media.SendRecv {
		t.Fatalf("RemoteDirection %v", d)
	}
	cases := []struct {
		name   string
		offer  string
		answer string
		remote media.Direction
	}{
		{"sendonly is hold", ph.peer.SDP("sendonly"), "a=recvonly", media.SendOnly},
		{"inactive", ph.peer.SDP("inactive"), "a=inactive", media.Inactive},
		{"c=0.0.0.0 is hold (RFC 2543)", strings.Replace(ph.peer.SDP("sendrecv"), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1), "a=recvonly", media.SendOnly},
		{"recvonly", ph.peer.SDP("recvonly"), "a=sendonly", media.RecvOnly},
		{"resume", ph.peer.SDP("sendrecv"), "a=sendrecv", media.SendRecv},
	}
	for _, c := range cases {
		answer, err := ph.leg.HandleRTPOffer(c.offer)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !strings.Contains(answer, c.answer+"\r\n") {
			t.Errorf("%s: answer lacks %s:\n%s", c.name, c.answer, answer)
		}
		if d := ph.leg.RemoteDirection(); d != c.remote {
			t.Errorf("%s: RemoteDirection %v, want %v", c.name, d, c.remote)
		}
		if s := ph.leg.Stats(); s.RemoteDirection != c.remote {
			t.Errorf("%s: Stats.RemoteDirection %v", c.name, s.RemoteDirection)
		}
	}
}

func TestBadRTPDescriptionsGetTypedErrors(t *testing.T) {
	e := newRTPEngine(t, nil)
	ph := newPhone(t, e, "p")
	good := ph.peer.SDP("sendrecv")
	cases := []struct {
		name string
		sdp  string
		want error
	}{
		{"empty", "", media.ErrBadSDP},
		{"garbage", "hello\r\nworld\r\n", media.ErrBadSDP},
		{"oversized", good + strings.Repeat("a=x:"+strings.Repeat("y", 1000)+"\r\n", 80), media.ErrBadSDP},
		{"no connection address", strings.Replace(good, "c=IN IP4 127.0.0.1\r\n", "", 1), media.ErrBadSDP},
		{"a host name for an address", strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP4 example.com", 1), media.ErrBadSDP},
		{"multicast", strings.Replace(good, "c=IN IP4 127.0.0.1", "c=IN IP4 224.2.1.1/127", 1), media.ErrBadSDP},
		{"no media", "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n", media.ErrNoCommonCodec},
		{"only G.729", strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 18 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000").Replace(good), media.ErrNoCommonCodec},
		{"the other law", strings.NewReplacer("RTP/AVP 0 101", "RTP/AVP 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000").Replace(good), media.ErrNoCommonCodec},
		{"SRTP only", strings.Replace(good, "RTP/AVP", "RTP/SAVP", 1), media.ErrNoCommonCodec},
		{"audio rejected", strings.Replace(good, "m=audio "+itoa(int(ph.peer.Addr().Port())), "m=audio 0", 1), media.ErrNoCommonCodec},
		{"a WebRTC offer", validOffer(t, "PCMU"), media.ErrNoCommonCodec},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ph.leg.HandleRTPOffer(c.sdp); !errorsIs(err, c.want) {
				t.Errorf("HandleRTPOffer: %v, want %v", err, c.want)
			}
		})
	}
	// A WebRTC method on an RTP leg, and the other way round.
	if _, err := ph.leg.HandleOffer(validOffer(t, "PCMU")); !errorsIs(err, media.ErrLegKind) {
		t.Errorf("HandleOffer on an RTP leg: %v", err)
	}
	w, err := e.NewLeg("w", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.HandleRTPOffer(good); !errorsIs(err, media.ErrLegKind) {
		t.Errorf("HandleRTPOffer on a WebRTC leg: %v", err)
	}
	if err := w.SendDTMF("1"); !errorsIs(err, media.ErrNoDTMF) {
		t.Errorf("SendDTMF on a WebRTC leg: %v", err)
	}
	// The leg still works after all that.
	ph.callIn()
	ph.peer.StartSending(tagged(1))
	ph.waitConnected()
}

func TestAnOfferNeverNamesTheUnspecifiedAddress(t *testing.T) {
	// No RTPAddr, no RTPPublicIP: the sockets bind every address and the
	// SDP names the address the host sends from.
	e := newEngine(t, nil)
	l, err := e.NewRTPLeg("p", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	offer, err := l.RTPOffer()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(offer, "0.0.0.0") || !strings.Contains(offer, "c=IN IP4 ") {
		t.Errorf("offer:\n%s", offer)
	}
}
