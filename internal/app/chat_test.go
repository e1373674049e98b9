package app

import (
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// chatWorld starts contactd with alice and bob (passwords known) available.
func chatWorld(t *testing.T, cfg config.Config, opts ...Option) (*App, string, *wsClient, *wsClient) {
	t.Helper()
	a := start(t, cfg, io.Discard, opts...)
	setPassword(t, a, "alice", "pw-alice")
	setPassword(t, a, "bob", "pw-bob")
	base := "http://" + a.Addr()
	alice, _ := staff(t, base, "alice", "pw-alice")
	bob, _ := staff(t, base, "bob", "pw-bob")
	alice.must("presence", map[string]any{"presence": "available"})
	return a, base, alice, bob
}

func TestTextChatEndToEnd(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, _ := chatWorld(t, cfg)
		conv, token := visitorSession(t, base, "sales", "Ann")
		vis := visitor(t, base, token)

		offer := alice.waitFor("offer", map[string]any{"conversation": conv})
		if v := offer["visitor"].(map[string]any); v["name"] != "Ann" {
			t.Fatalf("offer without the visitor's name: %v", offer)
		}
		alice.must("accept", map[string]any{"interaction": conv})
		alice.waitFor("assigned", map[string]any{"conversation": conv, "role": "owner"})
		vis.waitFor("message", map[string]any{"event": "joined", "senderName": "Alice Martin"})

		seq := vis.must("send", map[string]any{"text": "Hi, where is my order?"})["seq"]
		alice.waitFor("message", map[string]any{"conversation": conv, "seq": seq, "text": "Hi, where is my order?", "sender": "visitor"})
		alice.must("send", map[string]any{"conversation": conv, "text": "Let me check: https://shop.example/orders"})
		vis.waitFor("message", map[string]any{"sender": "agent:alice", "text": "Let me check: https://shop.example/orders"})
		alice.must("send", map[string]any{"conversation": conv, "text": "private: VIP", "note": true})

		alice.must("hold", map[string]any{"conversation": conv})
		vis.waitFor("message", map[string]any{"event": "hold"})
		if r := vis.do("send", map[string]any{"text": "hello?"}); r["code"] != "on_hold" {
			t.Fatalf("visitor send during hold: %v", r)
		}
		alice.must("unhold", map[string]any{"conversation": conv})
		vis.waitFor("message", map[string]any{"event": "resume"})
		vis.must("send", map[string]any{"text": "thanks"})
		alice.must("end", map[string]any{"conversation": conv})
		vis.waitFor("message", map[string]any{"event": "ended"})

		for _, m := range vis.all("message") {
			if m["kind"] == "note" {
				t.Fatalf("the visitor received a note: %v", m)
			}
		}
		// The transcript is in the store, in order, with nothing refused.
		msgs, err := a.Store().ListMessages(t.Context(), store.ConversationID(conv), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("stored seq %d at %d", m.Seq, i)
			}
			if m.Kind != store.MsgEvent {
				texts = append(texts, m.Text)
			}
		}
		if fmt.Sprint(texts) != "[Hi, where is my order? Let me check: https://shop.example/orders private: VIP thanks]" {
			t.Fatalf("stored texts %q", texts)
		}
		rec, _ := a.Store().GetConversation(t.Context(), store.ConversationID(conv))
		if rec.Status != store.ConvEnded || rec.VisitorName != "Ann" || rec.Attributes["pageUrl"] != "https://shop.example/cart" {
			t.Fatalf("stored conversation %+v", rec)
		}
	})
}

// connected starts a conversation that alice has accepted.
func connected(t *testing.T, base string, alice *wsClient) (string, string, *wsClient) {
	t.Helper()
	conv, token := visitorSession(t, base, "sales", "Ann")
	vis := visitor(t, base, token)
	alice.waitFor("offer", map[string]any{"conversation": conv})
	alice.must("accept", map[string]any{"interaction": conv})
	alice.waitFor("assigned", map[string]any{"conversation": conv})
	vis.waitFor("message", map[string]any{"event": "joined"})
	return conv, token, vis
}

func seqs(msgs []map[string]any, conv string) []int {
	var out []int
	for _, m := range msgs {
		if conv == "" || m["conversation"] == conv {
			out = append(out, int(m["seq"].(float64)))
		}
	}
	return out
}

func TestReconnectMissesNothingAndDuplicatesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		_, base, alice, _ := chatWorld(t, cfg)
		conv, token, vis := connected(t, base, alice)
		vis.must("send", map[string]any{"text": "before"})
		last := vis.waitFor("message", map[string]any{"text": "before"})["seq"].(float64)
		vis.close()
		for i := range 20 {
			alice.must("send", map[string]any{"conversation": conv, "text": fmt.Sprint("while away ", i)})
		}
		vis = visitor(t, base, token)
		vis.must("resume", map[string]any{"after": int(last)})
		vis.waitFor("synced", nil)
		alice.must("send", map[string]any{"conversation": conv, "text": "after"})
		vis.waitFor("message", map[string]any{"text": "after"})
		got := seqs(vis.all("message"), "")
		for i, s := range got {
			if s != int(last)+1+i {
				t.Fatalf("visitor saw seqs %v after %d: a gap or a duplicate", got, int(last))
			}
		}
		if len(got) != 21 {
			t.Fatalf("visitor saw %d messages after reconnecting, want 21", len(got))
		}

		// The agent's socket drops while the visitor goes on.
		aliceLast := alice.waitFor("message", map[string]any{"text": "after"})["seq"].(float64)
		alice.close()
		for i := range 10 {
			vis.must("send", map[string]any{"text": fmt.Sprint("are you there ", i)})
		}
		alice2, _ := staff(t, base, "alice", "pw-alice")
		alice2.waitFor("assigned", map[string]any{"conversation": conv})
		alice2.must("resume", map[string]any{"conversations": map[string]any{conv: int(aliceLast)}})
		alice2.waitFor("synced", nil)
		got = seqs(alice2.all("message"), conv)
		if len(got) != 10 || got[0] != int(aliceLast)+1 || got[9] != int(aliceLast)+10 {
			t.Fatalf("agent saw seqs %v after reconnecting", got)
		}

		// A command sent again with the same id acts once.
		r1 := vis.doID("same-id", "send", map[string]any{"text": "once"})
		r2 := vis.doID("same-id", "send", map[string]any{"text": "once"})
		if r1["type"] != "ack" || fmt.Sprint(r1["result"]) != fmt.Sprint(r2["result"]) {
			t.Fatalf("retried send: %v then %v", r1, r2)
		}
		alice2.waitFor("message", map[string]any{"text": "once"})
		n := 0
		for _, m := range alice2.all("message") {
			if m["text"] == "once" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the agent received the retried message %d times", n)
		}
	})
}

func TestParkTakeAndTransfers(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		_, base, alice, bob := chatWorld(t, cfg)
		bob.must("presence", map[string]any{"presence": "available"})

		// Park: the request waits in the communication queue for anybody.
		conv, token := visitorSession(t, base, "sales", "Pat")
		vis := visitor(t, base, token)
		offered := func(c *wsClient) bool {
			for _, o := range c.all("offer") {
				if o["conversation"] == conv {
					return true
				}
			}
			return false
		}
		waitUntil(t, "an offer to alice or bob", func() bool { return offered(alice) || offered(bob) })
		first := alice
		if !offered(alice) {
			first = bob
		}
		first.waitFor("offer", map[string]any{"conversation": conv})
		first.must("park", map[string]any{"interaction": conv})
		vis.waitFor("busy", nil)
		alice.waitFor("parked", map[string]any{})
		bob.must("take", map[string]any{"interaction": conv})
		bob.waitFor("assigned", map[string]any{"conversation": conv})
		vis.waitFor("message", map[string]any{"event": "joined", "sender": "agent:bob"})

		// Blind transfer to alice: she accepts, bob leaves, the visitor stays.
		bob.must("transfer", map[string]any{"conversation": conv, "toAgent": "alice", "mode": "blind", "note": "wants a refund"})
		off := alice.waitFor("offer", map[string]any{"conversation": conv})
		if tr := off["transfer"].(map[string]any); tr["from"] != "bob" || tr["note"] != "wants a refund" {
			t.Fatalf("transfer offer %v", off)
		}
		alice.must("accept", map[string]any{"interaction": conv})
		alice.waitFor("assigned", map[string]any{"conversation": conv, "role": "owner"})
		bob.waitFor("unassigned", map[string]any{"conversation": conv})
		alice.must("history", map[string]any{"conversation": conv, "after": 0})
		alice.waitFor("message", map[string]any{"kind": "note", "text": "wants a refund"})
		alice.must("send", map[string]any{"conversation": conv, "text": "I have it now"})
		vis.waitFor("message", map[string]any{"text": "I have it now"})
		if r := bob.do("send", map[string]any{"conversation": conv, "text": "still me?"}); r["code"] != "forbidden" {
			t.Fatalf("the agent who transferred away can still write: %v", r)
		}

		// Warm transfer back to bob: consult with notes, then complete.
		alice.must("transfer", map[string]any{"conversation": conv, "toAgent": "bob", "mode": "warm"})
		bob.waitFor("offer", map[string]any{"conversation": conv})
		bob.must("accept", map[string]any{"interaction": conv})
		bob.waitFor("assigned", map[string]any{"conversation": conv, "role": "consult"})
		if r := bob.do("send", map[string]any{"conversation": conv, "text": "hello visitor"}); r["code"] != "forbidden" {
			t.Fatalf("a consult wrote to the visitor: %v", r)
		}
		bob.must("send", map[string]any{"conversation": conv, "text": "ok, I'll take it", "note": true})
		alice.waitFor("message", map[string]any{"text": "ok, I'll take it"})
		alice.must("transfer_complete", map[string]any{"conversation": conv})
		alice.waitFor("unassigned", map[string]any{"conversation": conv})
		bob.must("send", map[string]any{"conversation": conv, "text": "Bob here again"})
		vis.waitFor("message", map[string]any{"text": "Bob here again"})
		for _, m := range vis.all("message") {
			if m["kind"] == "note" {
				t.Fatalf("visitor saw a note: %v", m)
			}
		}
	})
}

func TestOperatorChatAndLeaveAMessage(t *testing.T) {
	a, base, alice, bob := chatWorld(t, testConfig(t, ""))
	room := alice.must("operator_chat", map[string]any{"agent": "bob"})["conversation"].(string)
	bob.waitFor("assigned", map[string]any{"conversation": room})
	alice.must("send", map[string]any{"conversation": room, "text": "lunch?"})
	bob.waitFor("message", map[string]any{"conversation": room, "text": "lunch?"})
	if again := bob.must("operator_chat", map[string]any{"agent": "alice"})["conversation"]; again != room {
		t.Fatalf("a second room %v for the same pair %v", again, room)
	}
	if r := alice.do("operator_chat", map[string]any{"agent": "nobody"}); r["code"] != "not_found" {
		t.Fatalf("room with an unknown agent: %v", r)
	}

	code, body := postJSON(t, base+"/api/widget/leave-message", base, map[string]any{"queue": "sales", "name": "Kim", "email": "kim@example.com", "text": "Call me back"})
	if code != 201 {
		t.Fatalf("leave a message: %d %s", code, body)
	}
	if code, _ := postJSON(t, base+"/api/widget/leave-message", base, map[string]any{"queue": "sales", "email": "no-at-sign", "text": "x"}); code != 400 {
		t.Fatalf("a message without an e-mail address: %d", code)
	}
	left, err := a.Store().ListLeftMessages(t.Context(), store.LeftMessageFilter{OnlyOpen: true}, 10)
	if err != nil || len(left) != 1 || left[0].Text != "Call me back" {
		t.Fatalf("left messages %+v %v", left, err)
	}
}

func TestAVisitorWhoDoesNotComeBackHasLeft(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = 200 * time.Millisecond
	a, base, alice, _ := chatWorld(t, cfg)
	conv, token, vis := connected(t, base, alice)

	// Back within the grace period: nothing happens.
	vis.close()
	vis = visitor(t, base, token)
	vis.must("send", map[string]any{"text": "sorry, reloaded"})
	alice.waitFor("message", map[string]any{"text": "sorry, reloaded"})

	// Gone for good: the agent is told, and the conversation ends for the
	// agent, who goes into wrap-up.
	vis.close()
	alice.waitFor("message", map[string]any{"conversation": conv, "event": "left", "sender": "visitor"})
	alice.waitFor("wrapup", map[string]any{"conversation": conv})
	alice.must("wrapup_done", map[string]any{"conversation": conv})

	// A visitor who leaves while still queued leaves the queue: once alice
	// is back, the next visitor is offered first.
	alice.must("presence", map[string]any{"presence": "away", "reason": "Break"})
	_, token2 := visitorSession(t, base, "sales", "Bo")
	v2 := visitor(t, base, token2)
	if p := v2.waitFor("position", nil); p["position"] != 1.0 {
		t.Fatalf("position on connecting: %v", p)
	}
	v2.close()
	alice.waitFor("state", map[string]any{"presence": "away"})
	testutil.Eventually(t, "the queued visitor who left leaving the queue", func() bool {
		var waiting int
		a.Router().Query(t.Context(), func(e *routing.Engine) {
			for _, q := range e.QueueViews() {
				waiting += q.Waiting + q.Parked
			}
		})
		return waiting == 0
	})
	conv3, token3 := visitorSession(t, base, "sales", "Cy")
	visitor(t, base, token3) // one who never connects would leave too
	alice.must("presence", map[string]any{"presence": "available"})
	if o := alice.waitFor("offer", nil); o["conversation"] != conv3 {
		t.Fatalf("offered %v, want the visitor still there (%s)", o["conversation"], conv3)
	}
}

func TestAnAgentWhoseDeskStaysClosedIsSignedOut(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = 200 * time.Millisecond
	_, base, alice, bob := chatWorld(t, cfg)
	bob.must("presence", map[string]any{"presence": "available"})
	alice.waitFor("operators", map[string]any{})

	// A reload within the grace period keeps bob available. (The login,
	// an argon2id hash, comes first: under the race detector on a busy
	// machine it alone can outlast the grace period.)
	hc := login(t, base, "bob", "pw-bob")
	bob.close()
	bob = desk(t, base, hc)
	bob.waitFor("state", map[string]any{"presence": "available"})

	bob.close()
	// Until the latest list alice has leaves bob out, wait for another
	// (waitFor fails the test when none comes).
	listsBob := func() bool {
		ops := alice.all("operators")
		return slices.ContainsFunc(ops[len(ops)-1]["items"].([]any), func(it any) bool { return it.(map[string]any)["id"] == "bob" })
	}
	for listsBob() {
		alice.waitFor("operators", map[string]any{})
	}
}

func TestConversationsSurviveARestart(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, _ := chatWorld(t, cfg)
		conv, token, vis := connected(t, base, alice)
		vis.must("send", map[string]any{"text": "before the restart"})
		alice.must("send", map[string]any{"conversation": conv, "text": "noted"})
		alice.must("hold", map[string]any{"conversation": conv})
		vis.waitFor("message", map[string]any{"event": "hold"})
		a.Close()

		b := start(t, cfg, io.Discard)
		base = "http://" + b.Addr()
		alice2, _ := staff(t, base, "alice", "pw-alice")
		alice2.waitFor("assigned", map[string]any{"conversation": conv, "role": "owner"})
		alice2.must("history", map[string]any{"conversation": conv, "after": 0})
		alice2.waitFor("message", map[string]any{"conversation": conv, "text": "before the restart"})
		vis2 := visitor(t, base, token)
		vis2.must("resume", map[string]any{"after": 0})
		vis2.waitFor("synced", nil)
		var texts []string
		for _, m := range vis2.all("message") {
			if m["kind"] == "text" {
				texts = append(texts, m["text"].(string))
			}
		}
		if fmt.Sprint(texts) != "[before the restart noted]" {
			t.Fatalf("transcript after the restart: %q", texts)
		}
		// Still on hold, and it goes on.
		if r := vis2.do("send", map[string]any{"text": "hello?"}); r["code"] != "on_hold" {
			t.Fatalf("hold after the restart: %v", r)
		}
		alice2.must("unhold", map[string]any{"conversation": conv})
		vis2.must("send", map[string]any{"text": "after the restart"})
		alice2.waitFor("message", map[string]any{"text": "after the restart"})
	})
}

func TestAnOfferIsWithdrawnWhenTheVisitorLeaves(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.VisitorGrace = 200 * time.Millisecond
	_, base, alice, _ := chatWorld(t, cfg)
	for _, how := range []string{"ends the chat", "closes the page"} {
		t.Run("when the visitor "+how, func(t *testing.T) {
			conv, token := visitorSession(t, base, "sales", "Di")
			vis := visitor(t, base, token)
			alice.waitFor("offer", map[string]any{"conversation": conv})
			if how == "ends the chat" {
				vis.must("end", nil)
			} else {
				vis.close()
			}
			alice.waitFor("offer_ended", map[string]any{"interaction": conv})
			// A reconnecting desk is not offered it again.
			again, _ := staff(t, base, "alice", "pw-alice")
			again.waitFor("operators", nil)
			for _, o := range again.all("offer") {
				if o["conversation"] == conv {
					t.Fatalf("a reconnecting desk got the withdrawn offer: %v", o)
				}
			}
			again.close()
		})
	}
}

func TestAnAnsweredOfferIsNotShownAgainAfterAReconnect(t *testing.T) {
	_, base, alice, bob := chatWorld(t, testConfig(t, ""))
	bob.must("presence", map[string]any{"presence": "away", "reason": "Lunch"})
	for _, answer := range []string{"decline", "park", "accept"} {
		conv, token := visitorSession(t, base, "sales", "Ed")
		visitor(t, base, token) // offered once the visitor's page is connected
		first := alice.waitFor("offer", map[string]any{"conversation": conv})
		alice.must(answer, map[string]any{"interaction": conv})
		if answer == "decline" {
			// Bob is away but logged in: it waits for him, not for alice.
			// Once back he parks it.
			bob.must("presence", map[string]any{"presence": "available"})
			second := bob.waitFor("offer", map[string]any{"conversation": conv})
			if second["deadline"] == first["deadline"] {
				t.Fatal("the new offer has the old deadline")
			}
			bob.must("park", map[string]any{"interaction": conv})
			bob.must("presence", map[string]any{"presence": "away", "reason": "Lunch"})
		}
		again, _ := staff(t, base, "alice", "pw-alice")
		again.waitFor("operators", nil)
		var got []any
		for _, o := range again.all("offer") {
			if o["conversation"] == conv {
				got = append(got, o["deadline"])
			}
		}
		if len(got) != 0 {
			t.Fatalf("after %s, a reconnecting desk got answered offers again: %v", answer, got)
		}
		again.close()
	}
}

func TestTypingReachesTheOtherSideOnly(t *testing.T) {
	_, base, alice, bob := chatWorld(t, testConfig(t, ""))
	conv, _, vis := connected(t, base, alice)
	vis.sendRaw([]byte(`{"type":"typing","id":"ty1","on":true}`))
	alice.waitFor("typing", map[string]any{"conversation": conv, "sender": "visitor", "on": true})
	alice.sendRaw([]byte(`{"type":"typing","id":"ty2","conversation":"` + conv + `","on":true}`))
	vis.waitFor("typing", map[string]any{"sender": "agent:alice", "on": true})
	// Typing is not stored and gets no reply; strangers hear nothing.
	bob.sendRaw([]byte(`{"type":"typing","id":"ty3","conversation":"` + conv + `","on":true}`))
	vis.must("send", map[string]any{"text": "done typing"})
	alice.waitFor("message", map[string]any{"text": "done typing"})
	for _, m := range vis.all("typing") {
		if m["sender"] == "agent:bob" {
			t.Fatalf("a stranger's typing reached the visitor: %v", m)
		}
	}
	for _, m := range vis.all("ack") {
		if m["id"] == "ty1" {
			t.Fatal("typing got a reply")
		}
	}
}
