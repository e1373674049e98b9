package app

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/config"
	"github.com/contactd/contactd/internal/store"
)

// replayCheck follows the messages of one conversation on one connection:
// every seq at most once, none after the synced that counts it.
type replayCheck struct {
	t      *testing.T
	conv   string
	got    map[int64]int
	synced int64 // 0 until synced came
	notes  int
}

func (r *replayCheck) see(f frame) {
	r.t.Helper()
	switch {
	case f.Type == "message" && f.Conversation == r.conv:
		r.got[f.Seq]++
		if r.got[f.Seq] > 1 {
			r.t.Fatalf("seq %d delivered twice on one connection", f.Seq)
		}
		if r.synced > 0 && f.Seq <= r.synced {
			r.t.Fatalf("seq %d arrived after synced said %d", f.Seq, r.synced)
		}
		if f.Kind == "note" {
			r.notes++
		}
	case f.Type == "synced":
		if v, ok := f.Conversations[r.conv]; ok {
			r.synced = v
		}
	case f.Type == "error":
		r.t.Fatalf("error from the server: %+v", f)
	}
}

// want checks that every seq from 1 to last that the reader may see came.
func (r *replayCheck) want(msgs []store.Message, visitor bool) {
	r.t.Helper()
	n := 0
	for _, m := range msgs {
		if visitor && m.Kind == store.MsgNote {
			if r.got[m.Seq] > 0 {
				r.t.Fatalf("the visitor got note %d", m.Seq)
			}
			continue
		}
		if r.got[m.Seq] != 1 {
			r.t.Fatalf("seq %d (%s) delivered %d times", m.Seq, m.Kind, r.got[m.Seq])
		}
		n++
	}
	if n != len(r.got) {
		r.t.Fatalf("%d messages delivered, %d stored for this reader", len(r.got), n)
	}
}

// allMessages reads a conversation from the store, a page at a time.
func allMessages(t *testing.T, st store.Store, conv store.ConversationID) []store.Message {
	t.Helper()
	var out []store.Message
	for after := int64(0); ; {
		page, err := st.ListMessages(t.Context(), conv, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i := range page {
			page[i].Text = "" // 80 MB is not needed here
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].Seq
	}
}

// A conversation of 20,000 messages of 4 KiB is resumed from 0, by the
// visitor and by the agent, through the outbox of 256 frames: the replay
// goes at the pace of the reader. The client stops reading for a while
// after the first message: meanwhile the connection still takes commands
// (its reader and command goroutine are not held by the replay), and live
// messages of the conversation reach it once, in the replay.
func TestALongConversationIsResumedWholeAtTheReadersPace(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 160 MB per store")
	}
	const n, size = 20000, 4 << 10
	eachStore(t, func(t *testing.T, cfg config.Config) {
		a, base, alice, _ := chatWorld(t, cfg)
		conv, token, _ := connected(t, base, alice)
		id := store.ConversationID(conv)
		// Stored straight into the store, then the server restarts and
		// reads the conversation from there.
		rec, err := a.Store().GetConversation(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		text := strings.Repeat("0123456789abcdef", size/16)
		for from := 0; from < n; from += 1000 {
			batch := make([]store.Message, 0, 1000)
			for i := from; i < from+1000; i++ {
				m := store.Message{Conversation: id, Seq: rec.LastSeq + int64(i) + 1, Sender: "visitor", Kind: store.MsgText, Text: text, CreatedAt: time.Now().UTC()}
				switch {
				case i%500 == 7:
					m.Sender, m.Kind = "agent:alice", store.MsgNote
				case i%2 == 1:
					m.Sender = "agent:alice"
				}
				batch = append(batch, m)
			}
			if err := a.Store().AppendMessages(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("stored %d messages in %v", n, time.Since(began))
		a.Close()
		b := start(t, cfg, io.Discard)
		t.Logf("restarted in %v", time.Since(began))
		base = "http://" + b.Addr()
		alice, _ = staff(t, base, "alice", "pw-alice")
		alice.waitFor("assigned", map[string]any{"conversation": conv})

		t.Run("by the visitor", func(t *testing.T) {
			vis := dialPull(t, strings.Replace(base, "http", "ws", 1)+"/ws?token="+url.QueryEscape(token), http.Header{"Origin": {base}})
			check := &replayCheck{t: t, conv: conv, got: map[int64]int{}}
			for f := vis.next(); f.Type != "hello"; f = vis.next() {
			}
			vis.send(map[string]any{"type": "resume", "id": "r1", "after": 0})
			for f := vis.next(); ; f = vis.next() {
				check.see(f)
				if f.Type == "message" {
					break
				}
			}
			// The visitor stops reading. Its commands still run: the agent
			// hears it type and gets what it sends.
			vis.send(map[string]any{"type": "typing", "on": true})
			vis.send(map[string]any{"type": "send", "id": "live-v", "text": "sent during the replay"})
			alice.waitFor("typing", map[string]any{"conversation": conv, "sender": "visitor"})
			mine := alice.waitFor("message", map[string]any{"conversation": conv, "text": "sent during the replay"})["seq"].(float64)
			theirs := alice.must("send", map[string]any{"conversation": conv, "text": "answered during the replay"})["seq"].(float64)
			// Reading again: everything, once, then synced, then the ack.
			acked, sawMine, sawTheirs := false, false, false
			for !acked || !sawMine || !sawTheirs {
				f := vis.next()
				check.see(f)
				switch {
				case f.Type == "ack" && f.ID == "r1":
					if check.synced == 0 {
						t.Fatal("the resume was acknowledged before synced")
					}
					acked = true
				case f.Type == "ack" && f.ID == "live-v":
					if f.Result.Seq != int64(mine) {
						t.Fatalf("send acked with seq %d, delivered as %v", f.Result.Seq, mine)
					}
				case f.Type == "message" && f.Seq == int64(mine):
					sawMine = true
				case f.Type == "message" && f.Seq == int64(theirs):
					sawTheirs = true
				}
			}
			if check.synced < int64(theirs) {
				t.Fatalf("synced %d, but %v was stored before the replay ended", check.synced, theirs)
			}
			check.want(allMessages(t, b.Store(), id), true)
			if len(check.got) < n*9/10 {
				t.Fatalf("only %d messages replayed", len(check.got))
			}
		})

		t.Run("by the agent", func(t *testing.T) {
			vis := visitor(t, base, token)
			// A second conversation, whose messages keep coming during the
			// replay of the first.
			alice.must("presence", map[string]any{"presence": "available"})
			conv2, _, vis2 := connected(t, base, alice)
			hc := login(t, base, "alice", "pw-alice")
			desk := dialPull(t, strings.Replace(base, "http", "ws", 1)+"/ws", deskHeader(base, hc))
			check := &replayCheck{t: t, conv: conv, got: map[int64]int{}}
			for f := desk.next(); f.Type != "hello"; f = desk.next() {
			}
			desk.send(map[string]any{"type": "resume", "id": "r2", "conversations": map[string]any{conv: 0}})
			for f := desk.next(); ; f = desk.next() {
				check.see(f)
				if f.Type == "message" && f.Conversation == conv {
					break
				}
			}
			desk.send(map[string]any{"type": "typing", "conversation": conv, "on": true})
			desk.send(map[string]any{"type": "send", "id": "live-a", "conversation": conv, "text": "agent during the replay"})
			vis.waitFor("typing", map[string]any{"sender": "agent:alice"})
			mine := vis.waitFor("message", map[string]any{"text": "agent during the replay"})["seq"].(float64)
			theirs := vis.must("send", map[string]any{"text": "visitor during the replay"})["seq"].(float64)
			other := vis2.must("send", map[string]any{"text": "meanwhile, elsewhere"})["seq"].(float64)
			acked, sawMine, sawTheirs, sawOther := false, false, false, false
			for !acked || !sawMine || !sawTheirs || !sawOther {
				f := desk.next()
				check.see(f)
				switch {
				case f.Type == "message" && f.Conversation == conv2 && f.Seq == int64(other):
					// Not after the whole replay: the replay leaves room in
					// the outbox, and has thousands of messages to go.
					if check.synced != 0 {
						t.Fatal("a message of another conversation waited for the end of the replay")
					}
					sawOther = true
				case f.Type == "ack" && f.ID == "r2":
					if check.synced == 0 {
						t.Fatal("the resume was acknowledged before synced")
					}
					acked = true
				case f.Type == "message" && f.Seq == int64(mine):
					sawMine = true
				case f.Type == "message" && f.Seq == int64(theirs):
					sawTheirs = true
				}
			}
			check.want(allMessages(t, b.Store(), id), false)
			if check.notes == 0 {
				t.Fatal("the agent got no notes")
			}
		})
	})
}
