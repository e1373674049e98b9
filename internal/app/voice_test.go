package app

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
)

// ear is a pion peer playing a browser on a call: it sends packets whose
// payload is its tag (and the sequence), and sorts what it hears by the
// tag of the sender.
type ear struct {
	t    *testing.T
	p    *mediatest.Peer
	mu   sync.Mutex
	from map[byte]int // packets heard by the tag of who sent them; 0: anything else (music, tones)
	bad  []string
	more chan struct{}
}

// tagged fills a payload with the tag, except bytes 1-2: the sequence.
func tagged(tag byte) mediatest.PayloadFunc {
	return func(seq uint16, b []byte) {
		for i := range b {
			b[i] = tag
		}
		b[1], b[2] = byte(seq>>8), byte(seq)
	}
}

var tags = map[byte]bool{0xA1: true, 0xB2: true, 0xC3: true, 0xD4: true}

// joinCall opens a leg for ws's participant of conv and sends tagged audio.
func joinCall(t *testing.T, ws *wsClient, conv string, tag byte) *ear {
	t.Helper()
	e, offer := openLeg(t, ws, conv)
	res := ws.must("call_offer", map[string]any{"conversation": conv, "sdp": offer})
	e.answered(res["sdp"].(string), tag)
	return e
}

// openLeg makes the peer of a leg for ws's participant of conv and returns
// it with its offer; answered completes it.
func openLeg(t *testing.T, ws *wsClient, conv string) (*ear, string) {
	t.Helper()
	e := &ear{t: t, from: map[byte]int{}, more: make(chan struct{}, 1)}
	p, err := mediatest.New(mediatest.Config{OnCandidate: func(c webrtc.ICECandidateInit) {
		b, _ := json.Marshal(map[string]any{"type": "ice", "conversation": conv, "candidate": c})
		ws.ws.Write(context.Background(), 1, b)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	e.p = p
	p.OnPacket(func(pk mediatest.Packet) {
		e.mu.Lock()
		k := byte(0)
		if p := pk.Payload; len(p) == mediatest.FrameSize && tags[p[0]] && p[3] == p[0] && p[4] == p[0] && p[5] == p[0] && p[6] == p[0] {
			k = p[0]
			for _, b := range pk.Payload[3:] {
				if b != k {
					e.bad = append(e.bad, fmt.Sprintf("payload from %x changed on the way: % x", k, pk.Payload[:8]))
					break
				}
			}
		}
		e.from[k]++
		e.mu.Unlock()
		select {
		case e.more <- struct{}{}:
		default:
		}
	})
	offer, err := p.Offer(t.Context(), mediatest.OfferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e, offer
}

// answered takes the server's answer, waits for the leg to connect and
// starts sending audio tagged with tag.
func (e *ear) answered(sdp string, tag byte) {
	e.t.Helper()
	if err := e.p.Accept(sdp); err != nil {
		e.t.Fatal(err)
	}
	select {
	case <-e.p.Connected():
	case <-time.After(10 * time.Second):
		e.t.Fatal("the leg did not connect")
	}
	e.p.StartSending(tagged(tag))
}

func (e *ear) count(tag byte) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.bad) > 0 {
		e.t.Fatal(e.bad[0])
	}
	return e.from[tag]
}

// hears waits until n more packets from tag arrived.
func (e *ear) hears(what string, tag byte, n int) {
	e.t.Helper()
	want := e.count(tag) + n
	deadline := time.After(10 * time.Second)
	for e.count(tag) < want {
		select {
		case <-e.more:
		case <-deadline:
			e.mu.Lock()
			defer e.mu.Unlock()
			e.t.Fatalf("%s: heard %v, want %d packets from %x", what, e.from, want, tag)
		}
	}
}

// hearsOnly waits for n packets of tag and checks that, meanwhile, at most
// a few in-flight packets came from any of the others.
func (e *ear) hearsOnly(what string, tag byte, n int, others ...byte) {
	e.t.Helper()
	e.hears(what+" (settling)", tag, 5)
	before := map[byte]int{}
	for _, o := range others {
		before[o] = e.count(o)
	}
	e.hears(what, tag, n)
	for _, o := range others {
		if got := e.count(o) - before[o]; got > 2 {
			e.t.Fatalf("%s: also heard %d packets from %x", what, got, o)
		}
	}
}

func TestVoiceCallsAreBridgedHeldAndTransferred(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, bob := chatWorld(t, cfg)
		bob.must("presence", map[string]any{"presence": "available"})
		conv, token := visitorSessionOn(t, base, "sales", "Vic", "voice")
		vis := visitor(t, base, token)
		baseline := runtime.NumGoroutine()
		v := joinCall(t, vis, conv, 0xA1)
		vis.waitFor("call", map[string]any{"state": "waiting"})
		v.hears("ringback while waiting", 0, 20)

		offer := alice.waitFor("offer", map[string]any{"conversation": conv})
		if offer["channel"] != "voice" {
			t.Fatalf("offer of a call: %v", offer)
		}
		alice.must("accept", map[string]any{"interaction": conv})
		alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
		al := joinCall(t, alice, conv, 0xB2)
		vis.waitFor("call", map[string]any{"state": "connected"})

		// Audio both ways, payloads unchanged (ear checks every packet).
		al.hears("the agent hears the visitor", 0xA1, 50)
		v.hears("the visitor hears the agent", 0xB2, 50)

		// A call takes the agent's voice slot.
		var info routing.AgentInfo
		a.Router().Query(t.Context(), func(e *routing.Engine) {
			for _, x := range e.AgentViews() {
				if x.ID == "alice" {
					info = x
				}
			}
		})
		if info.Active[routing.ChannelVoice] != 1 {
			t.Fatalf("alice during a call: %+v", info)
		}

		// Hold: the visitor hears music, not the agent; the agent does not hear the visitor.
		alice.must("hold", map[string]any{"conversation": conv})
		vis.waitFor("call", map[string]any{"state": "held"})
		v.hearsOnly("music on hold", 0, 40, 0xB2)
		if n := al.count(0xA1); n > 0 {
			heldAt := n
			v.hears("more music", 0, 20)
			if got := al.count(0xA1) - heldAt; got > 2 {
				t.Fatalf("the agent heard %d packets of the held visitor", got)
			}
		}
		alice.must("unhold", map[string]any{"conversation": conv})
		vis.waitFor("call", map[string]any{"state": "connected"})
		v.hearsOnly("the agent again", 0xB2, 30)
		al.hears("the visitor again", 0xA1, 30)

		// Warm transfer: the visitor hears music while alice and bob talk.
		alice.must("transfer", map[string]any{"conversation": conv, "toAgent": "bob", "mode": "warm"})
		bob.waitFor("offer", map[string]any{"conversation": conv})
		bob.must("accept", map[string]any{"interaction": conv})
		bob.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
		bo := joinCall(t, bob, conv, 0xC3)
		vis.waitFor("call", map[string]any{"state": "consult"})
		v.hearsOnly("music during the consultation", 0, 40, 0xB2, 0xC3)
		al.hearsOnly("alice hears bob", 0xC3, 30, 0xA1)
		bo.hearsOnly("bob hears alice", 0xB2, 30, 0xA1)

		// Complete: the visitor is bridged to bob without a new offer.
		alice.must("transfer_complete", map[string]any{"conversation": conv})
		alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended"})
		vis.waitFor("call", map[string]any{"state": "connected"})
		v.hearsOnly("the visitor hears bob", 0xC3, 40, 0xB2)
		bo.hearsOnly("bob hears the visitor", 0xA1, 40)

		// Blind transfer back to alice: music until her desk joins.
		bob.must("transfer", map[string]any{"conversation": conv, "toAgent": "alice", "mode": "blind"})
		alice.waitFor("offer", map[string]any{"conversation": conv})
		alice.must("accept", map[string]any{"interaction": conv})
		alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
		al2 := joinCall(t, alice, conv, 0xD4)
		v.hearsOnly("the visitor hears alice again", 0xD4, 40, 0xC3)
		al2.hears("alice hears the visitor", 0xA1, 40)

		// Text beside the call.
		vis.must("send", map[string]any{"text": "still there?"})
		alice.waitFor("message", map[string]any{"conversation": conv, "text": "still there?"})

		// End: everything closes, the agent is free, nothing is left running.
		alice.must("end", map[string]any{"conversation": conv})
		vis.waitFor("call", map[string]any{"state": "ended", "cause": "agent_ended"})
		vis.waitFor("message", map[string]any{"event": "ended"})
		for _, e := range []*ear{v, al, bo, al2} {
			e.p.Close()
		}
		waitUntil(t, "every leg closed", func() bool { return a.media.Legs() == 0 && a.edges.ActiveCalls() == 0 })
		waitUntilOr(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline }, func() string {
			buf := make([]byte, 1<<20)
			return fmt.Sprintf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		})

		msgs, err := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 200)
		if err != nil {
			t.Fatal(err)
		}
		var evs []string
		var ended store.Message
		for _, m := range msgs {
			if m.Kind == store.MsgEvent {
				evs = append(evs, m.Event)
				if m.Event == chat.EvCallEnded {
					ended = m
				}
			}
		}
		want := []string{chat.EvCallStarted, chat.EvJoined, chat.EvCallConnected, chat.EvHold, chat.EvResume, chat.EvHandedOver, chat.EvCallEnded, chat.EvEnded}
		if !subsequence(evs, want) || ended.Data["cause"] != "agent_ended" || ended.Data["seconds"] == "" {
			t.Fatalf("stored events %v (call_ended %v); want %v in order", evs, ended.Data, want)
		}
	})
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	waitUntilOr(t, what, ok, func() string { return "" })
}

// waitUntilOr polls ok (a state with no event to wait on) and says what
// it saw when the time is up.
func waitUntilOr(t *testing.T, what string, ok func() bool, saw func() string) {
	t.Helper()
	held := false
	defer func() {
		if !held { // testutil.Eventually failed the test
			t.Logf("while waiting for %s:\n%s", what, saw())
		}
	}()
	testutil.Eventually(t, what, ok)
	held = true
}

func TestACallWhoseAudioStopsEndsAndFreesTheAgent(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.MediaTimeout = 2 * time.Second
	a, base, alice, _ := chatWorld(t, cfg, func(a *App) {
		a.voiceCfg = func(v *signaling.Voice) { v.ReloadGrace = time.Second } // ICE may notice before the media timeout
	})
	conv, token := visitorSessionOn(t, base, "sales", "Vic", "voice")
	vis := visitor(t, base, token)
	v := joinCall(t, vis, conv, 0xA1)
	alice.waitFor("offer", map[string]any{"conversation": conv})
	alice.must("accept", map[string]any{"interaction": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	al := joinCall(t, alice, conv, 0xB2)
	al.hears("the visitor", 0xA1, 10)

	v.p.Vanish() // the visitor's browser is gone without a word
	// Whichever notices first: no audio for media_timeout, or ICE losing the peer.
	if m := alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended"}); m["cause"] != "media_timeout" && m["cause"] != "ice_failed" {
		t.Fatalf("the call of a vanished visitor ended with %v", m)
	}
	alice.waitFor("message", map[string]any{"conversation": conv, "event": "ended"})
	waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
	// The interaction ended in routing: alice's slot goes into wrap-up.
	alice.waitFor("wrapup", map[string]any{"conversation": conv})
}

func TestVoiceAddedToAChatAndBadVoiceInput(t *testing.T) {
	a, base, alice, _ := chatWorld(t, testConfig(t, ""))
	conv, _, vis := connected(t, base, alice)

	// Bad input first: nothing changes.
	for _, tc := range []struct {
		who    *wsClient
		fields map[string]any
		code   string
	}{
		{vis, map[string]any{"sdp": "v=0 this is not SDP"}, "bad_request"},
		{vis, map[string]any{"sdp": ""}, "bad_request"},
		{vis, map[string]any{"sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=mid:0\r\na=sendrecv\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\n"}, "bad_request"},
		{alice, map[string]any{"conversation": conv, "sdp": "v=0"}, "not_found"}, // the agent cannot start a call's leg without one
		{alice, map[string]any{"conversation": "c_nope", "sdp": "v=0"}, "not_found"},
	} {
		if r := tc.who.do("call_offer", tc.fields); r["code"] != tc.code {
			t.Fatalf("call_offer %v: %v, want %s", tc.fields, r, tc.code)
		}
	}
	if r := vis.do("ice", map[string]any{"candidate": map[string]any{"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}); r["code"] != "not_found" {
		t.Fatalf("a candidate without a call: %v", r)
	}
	if r := alice.do("call_gain", map[string]any{"conversation": conv, "gain": 9}); r["code"] != "bad_request" {
		t.Fatalf("gain 9: %v", r)
	}
	if r := vis.do("call_decline", nil); r["code"] != "wrong_state" && r["code"] != "not_found" {
		t.Fatalf("decline without an invitation: %v", r)
	}
	if a.edges.ActiveCalls() != 0 || a.media.Legs() != 0 {
		t.Fatalf("bad input left %d calls, %d legs", a.edges.ActiveCalls(), a.media.Legs())
	}

	// The agent asks; the visitor declines; the chat goes on.
	alice.must("call_invite", map[string]any{"conversation": conv})
	vis.waitFor("call", map[string]any{"state": "invited"})
	vis.must("call_decline", nil)
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "declined"})
	vis.must("send", map[string]any{"text": "typing is fine"})

	// The agent asks again; this time the visitor talks.
	alice.must("call_invite", map[string]any{"conversation": conv})
	vis.waitFor("call", map[string]any{"state": "invited"})
	v := joinCall(t, vis, conv, 0xA1)
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	al := joinCall(t, alice, conv, 0xB2)
	al.hears("the visitor", 0xA1, 20)
	v.hears("the agent", 0xB2, 20)
	load := func() map[routing.Channel]int {
		var l map[routing.Channel]int
		a.Router().Query(t.Context(), func(e *routing.Engine) {
			for _, x := range e.AgentViews() {
				if x.ID == "alice" {
					l = x.Active
				}
			}
		})
		return l
	}
	if l := load(); l[routing.ChannelVoice] != 1 || l[routing.ChannelChat] != 0 {
		t.Fatalf("alice's load with voice added: %v", l)
	}
	if r := alice.do("call_gain", map[string]any{"conversation": conv, "gain": 2}); r["type"] != "ack" {
		t.Fatalf("gain 2: %v", r)
	}
	// A second leg offer for the same browser peer (ICE restart) keeps the call.
	offer, err := v.p.Offer(t.Context(), mediatest.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	res := vis.must("call_offer", map[string]any{"sdp": offer, "renew": true})
	if err := v.p.Accept(res["sdp"].(string)); err != nil {
		t.Fatal(err)
	}
	v.hears("the agent after an ICE restart", 0xB2, 30)

	// The visitor hangs up: the chat goes on, back on a chat slot.
	vis.must("call_hangup", nil)
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended", "cause": "hangup_visitor"})
	waitUntil(t, "alice back on a chat slot", func() bool {
		l := load()
		return l[routing.ChannelVoice] == 0 && l[routing.ChannelChat] == 1
	})
	vis.must("send", map[string]any{"text": "back to typing"})
	alice.waitFor("message", map[string]any{"conversation": conv, "text": "back to typing"})
}

func TestACallSurvivesAReloadOfEitherSide(t *testing.T) {
	a, base, alice, _ := chatWorld(t, testConfig(t, ""))
	conv, token := visitorSessionOn(t, base, "sales", "Vic", "voice")
	vis := visitor(t, base, token)
	v := joinCall(t, vis, conv, 0xA1)
	alice.waitFor("offer", map[string]any{"conversation": conv})
	alice.must("accept", map[string]any{"interaction": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	al := joinCall(t, alice, conv, 0xB2)
	al.hears("the visitor", 0xA1, 20)

	// The visitor reloads: the page's peer connection closes, a new page
	// connects, hears that there is a call, and opens a new leg.
	v.p.Close()
	vis.close()
	vis2 := visitor(t, base, token)
	vis2.waitFor("call", map[string]any{"conversation": conv})
	v2 := joinCall(t, vis2, conv, 0xC3)
	al.hearsOnly("the agent hears the reloaded visitor", 0xC3, 30, 0xA1)
	v2.hears("the reloaded visitor hears the agent", 0xB2, 30)

	// The desk reloads: the new desk is told to open a leg.
	al.p.Close()
	alice.close()
	alice2, _ := staff(t, base, "alice", "pw-alice")
	alice2.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	al2 := joinCall(t, alice2, conv, 0xD4)
	v2.hearsOnly("the visitor hears the reloaded desk", 0xD4, 30, 0xB2)
	al2.hears("the reloaded desk hears the visitor", 0xC3, 30)
	if n := a.edges.ActiveCalls(); n != 1 {
		t.Fatalf("%d calls after the reloads, want the one", n)
	}
	waitUntil(t, "the replaced legs closed", func() bool { return a.media.Legs() == 2 })
}

func TestVoiceIsAddedOnlyToAChatWithAnAgentAndTheChannelIsTheServers(t *testing.T) {
	a, base, alice, _ := chatWorld(t, testConfig(t, ""))
	alice.must("presence", map[string]any{"presence": "away", "reason": "lunch"})

	// A chat still in the queue: no voice yet.
	conv, token := visitorSessionOn(t, base, "sales", "Q", "chat")
	vis := visitor(t, base, token)
	p, err := mediatest.New(mediatest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	offer, err := p.Offer(t.Context(), mediatest.OfferOptions{Complete: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := vis.do("call_offer", map[string]any{"sdp": offer}); r["code"] != "wrong_state" {
		t.Fatalf("voice added to a queued chat: %v", r)
	}
	if a.edges.ActiveCalls() != 0 || a.media.Legs() != 0 {
		t.Fatalf("a refused offer left %d calls, %d legs", a.edges.ActiveCalls(), a.media.Legs())
	}

	// A chat session cannot claim to be a call.
	status, body := postJSON(t, base+"/api/widget/session", base, map[string]any{"queue": "sales", "channel": "chat", "attributes": map[string]string{"channel": "voice"}})
	if status != 201 {
		t.Fatalf("session: %d %s", status, body)
	}
	var out struct{ Conversation string }
	json.Unmarshal([]byte(body), &out)
	rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(out.Conversation))
	if err != nil || rec.Attributes["channel"] != "" {
		t.Fatalf("a chat session kept the attribute channel: %+v %v", rec.Attributes, err)
	}
	_ = conv
}

// The desk is told to open its leg as soon as its agent joins, which can
// be while the visitor's first offer is still being answered: the agent's
// offer then makes a leg, and the call goes on once the visitor's is up.
// (ccload found agents refused with not_found here under load.)
func TestAnAgentMayOfferWhileTheVisitorsFirstOfferIsAnswered(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce sync.Once
	_, base, alice, _ := chatWorld(t, testConfig(t, ""), func(a *App) {
		a.voiceCfg = func(v *signaling.Voice) {
			v.Legs = holdingLegs{v.Legs, func(id string) {
				if strings.Contains(id, "/visitor/") {
					holdOnce.Do(func() { close(held); <-release })
				}
			}}
		}
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	conv, token := visitorSessionOn(t, base, "sales", "Vic", "voice")
	vis := visitor(t, base, token)
	v, offer := openLeg(t, vis, conv)
	b, _ := json.Marshal(map[string]any{"type": "call_offer", "id": "visitor-offer", "conversation": conv, "sdp": offer})
	vis.sendRaw(b)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the visitor's offer did not reach the answer")
	}

	alice.waitFor("offer", map[string]any{"conversation": conv})
	alice.must("accept", map[string]any{"interaction": conv})
	alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
	al := joinCall(t, alice, conv, 0xB2) // the visitor's offer is still held

	close(release)
	r := vis.waitFor("ack", map[string]any{"id": "visitor-offer"})
	v.answered(r["result"].(map[string]any)["sdp"].(string), 0xA1)
	vis.waitFor("call", map[string]any{"state": "connected"})
	al.hears("the agent hears the visitor", 0xA1, 30)
	v.hears("the visitor hears the agent", 0xB2, 30)

}

// holdingLegs makes legs whose offers wait for hold(the leg's id) before
// they are answered, so that a test orders what happens meanwhile.
type holdingLegs struct {
	signaling.BrowserLegs
	hold func(id string)
}

func (h holdingLegs) NewBrowserLeg(id string, lh media.LegHandler) (signaling.BrowserLeg, error) {
	l, err := h.BrowserLegs.NewBrowserLeg(id, lh)
	if err != nil {
		return nil, err
	}
	return &holdingLeg{BrowserLeg: l, before: func() { h.hold(id) }}, nil
}

type holdingLeg struct {
	signaling.BrowserLeg
	before func()
}

func (l *holdingLeg) HandleOffer(sdp string) (string, error) {
	l.before()
	return l.BrowserLeg.HandleOffer(sdp)
}
