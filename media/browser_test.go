package media_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media"
	"github.com/pion/webrtc/v4"
)

// The browser side: a peer connection with the fake microphone, an offer
// with every candidate in it, and the inbound audio statistics.
const browserJS = `
window.startCall = async () => {
  const pc = new RTCPeerConnection();
  window.pc = pc;
  const mic = await navigator.mediaDevices.getUserMedia({audio: true});
  mic.getTracks().forEach(t => pc.addTrack(t, mic));
  pc.ontrack = e => {
    const a = new Audio();
    a.srcObject = new MediaStream([e.track]);
    a.play().catch(() => {});
    window.player = a;
  };
  window.candidates = [];
  pc.onicecandidate = e => { if (e.candidate) window.candidates.push(e.candidate.toJSON()); };
  await pc.setLocalDescription(await pc.createOffer());
  return pc.localDescription.sdp;
};
window.restartIce = async () => {
  window.candidates = [];
  await window.pc.setLocalDescription(await window.pc.createOffer({iceRestart: true}));
  return window.pc.localDescription.sdp;
};
window.inbound = async () => {
  const out = {};
  (await window.pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') Object.assign(out, s);
    if (s.type === 'codec' && s.mimeType) out.codecs = (out.codecs || []).concat([s.mimeType]);
  });
  out.connectionState = window.pc.connectionState;
  return out;
};
`

type inboundStats struct {
	PacketsReceived  int     `json:"packetsReceived"`
	PacketsLost      int     `json:"packetsLost"`
	PacketsDiscarded int     `json:"packetsDiscarded"`
	AudioLevel       float64 `json:"audioLevel"`
	TotalAudioEnergy float64 `json:"totalAudioEnergy"`
	ConnectionState  string  `json:"connectionState"`
	Codecs           []string
}

// TestChromiumTalksToTheEngine runs a real browser (headless Chromium with
// its fake microphone) against the engine: PCMU is negotiated, ICE and
// DTLS connect over loopback, the browser's audio arrives and is echoed
// back, hold music plays, and the browser sees no loss across the changes
// of source. Skipped without Chromium unless REQUIRE_BROWSER=1.
func TestChromiumTalksToTheEngine(t *testing.T) {
	ctx := testutil.Browser(t)
	e := newEngine(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<!doctype html><title>media</title><script>%s</script>", browserJS)
	}))
	t.Cleanup(srv.Close)
	run := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(c, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) json.RawMessage {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	run("open the page", chromedp.Navigate(srv.URL))

	connected := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var trickled []webrtc.ICECandidateInit
	leg, err := e.NewLeg("chromium", media.LegHandler{
		OnCandidate: func(c webrtc.ICECandidateInit) { mu.Lock(); trickled = append(trickled, c); mu.Unlock() },
		OnConnected: func() { once.Do(func() { close(connected) }) },
		OnEnded:     func(cause string) { t.Errorf("the leg ended: %s", cause) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leg.Close)

	var offer string
	if err := json.Unmarshal(eval(`window.startCall()`), &offer); err != nil {
		t.Fatal(err)
	}
	answer, err := leg.HandleOffer(offer)
	if err != nil {
		t.Fatalf("HandleOffer(Chromium's offer): %v\n%s", err, offer)
	}
	js, _ := json.Marshal(answer)
	eval(fmt.Sprintf(`window.pc.setRemoteDescription({type: 'answer', sdp: %s}).then(() => true)`, js))
	// Chromium trickles its candidates (the engine also learns its address
	// from its connectivity checks).
	var cands []webrtc.ICECandidateInit
	if err := json.Unmarshal(eval(`Promise.resolve(window.candidates)`), &cands); err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if err := leg.AddCandidate(c); err != nil {
			t.Errorf("AddCandidate(%s): %v", c.Candidate, err)
		}
	}
	select {
	case <-connected:
	case <-time.After(settle):
		t.Fatalf("Chromium did not connect; leg %+v; browser %s", leg.Stats(), eval(`window.inbound()`))
	}

	stats := func() inboundStats {
		var s inboundStats
		if err := json.Unmarshal(eval(`window.inbound()`), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// waitAudio waits for 50 more packets and some sound at the browser.
	waitAudio := func(what string) inboundStats {
		t.Helper()
		start := stats()
		deadline := time.Now().Add(settle)
		for {
			s := stats()
			if s.PacketsReceived >= start.PacketsReceived+50 && s.TotalAudioEnergy > start.TotalAudioEnergy {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the browser did not hear it: %+v (leg %+v)", what, s, leg.Stats())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	media.Bridge(leg, leg) // echo: the browser hears its fake microphone
	waitAudio("echo")
	leg.Play(media.SoundMusic)
	waitAudio("hold music")
	leg.Play(media.SoundRingback)
	waitAudio("ringback")
	media.Bridge(leg, leg)
	if s := waitAudio("echo again"); s.PacketsLost != 0 {
		t.Errorf("the browser counted %d packets lost across the changes of source", s.PacketsLost)
	}

	// An ICE restart from the browser: new credentials, the same call.
	if err := json.Unmarshal(eval(`window.restartIce()`), &offer); err != nil {
		t.Fatal(err)
	}
	if answer, err = leg.HandleOffer(offer); err != nil {
		t.Fatalf("HandleOffer(ICE restart): %v", err)
	}
	js, _ = json.Marshal(answer)
	eval(fmt.Sprintf(`window.pc.setRemoteDescription({type: 'answer', sdp: %s}).then(() => true)`, js))
	if err := json.Unmarshal(eval(`new Promise(r => setTimeout(() => r(window.candidates), 200))`), &cands); err != nil {
		t.Fatal(err)
	}
	for _, c := range cands {
		if err := leg.AddCandidate(c); err != nil {
			t.Errorf("AddCandidate(%s) after the restart: %v", c.Candidate, err)
		}
	}
	s := waitAudio("echo after an ICE restart")
	if s.PacketsLost > 25 { // what was in flight while the path changed
		t.Errorf("the browser counted %d packets lost over an ICE restart", s.PacketsLost)
	}
	if len(s.Codecs) == 0 || s.Codecs[0] != "audio/PCMU" {
		t.Errorf("codecs in use: %v, want audio/PCMU", s.Codecs)
	}
	if ls := leg.Stats(); ls.PacketsIn < 100 || ls.PacketsDropped != 0 {
		t.Errorf("leg stats: %+v", ls)
	}
	t.Logf("browser: %+v; trickled by the engine: %d", s, len(trickled))
}
