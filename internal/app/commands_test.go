package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
)

func TestACommandIDIsBoundToItsCommand(t *testing.T) {
	_, base, alice, _ := chatWorld(t, testConfig(t, ""))
	conv, _, vis := connected(t, base, alice)
	other, _ := visitorSession(t, base, "sales", "Bo")

	alice.must("hold", map[string]any{"conversation": conv})
	for _, c := range []struct {
		name   string
		typ    string
		fields map[string]any
	}{
		{"another type", "unhold", map[string]any{"conversation": conv}},
		{"another conversation", "hold", map[string]any{"conversation": other}},
		{"a send", "send", map[string]any{"conversation": conv, "text": "hi"}},
		{"a read", "history", map[string]any{"conversation": conv, "after": 0}},
	} {
		t.Run("the id of a hold reused for "+c.name+" is conflict", func(t *testing.T) {
			if r := alice.again(alice.lastID(), c.typ, c.fields); r["type"] != "error" || r["code"] != "conflict" {
				t.Fatalf("reply %v, want conflict", r)
			}
		})
	}
	// Nothing of the refused commands ran: still on hold, nothing sent.
	if r := vis.do("send", map[string]any{"text": "hello?"}); r["code"] != "on_hold" {
		t.Fatalf("the visitor's send after the conflicts: %v", r)
	}
	// A send's id reused for another command is conflict too.
	seq := alice.must("send", map[string]any{"conversation": conv, "text": "one moment"})["seq"]
	sendID := alice.lastID()
	if r := alice.again(sendID, "unhold", map[string]any{"conversation": conv}); r["code"] != "conflict" {
		t.Fatalf("unhold with a send's id: %v", r)
	}
	if r := alice.again(sendID, "send", map[string]any{"conversation": conv, "text": "one moment"}); r["type"] != "ack" || r["result"].(map[string]any)["seq"] != seq {
		t.Fatalf("the send again: %v, want the first seq %v", r, seq)
	}
	// The same command again answers its first result.
	if r := alice.doID("unhold-1", "unhold", map[string]any{"conversation": conv}); r["type"] != "ack" {
		t.Fatalf("unhold: %v", r)
	}
	if r := alice.again("unhold-1", "unhold", map[string]any{"conversation": conv}); r["type"] != "ack" {
		t.Fatalf("unhold again with its id: %v (it must not run a second time and fail)", r)
	}
}

func TestAcceptTakeAndTransferIDsAnswerTheirFirstResultAfterARestart(t *testing.T) {
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, _ := chatWorld(t, cfg)
		conv, token := visitorSession(t, base, "sales", "Ann")
		visitor(t, base, token) // offered once the visitor's page is connected
		alice.waitFor("offer", map[string]any{"conversation": conv})
		// An accept of something never offered fails; its id keeps that
		// answer.
		early := alice.doID("acc-early", "accept", map[string]any{"interaction": "c_nothing"})
		if early["type"] != "error" {
			t.Fatalf("accept of an unknown interaction: %v", early)
		}
		if r := alice.doID("acc-1", "accept", map[string]any{"interaction": conv}); r["type"] != "ack" {
			t.Fatalf("accept: %v", r)
		}
		alice.waitFor("assigned", map[string]any{"conversation": conv})
		if r := alice.again("acc-1", "take", map[string]any{"interaction": conv}); r["code"] != "conflict" {
			t.Fatalf("take with the accept's id: %v", r)
		}
		a.Close()

		b := start(t, cfg, io.Discard)
		base = "http://" + b.Addr()
		desk, _ := staff(t, base, "alice", "pw-alice")
		desk.waitFor("assigned", map[string]any{"conversation": conv, "role": "owner"})
		if r := desk.doID("acc-1", "accept", map[string]any{"interaction": conv}); r["type"] != "ack" {
			t.Fatalf("the accept again after the restart: %v, want its first result (ack)", r)
		}
		if r := desk.again("acc-1", "accept", map[string]any{"interaction": "c_other"}); r["code"] != "conflict" {
			t.Fatalf("the accept's id for another interaction after the restart: %v", r)
		}
		if r := desk.doID("acc-early", "accept", map[string]any{"interaction": "c_nothing"}); r["code"] != early["code"] || r["message"] != early["message"] {
			t.Fatalf("the failed accept again after the restart: %v, want %v", r, early)
		}
		// A transfer's id too: sent again after a restart it answers ack,
		// though alice no longer holds the conversation.
		if r := desk.doID("tr-1", "transfer", map[string]any{"conversation": conv, "toQueue": "sales", "mode": "blind"}); r["type"] != "ack" {
			t.Fatalf("transfer: %v", r)
		}
		b.Close()
		c := start(t, cfg, io.Discard)
		desk, _ = staff(t, "http://"+c.Addr(), "alice", "pw-alice")
		if r := desk.doID("tr-1", "transfer", map[string]any{"conversation": conv, "toQueue": "sales", "mode": "blind"}); r["type"] != "ack" {
			t.Fatalf("the transfer again after the restart: %v, want its first result (ack)", r)
		}
		if rec, _ := c.Store().GetConversation(t.Context(), store.ConversationID(conv)); rec.Status == store.ConvEnded {
			t.Fatalf("conversation ended: %+v", rec)
		}
	})
}

// lastID is the id of the last command sent with do.
func (c *wsClient) lastID() string { return fmt.Sprintf("%s-%d", c.prefix, c.n.Load()) }

// again sends a command with an id used before on this connection and
// returns the reply that comes after it (doID would find the first one).
func (c *wsClient) again(id, typ string, fields map[string]any) map[string]any {
	c.t.Helper()
	c.mu.Lock()
	from := len(c.msgs)
	c.mu.Unlock()
	m := map[string]any{"type": typ, "id": id}
	for k, v := range fields {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c.sendRaw(b)
	deadline := time.After(15 * time.Second)
	for {
		c.mu.Lock()
		for _, r := range c.msgs[from:] {
			if (r["type"] == "ack" || r["type"] == "error") && r["id"] == id {
				c.mu.Unlock()
				return r
			}
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-deadline:
			c.t.Fatalf("no reply to %s %s", typ, id)
		}
	}
}

func TestOldCommandIDsArePurgedAtStart(t *testing.T) {
	cfg := testConfig(t, "")
	a := start(t, cfg, io.Discard)
	ctx := t.Context()
	now := time.Now().UTC()
	for _, c := range []store.Command{
		{Principal: "agent:alice", ID: "old", Type: "accept", Target: "c_1", CreatedAt: now.Add(-25 * time.Hour)},
		{Principal: "agent:alice", ID: "new", Type: "accept", Target: "c_1", CreatedAt: now.Add(-time.Hour)},
	} {
		if _, _, err := a.Store().StartCommand(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b := start(t, cfg, io.Discard)
	if err := b.Store().FinishCommand(ctx, "agent:alice", "old", []byte("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the 25-hour-old id after a restart: %v, want it purged", err)
	}
	if err := b.Store().FinishCommand(ctx, "agent:alice", "new", []byte("x")); err != nil {
		t.Fatalf("the 1-hour-old id after a restart: %v, want it kept", err)
	}
}
