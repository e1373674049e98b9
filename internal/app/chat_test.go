package app

import (
	"fmt"
	"io"
	"testing"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
)

// chatWorld starts contactd with alice and bob (passwords known) available.
func chatWorld(t *testing.T, cfg config.Config) (*App, string, *wsClient, *wsClient) {
	t.Helper()
	a := start(t, cfg, io.Discard)
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
