package storetest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// blnsJSON is the Big List of Naughty Strings; see testdata/README.md.
//
//go:embed testdata/blns.json
var blnsJSON []byte

// newConversation returns an active conversation with every field set but
// EndedAt and EndReason.
func newConversation(id store.ConversationID) store.Conversation {
	return store.Conversation{
		ID:          id,
		Interaction: routing.InteractionID("chat-" + string(id)),
		Queue:       "support",
		VisitorName: `Zoë "the visitor" O'Brien; DROP TABLE conversations; --`,
		Attributes:  map[string]string{"account": "42", "page": "https://example.com/pricing?plan=pro&x=1", "phone": "+44 20 7946 0000"},
		Status:      store.ConvActive,
		CreatedAt:   base,
		UpdatedAt:   base.Add(time.Minute),
	}
}

// newMessage returns a visitor's text message with a client id.
func newMessage(id store.ConversationID, seq int64) store.Message {
	return store.Message{
		Conversation: id,
		Seq:          seq,
		ClientID:     fmt.Sprintf("c%d", seq),
		Sender:       "visitor",
		Kind:         store.MsgText,
		Text:         fmt.Sprintf("message %d: héllo «world» 👋 \"quoted\" 'too'", seq),
		CreatedAt:    base.Add(time.Duration(seq) * time.Second),
	}
}

// createConversations creates a conversation for each id.
func createConversations(t *testing.T, ctx context.Context, s store.Store, ids ...store.ConversationID) {
	t.Helper()
	for _, id := range ids {
		must(t, s.CreateConversation(ctx, newConversation(id)))
	}
}

func canonConversation(c store.Conversation) store.Conversation {
	c.CreatedAt, c.UpdatedAt, c.EndedAt = canon(c.CreatedAt), canon(c.UpdatedAt), canon(c.EndedAt)
	return c
}

func wantConversation(t *testing.T, what string, got, want store.Conversation) {
	t.Helper()
	wantUTC(t, what, got.CreatedAt, got.UpdatedAt, got.EndedAt)
	wantEqual(t, what, canonConversation(got), canonConversation(want))
}

func canonMessages(ms []store.Message) []store.Message {
	out := make([]store.Message, len(ms))
	for i, m := range ms {
		m.CreatedAt = canon(m.CreatedAt)
		out[i] = m
	}
	return out
}

func wantMessages(t *testing.T, what string, got, want []store.Message) {
	t.Helper()
	for _, m := range got {
		wantUTC(t, fmt.Sprintf("%s: message %d", what, m.Seq), m.CreatedAt)
	}
	wantEqual(t, what, canonMessages(got), canonMessages(want))
}

// listMessages returns every message of conversation id.
func listMessages(t *testing.T, ctx context.Context, s store.Store, id store.ConversationID) []store.Message {
	t.Helper()
	ms, err := s.ListMessages(ctx, id, 0, 100000)
	must(t, err)
	return ms
}

func messageSeqs(ms []store.Message) []int64 {
	out := []int64{}
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

// wantLastSeq fails unless conversation id's LastSeq is want.
func wantLastSeq(t *testing.T, ctx context.Context, s store.Store, id store.ConversationID, want int64) {
	t.Helper()
	c, err := s.GetConversation(ctx, id)
	must(t, err)
	if c.LastSeq != want {
		t.Errorf("LastSeq of %s = %d, want %d", id, c.LastSeq, want)
	}
}

var conversationCases = []testCase{
	{"a new store has no conversations, left messages or sessions", func(t *testing.T, ctx context.Context, s store.Store) {
		open, err := s.ListOpenConversations(ctx)
		must(t, err)
		left, err := s.ListLeftMessages(ctx, store.LeftMessageFilter{}, 10)
		must(t, err)
		expired, err := s.DeleteExpiredSessions(ctx, base.Add(1000*time.Hour))
		must(t, err)
		if len(open) != 0 || len(left) != 0 || expired != 0 {
			t.Errorf("new store holds %d open conversations, %d left messages, %d sessions; want nothing", len(open), len(left), expired)
		}
	}},

	{"a created conversation reads back with every field and no last seq", func(t *testing.T, ctx context.Context, s store.Store) {
		c := newConversation("conv-1")
		c.Status, c.EndedAt, c.EndReason = store.ConvEnded, base.Add(10*time.Minute), "visitor_left"
		c.LastSeq = 42 // not the store's to take: no message is stored yet
		must(t, s.CreateConversation(ctx, c))
		got, err := s.GetConversation(ctx, "conv-1")
		must(t, err)
		c.LastSeq = 0
		wantConversation(t, "GetConversation", got, c)
	}},

	{"a conversation keeps nil attributes nil and empty ones empty", func(t *testing.T, ctx context.Context, s store.Store) {
		nilAttrs, emptyAttrs := newConversation("nil"), newConversation("empty")
		nilAttrs.Attributes, emptyAttrs.Attributes = nil, map[string]string{}
		must(t, s.CreateConversation(ctx, nilAttrs))
		must(t, s.CreateConversation(ctx, emptyAttrs))
		got, err := s.GetConversation(ctx, "nil")
		must(t, err)
		if got.Attributes != nil {
			t.Errorf("nil attributes came back as %#v", got.Attributes)
		}
		got, err = s.GetConversation(ctx, "empty")
		must(t, err)
		if got.Attributes == nil || len(got.Attributes) != 0 {
			t.Errorf("empty attributes came back as %#v", got.Attributes)
		}
	}},

	{"creating a conversation whose id is taken is a conflict", func(t *testing.T, ctx context.Context, s store.Store) {
		c := newConversation("conv-1")
		must(t, s.CreateConversation(ctx, c))
		other := newConversation("conv-1")
		other.VisitorName = "Someone else"
		wantErr(t, "second CreateConversation", s.CreateConversation(ctx, other), store.ErrConflict)
		got, err := s.GetConversation(ctx, "conv-1")
		must(t, err)
		wantConversation(t, "conversation after the conflict", got, c)
	}},

	{"an unknown conversation is not found", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "conv-1")
		_, err := s.GetConversation(ctx, "nobody")
		wantErr(t, "GetConversation", err, store.ErrNotFound)
	}},

	{"a chat batch update replaces everything but the id, creation time and last seq", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "conv-1")
		must(t, s.AppendMessages(ctx, []store.Message{newMessage("conv-1", 1), newMessage("conv-1", 2), newMessage("conv-1", 3)}))
		c := store.Conversation{
			ID: "conv-1", Interaction: "chat-2", Queue: "sales", VisitorName: "Renamed",
			Attributes: map[string]string{"location": "Zürich"}, Status: store.ConvEnded, LastSeq: 99,
			CreatedAt: base.Add(time.Hour), UpdatedAt: base.Add(20 * time.Minute),
			EndedAt: base.Add(20 * time.Minute), EndReason: "agent_ended",
		}
		_, err := s.CommitChat(ctx, store.ChatBatch{Update: []store.Conversation{c}})
		must(t, err)
		got, err := s.GetConversation(ctx, "conv-1")
		must(t, err)
		c.CreatedAt, c.LastSeq = base, 3
		wantConversation(t, "conversation after the update", got, c)
	}},

	{"open conversations come oldest first without the ended ones", func(t *testing.T, ctx context.Context, s store.Store) {
		created := []struct {
			id     store.ConversationID
			at     time.Time
			status string
		}{
			{"new", base.Add(2 * time.Minute), store.ConvQueued},
			{"alice", base.Add(time.Minute), store.ConvHeld},
			{"ended", base.Add(30 * time.Second), store.ConvEnded},
			{"Bob", base.Add(time.Minute), store.ConvActive}, // ties with alice; ids compare bytewise
			{"old", base, store.ConvActive},
			{"undated", time.Time{}, store.ConvQueued}, // no creation time comes first
		}
		for _, c := range created {
			conv := newConversation(c.id)
			conv.CreatedAt, conv.Status = c.at, c.status
			must(t, s.CreateConversation(ctx, conv))
		}
		got, err := s.ListOpenConversations(ctx)
		must(t, err)
		var ids []store.ConversationID
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		wantEqual(t, "open conversations", ids, []store.ConversationID{"undated", "old", "Bob", "alice", "new"})
		if len(got) > 1 {
			want := newConversation("old")
			wantConversation(t, "open conversation old", got[1], want)
		}
	}},
}

var messageCases = []testCase{
	{"appended messages read back in seq order with every field", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a")
		text := newMessage("a", 1)
		joined := store.Message{
			Conversation: "a", Seq: 2, Sender: "system", Kind: store.MsgEvent, Event: "transferred",
			Data: map[string]string{"from": "agent:ada", "to": "agent:bob", "queue": "sales"}, CreatedAt: base.Add(2 * time.Second),
		}
		note := store.Message{
			Conversation: "a", Seq: 3, ClientID: "n-1", Sender: "agent:ada", Kind: store.MsgNote,
			Text: "line one\nline two\ttabbed", Data: map[string]string{},
		} // no time: stays zero; empty Data stays empty
		must(t, s.AppendMessages(ctx, []store.Message{note}))
		must(t, s.AppendMessages(ctx, []store.Message{joined, text}))
		wantMessages(t, "ListMessages", listMessages(t, ctx, s, "a"), []store.Message{text, joined, note})
	}},

	{"the last seq follows the highest stored message", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a")
		wantLastSeq(t, ctx, s, "a", 0)
		must(t, s.AppendMessages(ctx, []store.Message{newMessage("a", 1), newMessage("a", 2)}))
		wantLastSeq(t, ctx, s, "a", 2)
		must(t, s.AppendMessages(ctx, []store.Message{newMessage("a", 5), newMessage("a", 3)}))
		wantLastSeq(t, ctx, s, "a", 5)
		must(t, s.AppendMessages(ctx, []store.Message{newMessage("a", 4)})) // late, below the last
		wantLastSeq(t, ctx, s, "a", 5)
		must(t, s.AppendMessages(ctx, []store.Message{newMessage("a", 1), newMessage("a", 2)})) // retried
		wantLastSeq(t, ctx, s, "a", 5)
		wantEqual(t, "seqs", messageSeqs(listMessages(t, ctx, s, "a")), []int64{1, 2, 3, 4, 5})
	}},

	{"one call stores messages of several conversations", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b", "c", "idle")
		var batch []store.Message
		for seq := int64(1); seq <= 3; seq++ {
			for _, id := range []store.ConversationID{"c", "a", "b"} {
				if id == "b" && seq == 3 {
					continue
				}
				batch = append(batch, newMessage(id, seq))
			}
		}
		must(t, s.AppendMessages(ctx, batch))
		for id, want := range map[store.ConversationID][]int64{"a": {1, 2, 3}, "b": {1, 2}, "c": {1, 2, 3}, "idle": {}} {
			got := listMessages(t, ctx, s, id)
			wantEqual(t, fmt.Sprintf("seqs of %s", id), messageSeqs(got), want)
			wantLastSeq(t, ctx, s, id, int64(len(want)))
		}
		wantMessages(t, "messages of b", listMessages(t, ctx, s, "b"), []store.Message{newMessage("b", 1), newMessage("b", 2)})
	}},

	{"a retried batch keeps one copy of each message", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b")
		first := []store.Message{newMessage("a", 1), newMessage("b", 1), newMessage("a", 2)}
		must(t, s.AppendMessages(ctx, first))
		// The same batch after a lost reply; then a changed copy of a's seq
		// 2 (another client id), which must not replace it, with a new one.
		must(t, s.AppendMessages(ctx, first))
		changed := newMessage("a", 2)
		changed.ClientID, changed.Text = "other", "changed"
		must(t, s.AppendMessages(ctx, []store.Message{changed, newMessage("a", 3)}))
		// The same message twice within one call.
		must(t, s.AppendMessages(ctx, []store.Message{newMessage("b", 2), newMessage("b", 2)}))
		wantMessages(t, "messages of a", listMessages(t, ctx, s, "a"),
			[]store.Message{newMessage("a", 1), newMessage("a", 2), newMessage("a", 3)})
		wantMessages(t, "messages of b", listMessages(t, ctx, s, "b"), []store.Message{newMessage("b", 1), newMessage("b", 2)})
		wantLastSeq(t, ctx, s, "a", 3)
		wantLastSeq(t, ctx, s, "b", 2)
	}},

	{"a client id is stored once per sender and conversation", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b")
		sent := newMessage("a", 1)
		sent.ClientID = "k1"
		must(t, s.AppendMessages(ctx, []store.Message{sent}))
		// A resend under a new seq, as after a reconnect: skipped, and the
		// last seq stays on the stored one.
		resent := newMessage("a", 2)
		resent.ClientID = "k1"
		must(t, s.AppendMessages(ctx, []store.Message{resent}))
		wantLastSeq(t, ctx, s, "a", 1)
		agent := newMessage("a", 3)
		agent.ClientID, agent.Sender = "k1", "agent:ada"
		elsewhere := newMessage("b", 1)
		elsewhere.ClientID = "k1"
		// Messages without a client id never collide.
		plain1, plain2 := newMessage("a", 4), newMessage("a", 5)
		plain1.ClientID, plain2.ClientID = "", ""
		must(t, s.AppendMessages(ctx, []store.Message{agent, elsewhere, plain1, plain2}))
		wantMessages(t, "messages of a", listMessages(t, ctx, s, "a"), []store.Message{sent, agent, plain1, plain2})
		wantMessages(t, "messages of b", listMessages(t, ctx, s, "b"), []store.Message{elsewhere})
		wantLastSeq(t, ctx, s, "a", 5)
	}},

	{"a batch naming an unknown conversation stores nothing and is not found", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b")
		err := s.AppendMessages(ctx, []store.Message{newMessage("a", 1), newMessage("nobody", 1), newMessage("b", 1)})
		wantErr(t, "AppendMessages", err, store.ErrNotFound)
		for _, id := range []store.ConversationID{"a", "b"} {
			if got := listMessages(t, ctx, s, id); len(got) != 0 {
				t.Errorf("conversation %s holds %d messages of the refused batch", id, len(got))
			}
			wantLastSeq(t, ctx, s, id, 0)
		}
		if _, err := s.GetConversation(ctx, "nobody"); err == nil {
			t.Error("the unknown conversation was created")
		}
	}},

	{"concurrent appends to different conversations lose no messages", func(t *testing.T, ctx context.Context, s store.Store) {
		const writers, calls, batch = 8, 20, 5
		var ids []store.ConversationID
		for w := range writers {
			ids = append(ids, store.ConversationID(fmt.Sprintf("w%d", w)))
		}
		createConversations(t, ctx, s, ids...)
		var wg sync.WaitGroup
		errs := make(chan error, writers*calls)
		for _, id := range ids {
			wg.Go(func() {
				for c := range calls {
					msgs := make([]store.Message, batch)
					for k := range batch {
						msgs[k] = newMessage(id, int64(c*batch+k+1))
					}
					if err := s.AppendMessages(ctx, msgs); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, id := range ids {
			got := listMessages(t, ctx, s, id)
			if len(got) != calls*batch {
				t.Errorf("%s holds %d messages, want %d", id, len(got), calls*batch)
			}
			wantLastSeq(t, ctx, s, id, calls*batch)
		}
	}},

	{"concurrent batches sharing conversations lose nothing", func(t *testing.T, ctx context.Context, s store.Store) {
		// Writer w sends its own conversation the odd seqs and its
		// neighbour's the even ones, in one batch, the two in an order that
		// alternates between writers: batches lock conversations in
		// opposite orders unless the store orders them.
		const writers, calls = 6, 25
		id := func(w int) store.ConversationID { return store.ConversationID(fmt.Sprintf("w%d", w%writers)) }
		for w := range writers {
			createConversations(t, ctx, s, id(w))
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*calls)
		for w := range writers {
			wg.Go(func() {
				for c := range calls {
					own := newMessage(id(w), int64(2*c+1))
					next := newMessage(id(w+1), int64(2*c+2))
					next.Sender = "agent:" + string(id(w))
					msgs := []store.Message{own, next}
					if w%2 == 1 {
						msgs = []store.Message{next, own}
					}
					if err := s.AppendMessages(ctx, msgs); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for w := range writers {
			got := listMessages(t, ctx, s, id(w))
			for i, m := range got {
				if m.Seq != int64(i+1) {
					t.Fatalf("message %d of %s has seq %d, want %d", i, id(w), m.Seq, i+1)
				}
			}
			if len(got) != 2*calls {
				t.Errorf("%s holds %d messages, want %d", id(w), len(got), 2*calls)
			}
			wantLastSeq(t, ctx, s, id(w), 2*calls)
		}
	}},

	{"messages page with after and limit", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b")
		var msgs []store.Message
		for seq := int64(10); seq >= 1; seq-- {
			msgs = append(msgs, newMessage("a", seq), newMessage("b", seq))
		}
		must(t, s.AppendMessages(ctx, msgs))
		tests := []struct {
			after int64
			limit int
			want  []int64
		}{
			{0, 100, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{3, 4, []int64{4, 5, 6, 7}},
			{8, 100, []int64{9, 10}},
			{10, 5, []int64{}},
			{-5, 1, []int64{1}},
		}
		for _, tt := range tests {
			got, err := s.ListMessages(ctx, "a", tt.after, tt.limit)
			must(t, err)
			wantEqual(t, fmt.Sprintf("ListMessages(a, %d, %d) seqs", tt.after, tt.limit), messageSeqs(got), tt.want)
		}
		var paged []store.Message
		for after := int64(0); ; {
			page, err := s.ListMessages(ctx, "b", after, 3)
			must(t, err)
			if len(page) == 0 {
				break
			}
			if len(paged) > 100 {
				t.Fatal("paging does not end")
			}
			paged = append(paged, page...)
			after = page[len(page)-1].Seq
		}
		var want []store.Message
		for seq := int64(1); seq <= 10; seq++ {
			want = append(want, newMessage("b", seq))
		}
		wantMessages(t, "b paged by 3", paged, want)
		for _, limit := range []int{0, -1} {
			if got, err := s.ListMessages(ctx, "a", 0, limit); err == nil {
				t.Errorf("ListMessages(a, 0, %d) = %d messages and no error, want an error", limit, len(got))
			}
		}
		got, err := s.ListMessages(ctx, "nobody", 0, 10)
		if err != nil || len(got) != 0 {
			t.Errorf("ListMessages of an unknown conversation = %d messages, %v; want an empty list", len(got), err)
		}
	}},

	{"the events of a conversation are listed without its text, in order and by pages", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b")
		var all []store.Message
		var events []store.Message
		for seq := int64(1); seq <= 12; seq++ {
			m := newMessage("a", seq)
			switch seq % 4 {
			case 0:
				m.Kind, m.Event, m.Text, m.ClientID, m.Sender = store.MsgEvent, "joined", "", "", "agent:ada"
				m.Data = map[string]string{"role": "owner"}
				events = append(events, m)
			case 1:
				m.Kind = store.MsgNote
			}
			all = append(all, m)
		}
		other := newMessage("b", 1)
		other.Kind, other.Event, other.Text, other.ClientID = store.MsgEvent, "left", "", ""
		must(t, s.AppendMessages(ctx, append(all, other)))
		got, err := s.ListMessageEvents(ctx, "a", 0, 100)
		must(t, err)
		wantMessages(t, "ListMessageEvents(a, 0, 100)", got, events)
		var paged []store.Message
		for after := int64(0); ; {
			page, err := s.ListMessageEvents(ctx, "a", after, 2)
			must(t, err)
			if len(page) == 0 {
				break
			}
			if len(paged) > 100 {
				t.Fatal("paging does not end")
			}
			paged = append(paged, page...)
			after = page[len(page)-1].Seq
		}
		wantMessages(t, "the events of a paged by 2", paged, events)
		got, err = s.ListMessageEvents(ctx, "a", 8, 100)
		must(t, err)
		wantEqual(t, "ListMessageEvents(a, 8, 100) seqs", messageSeqs(got), []int64{12})
		if got, err := s.ListMessageEvents(ctx, "a", 0, 0); err == nil {
			t.Errorf("ListMessageEvents(a, 0, 0) = %d messages and no error, want an error", len(got))
		}
		got, err = s.ListMessageEvents(ctx, "nobody", 0, 10)
		if err != nil || len(got) != 0 {
			t.Errorf("ListMessageEvents of an unknown conversation = %d messages, %v; want an empty list", len(got), err)
		}
	}},

	{"a message is found by its sender and client id", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a", "b")
		m := newMessage("a", 1)
		noID := newMessage("a", 2)
		noID.ClientID = ""
		must(t, s.AppendMessages(ctx, []store.Message{m, noID, newMessage("b", 1)}))
		got, err := s.FindMessageByClientID(ctx, "a", "visitor", m.ClientID)
		must(t, err)
		wantMessages(t, "FindMessageByClientID", []store.Message{got}, []store.Message{m})
		misses := []struct {
			name             string
			id               store.ConversationID
			sender, clientID string
		}{
			{"another sender", "a", "agent:ada", m.ClientID},
			{"an unknown client id", "a", "visitor", "c99"},
			{"an empty client id", "a", "visitor", ""},
			{"an unknown conversation", "nobody", "visitor", m.ClientID},
		}
		for _, tt := range misses {
			_, err := s.FindMessageByClientID(ctx, tt.id, tt.sender, tt.clientID)
			wantErr(t, "FindMessageByClientID with "+tt.name, err, store.ErrNotFound)
		}
	}},

	{"naughty strings read back byte for byte", func(t *testing.T, ctx context.Context, s store.Store) {
		var naughty []string
		must(t, json.Unmarshal(blnsJSON, &naughty))
		if len(naughty) < 500 {
			t.Fatalf("testdata/blns.json holds %d strings, want the whole list", len(naughty))
		}
		conv := newConversation("naughty")
		conv.VisitorName = naughty[len(naughty)-1]
		must(t, s.CreateConversation(ctx, conv))
		// The list repeats a few strings, so the client ids get a prefix.
		clientID := func(i int) string { return fmt.Sprintf("%d:%s", i, naughty[i]) }
		msgs := make([]store.Message, len(naughty))
		for i, str := range naughty {
			msgs[i] = store.Message{
				Conversation: "naughty", Seq: int64(i + 1), ClientID: clientID(i), Sender: "visitor", Kind: store.MsgText,
				Text: str, Data: map[string]string{"text": str}, CreatedAt: base,
			}
		}
		must(t, s.AppendMessages(ctx, msgs))
		got := listMessages(t, ctx, s, "naughty")
		if len(got) != len(naughty) {
			t.Fatalf("read back %d messages, want %d", len(got), len(naughty))
		}
		for i, m := range got {
			if m.Text != naughty[i] || m.Data["text"] != naughty[i] || m.ClientID != clientID(i) {
				t.Errorf("string %d: stored %q, read back text %q, data %q, client id %q", i, naughty[i], m.Text, m.Data["text"], m.ClientID)
			}
		}
		c, err := s.GetConversation(ctx, "naughty")
		must(t, err)
		if c.VisitorName != conv.VisitorName {
			t.Errorf("visitor name %q read back as %q", conv.VisitorName, c.VisitorName)
		}
	}},

	{"text with a NUL byte or invalid UTF-8 is invalid and nothing of the batch is stored", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a")
		tests := []struct {
			name   string
			change func(*store.Message)
		}{
			{"a NUL byte in the text", func(m *store.Message) { m.Text = "before\x00after" }},
			{"a text of one NUL byte", func(m *store.Message) { m.Text = "\x00" }},
			{"a truncated sequence", func(m *store.Message) { m.Text = "caf\xc3" }},
			{"Latin-1 bytes", func(m *store.Message) { m.Text = "caf\xe9" }},
			{"a stray continuation byte", func(m *store.Message) { m.Text = "\x80abc" }},
			{"an overlong encoding", func(m *store.Message) { m.Text = "\xc0\xaf" }},
			{"an encoded surrogate", func(m *store.Message) { m.Text = "\xed\xa0\x80" }},
			{"a NUL byte in the sender", func(m *store.Message) { m.Sender = "visitor\x00" }},
			{"invalid UTF-8 in the client id", func(m *store.Message) { m.ClientID = "\xff" }},
			{"a NUL byte in the event", func(m *store.Message) { m.Event = "\x00" }},
			{"a NUL byte in a data value", func(m *store.Message) { m.Data = map[string]string{"k": "v\x00"} }},
			{"invalid UTF-8 in a data key", func(m *store.Message) { m.Data = map[string]string{"\xfe": "v"} }},
			{"a seq below one", func(m *store.Message) { m.Seq = 0 }},
		}
		for _, tt := range tests {
			t.Run(tt.name+" is invalid", func(t *testing.T) {
				bad := newMessage("a", 2)
				tt.change(&bad)
				err := s.AppendMessages(ctx, []store.Message{newMessage("a", 1), bad, newMessage("a", 3)})
				wantErr(t, "AppendMessages", err, store.ErrInvalid)
				if got := listMessages(t, ctx, s, "a"); len(got) != 0 {
					t.Errorf("%d messages of the refused batch were stored", len(got))
				}
				wantLastSeq(t, ctx, s, "a", 0)
			})
		}
	}},

	{"conversations with a NUL byte or invalid UTF-8 are invalid", func(t *testing.T, ctx context.Context, s store.Store) {
		bad := newConversation("bad")
		bad.VisitorName = "Zo\x00ë"
		wantErr(t, "CreateConversation", s.CreateConversation(ctx, bad), store.ErrInvalid)
		if _, err := s.GetConversation(ctx, "bad"); err == nil {
			t.Error("the refused conversation was stored")
		}
		c := newConversation("good")
		must(t, s.CreateConversation(ctx, c))
		changed := c
		changed.Attributes = map[string]string{"page": "https://example.com/\xff"}
		_, err := s.CommitChat(ctx, store.ChatBatch{Update: []store.Conversation{changed}})
		wantErr(t, "CommitChat with the update", err, store.ErrInvalid)
		got, err := s.GetConversation(ctx, "good")
		must(t, err)
		wantConversation(t, "conversation after the refused update", got, c)
	}},

	{"appending no messages does nothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createConversations(t, ctx, s, "a")
		must(t, s.AppendMessages(ctx, nil))
		must(t, s.AppendMessages(ctx, []store.Message{}))
		if got := listMessages(t, ctx, s, "a"); len(got) != 0 {
			t.Errorf("conversation holds %d messages after appending none", len(got))
		}
		wantLastSeq(t, ctx, s, "a", 0)
	}},
}
