package app

// Tests with a real softphone: baresip (Debian baresip-core) runs as a
// child process through internal/testutil/baresip, with a tone file as its
// microphone and a recording of what it hears. They skip when baresip is
// missing, and fail then with REQUIRE_SIPP=1 (or REQUIRE_BARESIP=1).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/internal/testutil/baresip"
	"github.com/contactd/contactd/media"
	"github.com/contactd/contactd/media/mediatest"
)

// The tones: the phone's microphone and the agent's. Neither is one of
// the ringback's (440 Hz, 480 Hz).
const (
	phoneHz = 600.0
	agentHz = 1000.0
)

// toneFrames is a payload function sending a sine of hz in PCMU, its phase
// carried by the sequence number.
func toneFrames(hz float64) mediatest.PayloadFunc {
	return func(seq uint16, b []byte) {
		for i := range b {
			n := float64(int(seq)*len(b) + i)
			b[i] = media.LinearToULaw(int16(10000 * math.Sin(2*math.Pi*hz*n/8000)))
		}
	}
}

// toneEar is an agent's browser played by a pion peer that sends a tone
// and keeps what it hears as linear samples.
type toneEar struct {
	t     *testing.T
	p     *mediatest.Peer
	mu    sync.Mutex
	heard []int16
}

// joinCallWithTone opens ws's leg of conv with a pion peer sending hz.
func joinCallWithTone(t *testing.T, ws *wsClient, conv string, hz float64) *toneEar {
	t.Helper()
	e := &toneEar{t: t}
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
		if pk.PayloadType != 0 {
			return
		}
		e.mu.Lock()
		for _, u := range pk.Payload {
			e.heard = append(e.heard, media.ULawToLinear(u))
		}
		e.mu.Unlock()
	})
	offer, err := p.Offer(t.Context(), mediatest.OfferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := ws.must("call_offer", map[string]any{"conversation": conv, "sdp": offer})
	if err := p.Accept(res["sdp"].(string)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("the agent's leg did not connect")
	}
	p.StartSending(toneFrames(hz))
	return e
}

// hearsTone waits until, from sample from on, at least n blocks of 20 ms hold hz.
func (e *toneEar) hearsTone(what string, from int, hz float64, n int) {
	e.t.Helper()
	testutil.Eventually(e.t, what, func() bool {
		e.mu.Lock()
		s := e.heard[min(from, len(e.heard)):]
		hits, _ := testutil.ToneBlocks(s, 8000, 160, hz, 0.6, 300)
		e.mu.Unlock()
		return hits >= n
	})
}

// phoneHears waits until p's recording, from sample from on, holds hz in
// at least n blocks of 20 ms.
func phoneHears(t *testing.T, p *baresip.Phone, what string, from int, hz float64, n int) {
	t.Helper()
	testutil.Eventually(t, what, func() bool {
		s := p.Heard()
		hits, _ := testutil.ToneBlocks(s[min(from, len(s)):], baresip.Rate, 160, hz, 0.6, 300)
		return hits >= n
	})
}

// storedEvents are the events in conv's log, in order.
func storedEvents(t *testing.T, a *App, conv string) []string {
	t.Helper()
	msgs, err := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, m := range msgs {
		if m.Kind == store.MsgEvent {
			evs = append(evs, m.Event)
		}
	}
	return evs
}

// A real softphone calls the trunk's number: the call queues (the phone
// hears ringback in early media), an agent accepts in the desk protocol
// with a pion peer, and each side hears the other's tone: the phone's
// 600 Hz at the agent, the agent's 1000 Hz in baresip's recording. The
// agent ends: baresip gets the BYE, and the store has the call's steps.
func TestABaresipCallerReachesAnAgentInTheBrowser(t *testing.T) {
	baresip.Available(t)
	for _, tc := range []struct{ number, transport string }{{numEarly, "udp"}, {numAnswer, "tcp"}} {
		t.Run(tc.number+" over "+tc.transport, func(t *testing.T) {
			a, _, alice := sipWorld(t, sipConfig(t))
			phone := baresip.Start(t, baresip.Options{User: "+15557654321", Display: "Pat Caller", ToneHz: phoneHz, Transport: tc.transport})
			to := sipAddr(t, a, tc.transport)
			uri := fmt.Sprintf("sip:%s@%s", tc.number, to)
			phone.Dial(uri)

			offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
			conv := offer["conversation"].(string)
			v := offer["visitor"].(map[string]any)
			attrs, _ := v["attributes"].(map[string]any)
			if attrs["phone"] != "+15557654321" || attrs["dialled"] != tc.number || v["name"] != "Pat Caller" {
				t.Fatalf("the offer shows %v, want the caller's number, name and the number dialled", v)
			}
			if tc.number == numEarly {
				// Queued with early media: ringback (440 Hz + 480 Hz)
				// reaches the phone before anyone answers.
				phone.WaitEvent(0, "CALL_PROGRESS", nil)
				phoneHears(t, phone, "ringback in early media", 0, 440, 10)
			}
			alice.must("accept", map[string]any{"interaction": conv})
			alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
			agent := joinCallWithTone(t, alice, conv, agentHz)
			alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
			phone.WaitEvent(0, "CALL_ESTABLISHED", nil)

			heard := len(phone.Heard())
			agent.hearsTone("the agent hears the phone's 600 Hz", 0, phoneHz, 25)
			phoneHears(t, phone, "the phone hears the agent's 1000 Hz", heard, agentHz, 25)

			mark := phone.Mark()
			if r := alice.do("end", map[string]any{"conversation": conv}); r["type"] == "error" {
				t.Fatalf("end: %v", r)
			}
			// baresip 1.0 reports a BYE it received as "Connection reset
			// by peer" (libre's ECONNRESET).
			if closed := phone.WaitEvent(mark, "CALL_CLOSED", nil); closed.Param != "Connection reset by peer" {
				t.Fatalf("baresip's call closed with %s, want the BYE's ECONNRESET", closed)
			}
			waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
			waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
			want := []string{chat.EvCallStarted, chat.EvJoined, chat.EvCallConnected, chat.EvCallEnded, chat.EvEnded}
			if evs := storedEvents(t, a, conv); !subsequence(evs, want) {
				t.Fatalf("stored events %v; want %v in this order", evs, want)
			}
		})
	}
}

// A softphone registers with digest as an agent's phone (sip_username,
// sip_password): the registrar holds its contact (where the REGISTER came
// from) and cc_sip_registrations counts it. A phone with a wrong password
// and one with an unknown username (each from its own address) get the
// very same answers: baresip retries every 401 until the registrar blocks
// its address (403). Their failures block only their own addresses: a
// second phone of the agent, over TCP from the first address, registers.
func TestABaresipRegistersWithDigest(t *testing.T) {
	baresip.Available(t)
	cfg := sipConfig(t)
	cfg.Agents = append(cfg.Agents, config.AgentSpec{ID: "carol", DisplayName: "Carol Phone",
		SIPUsername: "carol", SIPPassword: "correct horse battery staple"})
	a := start(t, cfg, io.Discard)
	registrar := sipAddr(t, a, "udp").String()

	// baresip takes a password with spaces only quoted (unquoted, its
	// answers to the challenge are wrong: 401 again).
	good := baresip.Start(t, baresip.Options{User: "carol", Registrar: registrar, AuthUser: "carol", AuthPass: `"correct horse battery staple"`})
	good.WaitEvent(0, "REGISTER_OK", nil)
	contacts := a.sipReg.Contacts("carol")
	if len(contacts) != 1 || contacts[0].Source.String() != good.Addr() || contacts[0].ExpiresIn(time.Now()) < 60 {
		t.Fatalf("carol's contacts %+v, want one from %s", contacts, good.Addr())
	}
	if n := metricValues(t, a)["cc_sip_registrations"]; n != 1 {
		t.Fatalf("cc_sip_registrations is %v, want 1", n)
	}

	refused := func(ip, user, pass string) []string {
		t.Helper()
		p := baresip.Start(t, baresip.Options{IP: ip, User: user, Registrar: registrar, AuthUser: user, AuthPass: pass, Trace: true})
		if ev := p.WaitEvent(0, "REGISTER_FAIL", nil); ev.Param != "403 Forbidden" {
			t.Fatalf("%s with %q: %s, want 403 once its address is blocked", user, pass, ev)
		}
		if ev := p.Events(); len(ev) > 0 && ev[0].Type == "REGISTER_OK" {
			t.Fatalf("%s registered with %q: %v", user, pass, ev)
		}
		p.Stop() // its log complete
		return sipAnswers(p.Log())
	}
	wrong := refused("127.0.0.2", "carol", "not-carols-password")
	unknown := refused("127.0.0.3", "mallory", "not-carols-password")
	if strings.Join(wrong, ",") != strings.Join(unknown, ",") || len(wrong) < 2 || wrong[0] != "401" {
		t.Fatalf("answers to a wrong password %v, to an unknown user %v: want the same 401s, then 403", wrong, unknown)
	}
	t.Logf("a wrong password and an unknown user were answered %v", wrong)
	m := metricValues(t, a)
	if m["cc_sip_dropped_total/auth_failed"] < 2 || m["cc_sip_dropped_total/auth_blocked"] < 2 {
		t.Fatalf("cc_sip_dropped_total: %v", m)
	}
	if c := a.sipReg.Contacts("carol"); len(c) != 1 {
		t.Fatalf("after a wrong password carol's contacts are %+v", c)
	}

	// A second phone of hers, over TCP from 127.0.0.1: both contacts are
	// kept (and others' failures did not block her address).
	desk := baresip.Start(t, baresip.Options{User: "carol", Registrar: sipAddr(t, a, "tcp").String(), Transport: "tcp",
		AuthUser: "carol", AuthPass: `"correct horse battery staple"`})
	desk.WaitEvent(0, "REGISTER_OK", nil)
	if c := a.sipReg.Contacts("carol"); len(c) != 2 || !strings.EqualFold(c[0].Transport, "tcp") {
		t.Fatalf("carol's contacts after her TCP phone registered: %+v", c)
	}
	if n := metricValues(t, a)["cc_sip_registrations"]; n != 2 {
		t.Fatalf("cc_sip_registrations is %v, want 2", n)
	}
}

// sipAnswers are the status codes of the responses in a baresip SIP trace,
// in order.
func sipAnswers(trace string) []string {
	var out []string
	for _, l := range strings.Split(trace, "\n") {
		if code, ok := strings.CutPrefix(strings.TrimSpace(l), "SIP/2.0 "); ok && len(code) >= 3 {
			out = append(out, code[:3])
		}
	}
	return out
}

// The caller hangs up: while queued in early media (baresip CANCELs: an
// abandon), while queued after an answer at once (a BYE: an abandon), and
// talking to the agent (a BYE: the call and the conversation end, the
// agent is told).
func TestABaresipCallerHangsUp(t *testing.T) {
	baresip.Available(t)
	for _, tc := range []struct {
		name, number, transport string
		talking                 bool
	}{
		{"queued in early media", numEarly, "udp", false},
		{"queued after the answer", numAnswer, "udp", false},
		{"talking to the agent", numAnswer, "udp", true},
		{"talking to the agent over TCP", numAnswer, "tcp", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sipConfig(t)
			var a *App
			var alice *wsClient
			if tc.talking {
				a, _, alice = sipWorld(t, cfg)
			} else {
				waitingQueue(&cfg)
				a, _ = startSIPOnly(t, cfg)
			}
			phone := baresip.Start(t, baresip.Options{User: "+15557654321", ToneHz: phoneHz, Transport: tc.transport})
			phone.Dial(fmt.Sprintf("sip:%s@%s", tc.number, sipAddr(t, a, tc.transport)))
			var conv string
			if tc.talking {
				offer := alice.waitFor("offer", map[string]any{"channel": "voice"})
				conv = offer["conversation"].(string)
				alice.must("accept", map[string]any{"interaction": conv})
				alice.waitFor("call", map[string]any{"conversation": conv, "needLeg": true})
				agent := joinCallWithTone(t, alice, conv, agentHz)
				agent.hearsTone("the agent hears the phone", 0, phoneHz, 10)
			} else {
				waitUntil(t, "the call queued", func() bool {
					open, _ := a.Store().ListOpenConversations(t.Context())
					if len(open) == 1 {
						conv = string(open[0].ID)
					}
					return conv != ""
				})
				if tc.number == numEarly {
					phone.WaitEvent(0, "CALL_PROGRESS", nil)
				} else {
					phone.WaitEvent(0, "CALL_ESTABLISHED", nil)
				}
				// Queued: the phone hears the queue (ringback's 440 Hz).
				phoneHears(t, phone, "ringback while queued", 0, 440, 10)
			}
			mark := phone.Mark()
			phone.Hangup()
			phone.WaitEvent(mark, "CALL_CLOSED", nil)
			if tc.talking {
				alice.waitFor("call", map[string]any{"conversation": conv, "state": "ended", "cause": "hangup_visitor"})
			}
			waitUntil(t, "the conversation ended", func() bool {
				rec, err := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
				return err == nil && rec.Status == store.ConvEnded
			})
			waitUntil(t, "the dialog gone", func() bool { return a.sip.Dialogs() == 0 })
			waitUntil(t, "the legs closed", func() bool { return a.media.Legs() == 0 })
			evs := storedEvents(t, a, conv)
			if tc.talking {
				// The call's end (cause, talk time) is stored before the
				// caller's leaving ends the conversation (it was lost: the
				// conversation ended first and refused it).
				if !subsequence(evs, []string{chat.EvCallConnected, chat.EvCallEnded, chat.EvLeft, chat.EvEnded}) {
					t.Fatalf("stored events %v, want call_ended, then the caller's leaving and the end", evs)
				}
			} else if slices.Contains(evs, chat.EvJoined) || !subsequence(evs, []string{chat.EvCallStarted, chat.EvEnded}) {
				t.Fatalf("an abandoned call has events %v", evs)
			}
		})
	}
}

// A real softphone as an agent's phone: baresip registers with digest as
// alice's phone (voice_device: sip) and answers automatically; a web
// visitor (a pion peer sending 1000 Hz) calls; each side hears the other's
// tone (baresip's 600 Hz at the visitor, the visitor's 1000 Hz in
// baresip's recording). The desk's End hangs baresip up.
func TestABaresipAgentPhoneAnswersAWebVisitor(t *testing.T) {
	baresip.Available(t)
	cfg := phoneAgentConfig(t)
	for i := range cfg.Agents {
		if cfg.Agents[i].ID == "alice" {
			cfg.Agents[i].SIPPassword = "alice-phone-secret-1"
		}
	}
	a, base, alice := sipWorld(t, cfg)
	phone := baresip.Start(t, baresip.Options{User: "alice-phone", Registrar: sipAddr(t, a, "udp").String(),
		AuthUser: "alice-phone", AuthPass: "alice-phone-secret-1", AutoAnswer: true, ToneHz: phoneHz})
	phone.WaitEvent(0, "REGISTER_OK", nil)

	conv, token := visitorSessionOn(t, base, "sales", "Vera Web", "voice")
	vis := visitor(t, base, token)
	v := joinCallWithTone(t, vis, conv, agentHz)
	// Auto-answered (no CALL_INCOMING with answermode=auto): a web
	// visitor has no number, so the From user is anonymous.
	if in := phone.WaitEvent(0, "CALL_ESTABLISHED", nil); in.Direction != "incoming" || !strings.Contains(in.PeerURI, "anonymous") {
		t.Fatalf("baresip's call: %s, want an incoming call from the visitor", in)
	}
	alice.waitFor("call", map[string]any{"conversation": conv, "state": "connected"})
	heard := len(phone.Heard())
	v.hearsTone("the visitor hears baresip's 600 Hz", 0, phoneHz, 25)
	phoneHears(t, phone, "baresip hears the visitor's 1000 Hz", heard, agentHz, 25)

	mark := phone.Mark()
	alice.must("end", map[string]any{"conversation": conv})
	phone.WaitEvent(mark, "CALL_CLOSED", nil)
	v.p.Close()
	waitUntil(t, "no call left", func() bool { return a.sip.AgentCalls() == 0 && a.media.Legs() == 0 })
}
