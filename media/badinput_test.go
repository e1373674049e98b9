package media_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
	"github.com/pion/webrtc/v4"
)

// validOffer is a real offer from a test peer, candidates included.
func validOffer(t *testing.T, codec string) string {
	t.Helper()
	p, err := mediatest.New(mediatest.Config{Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), settle)
	defer cancel()
	offer, err := p.Offer(ctx, mediatest.OfferOptions{Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	return offer
}

func removeLines(sdp, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(sdp) {
		if !strings.HasPrefix(line, prefix) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestBadOffersGetTypedErrors(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	good := validOffer(t, "PCMU")
	for _, tc := range []struct {
		name  string
		offer string
		want  error
	}{
		{"an empty offer is malformed", "", media.ErrBadSDP},
		{"text that is not SDP is malformed", "hello, I would like to talk", media.ErrBadSDP},
		{"a truncated offer is malformed", good[:len(good)/3] + "\r\nm=audio x", media.ErrBadSDP},
		{"an offer without a DTLS fingerprint is malformed", removeLines(good, "a=fingerprint"), media.ErrBadSDP},
		{"an offer without ICE credentials is malformed", removeLines(good, "a=ice-pwd"), media.ErrBadSDP},
		{"an offer without a mid is malformed", removeLines(good, "a=mid"), media.ErrBadSDP},
		{"an oversized offer is malformed", good + strings.Repeat("a=x-junk:0123456789\r\n", 5000), media.ErrBadSDP},
		{"an offer with only PCMA has no common codec", validOffer(t, "PCMA"), media.ErrNoCommonCodec},
		{"an offer with video only has no common codec", strings.Replace(good, "m=audio", "m=video", 1), media.ErrNoCommonCodec},
		{"an offer with a rejected audio section has no common codec", strings.Replace(good, "m=audio 9", "m=audio 0", 1), media.ErrNoCommonCodec},
		{"an offer with inactive audio is refused", strings.Replace(good, "a=sendrecv", "a=inactive", 1), media.ErrBadSDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leg, err := e.NewLeg("bad", media.LegHandler{})
			if err != nil {
				t.Fatal(err)
			}
			defer leg.Close()
			_, err = leg.HandleOffer(tc.offer)
			if !errors.Is(err, tc.want) {
				t.Fatalf("HandleOffer: %v, want %v", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "media: ") {
				t.Errorf("error without context: %v", err)
			}
			// The leg is still usable: a good offer works after a bad one.
			if _, err := leg.HandleOffer(good); err != nil {
				t.Errorf("a good offer after a bad one: %v", err)
			}
		})
	}
}

func TestBadCandidatesGetTypedErrors(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	leg, err := e.NewLeg("a", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cand string
		want error
	}{
		{"a word is not a candidate", "candidate:garbage", media.ErrBadCandidate},
		{"a port must be a number", "candidate:1 1 udp 2122260223 10.0.0.1 port typ host", media.ErrBadCandidate},
		{"a priority must be a number", "candidate:1 1 udp high 10.0.0.1 5000 typ host", media.ErrBadCandidate},
		{"an oversized candidate is refused", "candidate:" + strings.Repeat("1", 2000), media.ErrBadCandidate},
		{"end of candidates is fine", "", nil},
		{"a good candidate before the offer is kept", "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", nil},
		{"an mDNS candidate is accepted (and ignored)", "candidate:2 1 udp 2122260223 0b2a1f43-2d17-4d6b-9d26-77d8b3b5e0cf.local 5000 typ host", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := leg.AddCandidate(webrtc.ICECandidateInit{Candidate: tc.cand})
			if !errors.Is(err, tc.want) {
				t.Fatalf("AddCandidate: %v, want %v", err, tc.want)
			}
		})
	}
	// The kept candidates are applied with the offer.
	if _, err := leg.HandleOffer(validOffer(t, "PCMU")); err != nil {
		t.Fatalf("offer after candidates: %v", err)
	}
	t.Run("a flood of candidates is cut off", func(t *testing.T) {
		var err error
		for i := range 200 {
			err = leg.AddCandidate(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 " +
				strconv.Itoa(6000+i) + " typ host"})
			if err != nil {
				break
			}
		}
		if !errors.Is(err, media.ErrTooManyCandidates) {
			t.Fatalf("after 200 candidates: %v, want ErrTooManyCandidates", err)
		}
	})
	leg.Close()
	t.Run("a candidate for a closed leg is refused", func(t *testing.T) {
		err := leg.AddCandidate(webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host"})
		if !errors.Is(err, media.ErrClosed) {
			t.Fatalf("AddCandidate after Close: %v, want ErrClosed", err)
		}
	})
	t.Run("an offer for a closed leg is refused", func(t *testing.T) {
		if _, err := leg.HandleOffer(validOffer(t, "PCMU")); !errors.Is(err, media.ErrClosed) {
			t.Fatalf("HandleOffer after Close: %v, want ErrClosed", err)
		}
	})
}

func TestConcurrentOffersAreRefusedNotRaced(t *testing.T) {
	noLeaks(t)
	e := newEngine(t, nil)
	offer := validOffer(t, "PCMU")
	for round := range 5 {
		leg, err := e.NewLeg("glare", media.LegHandler{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = leg.HandleOffer(offer)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, media.ErrOfferPending):
				t.Errorf("round %d: concurrent offer: %v, want nil or ErrOfferPending", round, err)
			}
		}
		if ok == 0 {
			t.Errorf("round %d: no offer was answered", round)
		}
		leg.Close()
	}
}

func TestEngineAndLegMisuse(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name string
		cfg  media.Config
	}{
		{"an unknown codec", media.Config{ListenAddr: "127.0.0.1:0", Codec: "opus"}},
		{"a public IP that is not an IP", media.Config{ListenAddr: "127.0.0.1:0", PublicIPs: []string{"example.com"}}},
		{"a listen address that is not one", media.Config{ListenAddr: "127.0.0.1:notaport"}},
		{"a negative media timeout", media.Config{ListenAddr: "127.0.0.1:0", MediaTimeout: -1}},
	} {
		t.Run(tc.name+" is a config error", func(t *testing.T) {
			if _, err := media.New(tc.cfg); !errors.Is(err, media.ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
	e := newEngine(t, nil)
	l, err := e.NewLeg("x", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewLeg("x", media.LegHandler{}); !errors.Is(err, media.ErrDuplicateLeg) {
		t.Errorf("second leg x: %v, want ErrDuplicateLeg", err)
	}
	// Routing calls on a closed leg do nothing, and never panic.
	l.Close()
	other, err := e.NewLeg("y", media.LegHandler{})
	if err != nil {
		t.Fatal(err)
	}
	media.Bridge(l, other)
	media.Bridge(nil, other)
	l.Play(media.SoundMusic)
	other.Play(media.Sound(42))
	l.SetOutputGain(2)
	if s := other.Stats(); s.BridgedTo != "" || s.Sound != media.SoundSilence {
		t.Errorf("y after bridging to a closed leg: %+v", s)
	}
	if l2, err := e.NewLeg("x", media.LegHandler{}); err != nil {
		t.Errorf("reusing the id of a closed leg: %v", err)
	} else {
		l2.Close()
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.NewLeg("z", media.LegHandler{}); !errors.Is(err, media.ErrClosed) {
		t.Errorf("NewLeg after Close: %v, want ErrClosed", err)
	}
	if s := other.Stats(); !s.Closed {
		t.Errorf("a leg of a closed engine is not closed: %+v", s)
	}
}
