package signaling

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
)

func TestSeqSetKeepsDisjointRangesAndAnswersLikeAPlainSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var s seqSet
		plain := map[int64]bool{}
		for range 30 {
			lo := r.Int64N(60)
			hi := lo + r.Int64N(4) - 1 // sometimes empty
			s = s.add(lo, hi)
			for v := lo; v <= hi; v++ {
				plain[v] = true
			}
			for i := range s {
				if s[i].lo > s[i].hi || (i > 0 && s[i-1].hi+1 >= s[i].lo) {
					t.Fatalf("round %d: ranges not sorted, disjoint and apart: %v", round, s)
				}
			}
		}
		for v := int64(-1); v < 70; v++ {
			if s.has(v) != plain[v] {
				t.Fatalf("round %d: has(%d) = %v, want %v in %v", round, v, s.has(v), plain[v], s)
			}
			want := v
			for plain[want+1] {
				want++
			}
			if got := s.reach(v); got != want {
				t.Fatalf("round %d: reach(%d) = %d, want %d in %v", round, v, got, want, fmt.Sprint(s))
			}
		}
	}
}

func TestReplaysTakeEachSeqOnce(t *testing.T) {
	var r replays
	if !r.take("c", 5) || r.take("c", 5) {
		t.Fatal("seq 5 taken twice, or not at all")
	}
	if !r.take("d", 5) {
		t.Fatal("another conversation's seq 5 refused")
	}
	r.sent["c"] = r.sent["c"].add(1, 10)
	for seq := int64(1); seq <= 10; seq++ {
		if r.take("c", seq) {
			t.Fatalf("seq %d taken again after the range 1..10 was sent", seq)
		}
	}
	if !r.take("c", 11) {
		t.Fatal("seq 11 refused")
	}
}

// serverConn is the server's side of the one desk of agent id.
func (e *edge) serverConn(t *testing.T, id string) *conn {
	t.Helper()
	e.s.hub.mu.Lock()
	defer e.s.hub.mu.Unlock()
	if len(e.s.hub.agents[id]) != 1 {
		t.Fatalf("%d desks of %s, want 1", len(e.s.hub.agents[id]), id)
	}
	for c := range e.s.hub.agents[id] {
		return c
	}
	return nil
}

func (c *conn) recorded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.rp.sent))
}

// A desk open all week keeps the seq record of the conversations it is
// in, not of every one it ever was: an ended conversation, or one its
// agent left, is forgotten, live or replayed.
func TestAConnectionForgetsTheConversationsItCanHearNoMoreOf(t *testing.T) {
	e := newEdge(t, Config{})
	var mu sync.Mutex
	gone := map[store.ConversationID]bool{} // ann left it
	e.f.info = func(id store.ConversationID) (store.Conversation, map[chat.Sender]chat.Role, error) {
		mu.Lock()
		defer mu.Unlock()
		parts := map[chat.Sender]chat.Role{chat.SenderVisitor: chat.RoleVisitor}
		if !gone[id] {
			parts[chat.AgentSender("ann")] = chat.RoleOwner
		}
		st := store.ConvActive
		if strings.HasPrefix(string(id), "ended") {
			st = store.ConvEnded
		}
		return store.Conversation{ID: id, Status: st}, parts, nil
	}
	e.f.history = func(id store.ConversationID, after int64) ([]store.Message, int64, bool, error) {
		var msgs []store.Message
		for seq := after + 1; seq <= 3; seq++ {
			msgs = append(msgs, store.Message{Conversation: id, Seq: seq, Sender: string(chat.SenderVisitor), Kind: store.MsgText, Text: "hi"})
		}
		return msgs, max(after, 3), false, nil
	}
	c, _, err := e.dial(t, "ann", "")
	if err != nil {
		t.Fatal(err)
	}
	c.next("hello")
	srv := e.serverConn(t, "ann")

	const n = 50
	for i := range n {
		conv := store.ConversationID(fmt.Sprint("c", i))
		e.s.hub.message(store.Message{Conversation: conv, Seq: 1, Sender: string(chat.SenderVisitor), Kind: store.MsgText, Text: "hi"})
		if i%2 == 0 {
			e.s.hub.message(store.Message{Conversation: conv, Seq: 2, Sender: string(chat.SenderSystem), Kind: store.MsgEvent, Event: chat.EvEnded})
		} else {
			mu.Lock()
			gone[conv] = true
			mu.Unlock()
			e.s.hub.message(store.Message{Conversation: conv, Seq: 2, Sender: string(chat.AgentSender("ann")), Kind: store.MsgEvent, Event: chat.EvLeft})
		}
	}
	e.s.hub.message(store.Message{Conversation: "open", Seq: 1, Sender: string(chat.SenderVisitor), Kind: store.MsgText, Text: "hi"})
	for range 2*n + 1 {
		c.next("message")
	}
	if got := srv.recorded(); !slices.Equal(got, []string{"open"}) {
		t.Fatalf("%d conversations recorded after %d ended or were left: %v, want only the open one", len(got), n, got)
	}
	// The open one still takes each seq once.
	e.s.hub.message(store.Message{Conversation: "open", Seq: 1, Sender: string(chat.SenderVisitor), Kind: store.MsgText, Text: "hi"})

	// A history of an ended conversation sends it, and leaves no record.
	if got := historySeqs(t, c, "ended-1"); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("history of an ended conversation sent %v, want 1..3", got)
	}
	if got := srv.recorded(); !slices.Equal(got, []string{"open"}) {
		t.Fatalf("recorded after the history of an ended conversation: %v, want only the open one", got)
	}
	// One of an open conversation keeps its record: each seq comes once
	// (seq 1 came live, and its live resend above is not delivered).
	if got := historySeqs(t, c, "open"); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("history of the open conversation sent %v, want 2 and 3", got)
	}
	if got := srv.recorded(); !slices.Equal(got, []string{"open"}) {
		t.Fatalf("recorded after the history of the open conversation: %v", got)
	}
}

// historySeqs asks the history of conv from 0 and returns the seqs of the
// messages that came before the ack.
func historySeqs(t *testing.T, c *wsc, conv string) []int64 {
	t.Helper()
	id := "h-" + conv
	c.sendRaw(fmt.Sprintf(`{"type":"history","id":%q,"conversation":%q,"after":0}`, id, conv))
	var seqs []int64
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				t.Fatal("the connection closed")
			}
			switch {
			case m["type"] == "message":
				seqs = append(seqs, int64(m["seq"].(float64)))
			case m["id"] == id && m["type"] == "ack":
				return seqs
			case m["id"] == id:
				t.Fatalf("history of %s: %v", conv, m)
			}
		case <-time.After(testutil.EventuallyWithin):
			t.Fatalf("no reply to the history of %s", conv)
		}
	}
}
