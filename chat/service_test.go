package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
)

// memStore is an in-memory Store for the unit tests of this package. It
// can fail the next commits and hold a commit until released.
type memStore struct {
	mu    sync.Mutex
	convs map[store.ConversationID]store.Conversation
	msgs  map[store.ConversationID][]store.Message
	fail  int
	gate  chan struct{} // when set, CommitChat waits for it to close
	calls int
	held  int // messages of the calls waiting at the gate
	finds int // FindMessageByClientID calls
	// lists and eventLists count the ListMessages and ListMessageEvents
	// calls, read the messages they returned.
	lists, eventLists, read int
}

func newMemStore() *memStore {
	return &memStore{convs: map[store.ConversationID]store.Conversation{}, msgs: map[store.ConversationID][]store.Message{}}
}

func (m *memStore) CommitChat(ctx context.Context, b store.ChatBatch) ([]store.ConversationID, error) {
	m.mu.Lock()
	gate := m.gate
	m.calls++
	if m.fail > 0 {
		m.fail--
		m.mu.Unlock()
		return nil, errors.New("connection reset")
	}
	if gate != nil {
		m.held += len(b.Messages)
	}
	m.mu.Unlock()
	if gate != nil {
		<-gate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	convs := maps.Clone(m.convs)
	var taken []store.ConversationID
	for _, c := range b.Create {
		if have, ok := convs[c.ID]; ok && !have.CreatedAt.Equal(c.CreatedAt) {
			taken = append(taken, c.ID)
			continue
		}
		convs[c.ID] = c
	}
	for _, msg := range b.Messages {
		if _, ok := convs[msg.Conversation]; !ok {
			return nil, store.ErrNotFound
		}
	}
	m.convs = convs
	for _, msg := range b.Messages {
		have := m.msgs[msg.Conversation]
		if slices.ContainsFunc(have, func(x store.Message) bool { return x.Seq == msg.Seq }) {
			continue
		}
		m.msgs[msg.Conversation] = append(have, msg)
		if c := m.convs[msg.Conversation]; msg.Seq > c.LastSeq { // as the stores: LastSeq moves with the messages
			c.LastSeq = msg.Seq
			m.convs[msg.Conversation] = c
		}
	}
	for _, c := range b.Update {
		if have, ok := m.convs[c.ID]; ok {
			c.LastSeq, c.CreatedAt = have.LastSeq, have.CreatedAt // a batch update keeps them
			m.convs[c.ID] = c
		}
	}
	return taken, nil
}

func (m *memStore) GetConversation(_ context.Context, id store.ConversationID) (store.Conversation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.convs[id]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

func (m *memStore) ListMessages(_ context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	var out []store.Message
	for _, msg := range m.msgs[id] {
		if msg.Seq > after && len(out) < limit {
			out = append(out, msg)
		}
	}
	m.read += len(out)
	return out, nil
}

func (m *memStore) ListMessageEvents(_ context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.eventLists++
	var out []store.Message
	for _, msg := range m.msgs[id] {
		if msg.Kind == store.MsgEvent && msg.Seq > after && len(out) < limit {
			out = append(out, msg)
		}
	}
	m.read += len(out)
	return out, nil
}

func (m *memStore) FindMessageByClientID(_ context.Context, id store.ConversationID, sender, clientID string) (store.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finds++
	for _, msg := range m.msgs[id] {
		if msg.Sender == sender && msg.ClientID == clientID && clientID != "" {
			return msg, nil
		}
	}
	return store.Message{}, store.ErrNotFound
}

func (m *memStore) stored(id store.ConversationID) []store.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs[id])
}

type deliveries struct {
	mu   sync.Mutex
	msgs []store.Message
}

func (d *deliveries) add(m store.Message) { d.mu.Lock(); d.msgs = append(d.msgs, m); d.mu.Unlock() }
func (d *deliveries) all() []store.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.msgs)
}

func newService(t *testing.T, st *memStore) (*Service, *deliveries) {
	t.Helper()
	d := &deliveries{}
	s := New(Config{MaxTextBytes: 100}, slog.New(slog.NewTextHandler(io.Discard, nil)), st, d.add)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, d
}

// opened returns a service with conversation "c" where agent "alice" is
// the owner.
func opened(t *testing.T) (*Service, *memStore, *deliveries) {
	t.Helper()
	st := newMemStore()
	s, d := newService(t, st)
	ctx := t.Context()
	if _, err := s.Open(ctx, Spec{ID: "c", Interaction: "c", Queue: "sales", VisitorName: "Ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Join(ctx, "c", "alice", RoleOwner); err != nil {
		t.Fatal(err)
	}
	return s, st, d
}

func TestMessagesAreNumberedStoredBeforeTheAckAndDeliveredInOrder(t *testing.T) {
	s, st, d := opened(t)
	ctx := t.Context()
	for i := range 10 {
		who := SenderVisitor
		if i%2 == 1 {
			who = AgentSender("alice")
		}
		m, dup, err := s.Send(ctx, "c", who, fmt.Sprint("id-", i), store.MsgText, fmt.Sprint("hello ", i))
		if err != nil || dup {
			t.Fatalf("send %d: %v dup=%v", i, err, dup)
		}
		if !slices.ContainsFunc(st.stored("c"), func(x store.Message) bool { return x.Seq == m.Seq }) {
			t.Fatalf("send %d acknowledged before it was stored", i)
		}
	}
	got := d.all()
	for i, m := range got {
		if m.Seq != int64(i+1) {
			t.Fatalf("delivery %d has seq %d: gap or disorder", i, m.Seq)
		}
	}
	if len(got) != 11 { // the join and ten messages
		t.Fatalf("%d deliveries", len(got))
	}
}

func TestARetriedSendActsOnce(t *testing.T) {
	s, st, d := opened(t)
	ctx := t.Context()
	first, _, err := s.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "hi")
	if err != nil {
		t.Fatal(err)
	}
	again, dup, err := s.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "hi")
	if err != nil || !dup || again.Seq != first.Seq {
		t.Fatalf("retry: %+v dup=%v err=%v", again, dup, err)
	}
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "something else"); !errors.Is(err, ErrConflict) {
		t.Fatalf("same id, other text: %v", err)
	}
	// The same client id from another sender is another message.
	if _, dup, err := s.Send(ctx, "c", AgentSender("alice"), "k1", store.MsgText, "hi"); err != nil || dup {
		t.Fatalf("agent with the visitor's id: %v dup=%v", err, dup)
	}
	if n := len(st.stored("c")); n != 3 {
		t.Fatalf("%d messages stored, want 3 (join, hi, agent's hi)", n)
	}
	if n := len(d.all()); n != 3 {
		t.Fatalf("%d deliveries, want 3", n)
	}
}

func TestHoldStopsTheVisitorAndOnlyTheOwnerHolds(t *testing.T) {
	s, st, _ := opened(t)
	ctx := t.Context()
	if _, err := s.Hold(ctx, "c", "bob", true); !errors.Is(err, ErrNotParticipant) {
		t.Fatalf("hold by a stranger: %v", err)
	}
	if _, err := s.Hold(ctx, "c", "alice", true); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetConversation(ctx, "c"); c.Status != store.ConvHeld {
		t.Fatalf("status %q while held", c.Status)
	}
	before := len(st.stored("c"))
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "x", store.MsgText, "hello?"); !errors.Is(err, ErrOnHold) {
		t.Fatalf("visitor send during hold: %v", err)
	}
	if len(st.stored("c")) != before {
		t.Fatal("a refused message was stored")
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("alice"), "a", store.MsgText, "one moment"); err != nil {
		t.Fatalf("agent send during hold: %v", err)
	}
	if _, err := s.Hold(ctx, "c", "alice", true); !errors.Is(err, ErrWrongState) {
		t.Fatalf("hold twice: %v, want ErrWrongState", err)
	}
	if _, err := s.Hold(ctx, "c", "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold(ctx, "c", "alice", false); !errors.Is(err, ErrWrongState) {
		t.Fatalf("unhold when not on hold: %v, want ErrWrongState", err)
	}
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "x", store.MsgText, "hello?"); err != nil {
		t.Fatalf("visitor send after resume: %v", err)
	}
}

func TestNotesConsultsAndWhatTheVisitorSees(t *testing.T) {
	s, _, _ := opened(t)
	ctx := t.Context()
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "", store.MsgNote, "sneaky"); !errors.Is(err, ErrWrongRole) {
		t.Fatalf("visitor note: %v", err)
	}
	if _, err := s.Join(ctx, "c", "bob", RoleConsult); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("bob"), "", store.MsgText, "hi visitor"); !errors.Is(err, ErrWrongRole) {
		t.Fatalf("consult text before hand-over: %v", err)
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("bob"), "", store.MsgNote, "I can take it"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("alice"), "", store.MsgNote, "VIP customer"); err != nil {
		t.Fatal(err)
	}
	vis, err := s.History(ctx, "c", SenderVisitor, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range vis {
		if m.Kind == store.MsgNote {
			t.Fatalf("the visitor sees a note: %+v", m)
		}
	}
	all, _ := s.History(ctx, "c", AgentSender("bob"), 0, 100)
	if len(all) != len(vis)+2 {
		t.Fatalf("agent sees %d, visitor %d", len(all), len(vis))
	}
	if _, err := s.HandOver(ctx, "c", "alice", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Leave(ctx, "c", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("bob"), "", store.MsgText, "Hello, I'm Bob"); err != nil {
		t.Fatalf("new owner text: %v", err)
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("alice"), "", store.MsgText, "still here?"); !errors.Is(err, ErrNotParticipant) {
		t.Fatalf("the agent who left: %v", err)
	}
}

func TestBadInputIsRefusedAndNothingIsStored(t *testing.T) {
	s, st, _ := opened(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		conv     store.ConversationID
		who      Sender
		clientID string
		kind     string
		text     string
		want     error
	}{
		{"an empty message", "c", SenderVisitor, "", store.MsgText, "  \n", ErrEmpty},
		{"a message over the limit", "c", SenderVisitor, "", store.MsgText, strings.Repeat("x", 101), ErrTooLong},
		{"invalid UTF-8", "c", SenderVisitor, "", store.MsgText, "bad \xff byte", ErrInvalidText},
		{"a NUL byte", "c", SenderVisitor, "", store.MsgText, "nul \x00 here", ErrInvalidText},
		{"an oversized client id", "c", SenderVisitor, strings.Repeat("k", 65), store.MsgText, "hi", ErrBadClientID},
		{"an unknown kind", "c", SenderVisitor, "", "html", "hi", ErrWrongRole},
		{"an unknown conversation", "nope", SenderVisitor, "", store.MsgText, "hi", ErrUnknownConversation},
		{"somebody who does not take part", "c", AgentSender("mallory"), "", store.MsgText, "hi", ErrNotParticipant},
	}
	before := len(st.stored("c"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := s.Send(ctx, tc.conv, tc.who, tc.clientID, tc.kind, tc.text); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if len(st.stored("c")) != before {
		t.Fatal("refused input was stored")
	}
	if _, err := s.End(ctx, "c", SenderVisitor, "visitor_left"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(ctx, "c", AgentSender("alice"), "", store.MsgText, "bye"); !errors.Is(err, ErrEnded) {
		t.Fatalf("send after end: %v", err)
	}
	if _, err := s.Hold(ctx, "c", "alice", true); !errors.Is(err, ErrEnded) {
		t.Fatalf("hold after end: %v", err)
	}
}

func TestStoreFailuresDelayTheAckButLoseNothing(t *testing.T) {
	s, st, d := opened(t)
	st.mu.Lock()
	st.fail = 3
	st.mu.Unlock()
	m, _, err := s.Send(t.Context(), "c", SenderVisitor, "k", store.MsgText, "are you there?")
	if err != nil {
		t.Fatal(err)
	}
	if st.calls < 5 { // open's join, three failures, the success
		t.Fatalf("acknowledged after %d append calls", st.calls)
	}
	if got := d.all(); got[len(got)-1].Seq != m.Seq {
		t.Fatal("the message was not delivered after the retry")
	}
	// A sender whose wait ended early gets an error, yet the message is
	// committed and a retry with the same id finds it.
	st.mu.Lock()
	st.fail = 2
	st.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	_, _, err = s.Send(ctx, "c", SenderVisitor, "k2", store.MsgText, "hello?")
	if err != nil && !errors.Is(err, ErrNotCommitted) {
		t.Fatalf("early give-up: %v", err)
	}
	again, _, err := s.Send(t.Context(), "c", SenderVisitor, "k2", store.MsgText, "hello?")
	if err != nil || again.Seq != m.Seq+1 {
		t.Fatalf("retry after give-up: %+v %v", again, err)
	}
}

func TestMessagesOfManyConversationsAreCommittedTogether(t *testing.T) {
	st := newMemStore()
	s, _ := newService(t, st)
	ctx := t.Context()
	const n = 50
	for i := range n {
		if _, err := s.Open(ctx, Spec{ID: store.ConversationID(fmt.Sprint("c", i))}); err != nil {
			t.Fatal(err)
		}
	}
	gate := make(chan struct{})
	var open sync.Once
	release := func() { open.Do(func() { close(gate) }) }
	t.Cleanup(release) // never leave the committer stuck, even on failure
	st.mu.Lock()
	st.gate, st.calls, st.held = gate, 0, 0
	st.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, _, err := s.Send(ctx, store.ConversationID(fmt.Sprint("c", i)), SenderVisitor, "k", store.MsgText, "hi")
			errs <- err
		})
	}
	testutil.Eventually(t, "the first batch held at the gate and the rest queued", func() bool {
		queued := s.commit.queue.Len()
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.calls >= 1 && st.held+queued == n
	})
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st.calls >= n {
		t.Fatalf("%d appends for %d messages: no group commit", st.calls, n)
	}
}

func TestAReloadedConversationKeepsItsState(t *testing.T) {
	s, st, _ := opened(t)
	ctx := t.Context()
	first, _, _ := s.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "hi")
	if _, err := s.Hold(ctx, "c", "alice", true); err != nil {
		t.Fatal(err)
	}
	// A new process over the same store.
	s2, _ := newService(t, st)
	if _, _, err := s2.Send(ctx, "c", SenderVisitor, "k9", store.MsgText, "still held?"); !errors.Is(err, ErrOnHold) {
		t.Fatalf("hold after reload: %v", err)
	}
	again, dup, err := s2.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "hi")
	if err != nil || !dup || again.Seq != first.Seq {
		t.Fatalf("retry after reload: %+v dup=%v %v", again, dup, err)
	}
	m, err := s2.Hold(ctx, "c", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(st.stored("c"))); m.Seq != want {
		t.Fatalf("sequence after reload: %d, want %d", m.Seq, want)
	}
}

// Once committed, a message leaves only a pointer-free hash in memory: a
// retry of it is answered from the store, and new ids never ask the store.
func TestCommittedMessagesAreForgottenButRetriesStillActOnce(t *testing.T) {
	s, st, _ := opened(t)
	ctx := t.Context()
	for i := range 50 {
		if _, _, err := s.Send(ctx, "c", SenderVisitor, fmt.Sprint("k", i), store.MsgText, fmt.Sprint("hi ", i)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := s.get(ctx, "c")
	c.mu.Lock()
	inflight, sent := len(c.inflight), len(c.sent)
	c.mu.Unlock()
	st.mu.Lock()
	finds := st.finds
	st.mu.Unlock()
	if inflight != 0 || sent != 50 || finds != 0 {
		t.Fatalf("after 50 commits: %d in flight, %d hashes, %d store look-ups; want 0, 50, 0", inflight, sent, finds)
	}
	again, dup, err := s.Send(ctx, "c", SenderVisitor, "k7", store.MsgText, "hi 7")
	if err != nil || !dup || again.Text != "hi 7" || again.Seq != 9 {
		t.Fatalf("retry of a committed message: %+v dup=%v err=%v", again, dup, err)
	}
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "k7", store.MsgText, "other"); !errors.Is(err, ErrConflict) {
		t.Fatalf("same id, other text: %v", err)
	}
	if n := len(st.stored("c")); n != 51 {
		t.Fatalf("%d messages stored, want 51", n)
	}
}

// Two ids whose hashes collide are still two messages.
func TestHashCollisionsAreSettledByTheStore(t *testing.T) {
	s, st, _ := opened(t)
	s.hash = func(string) uint64 { return 42 }
	ctx := t.Context()
	for i := range 5 {
		m, dup, err := s.Send(ctx, "c", SenderVisitor, fmt.Sprint("k", i), store.MsgText, "same text")
		if err != nil || dup {
			t.Fatalf("send %d: %+v dup=%v err=%v", i, m, dup, err)
		}
	}
	if _, dup, err := s.Send(ctx, "c", SenderVisitor, "k3", store.MsgText, "same text"); err != nil || !dup {
		t.Fatalf("retry: dup=%v err=%v", dup, err)
	}
	if n := len(st.stored("c")); n != 6 {
		t.Fatalf("%d messages stored, want 6 (join and five)", n)
	}
}

// Ended conversations leave memory after EvictAfter; asked for later, they
// come back from the store as they were.
func TestEndedConversationsAreEvictedAndReloaded(t *testing.T) {
	s, _, _ := opened(t)
	ctx := t.Context()
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, Spec{ID: "open", Interaction: "open", Queue: "sales"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.End(ctx, "c", AgentSender("alice"), "done"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if n := s.evictEnded(now); n != 0 {
		t.Fatalf("evicted %d right after the end", n)
	}
	if n := s.evictEnded(now.Add(EvictAfter + time.Second)); n != 1 {
		t.Fatalf("evicted %d, want the ended one", n)
	}
	s.mu.Lock()
	_, inMem := s.convs["c"]
	_, openInMem := s.convs["open"]
	s.mu.Unlock()
	if inMem || !openInMem {
		t.Fatalf("after eviction: ended in memory %v, open in memory %v", inMem, openInMem)
	}
	h, err := s.History(ctx, "c", AgentSender("alice"), 0, 100)
	if err != nil || len(h) != 3 || h[1].Text != "hi" {
		t.Fatalf("history of the evicted conversation: %v %+v", err, h)
	}
	if _, dup, err := s.Send(ctx, "c", SenderVisitor, "k1", store.MsgText, "hi"); err != nil || !dup {
		t.Fatalf("retry after eviction: dup=%v err=%v", dup, err)
	}
	if _, _, err := s.Send(ctx, "c", SenderVisitor, "k2", store.MsgText, "late"); !errors.Is(err, ErrEnded) {
		t.Fatalf("send to the evicted ended conversation: %v", err)
	}
}

// A visitor's page may hold only notes: it comes back empty, yet says how
// far it read, so a reader paging by it goes on to what follows (paging by
// the last message seen would stop there).
func TestAHistoryPageOfNotesMovesOnForTheVisitor(t *testing.T) {
	s, _, _ := opened(t)
	ctx := t.Context()
	var last int64
	for i := range 5 {
		m, _, err := s.Send(ctx, "c", AgentSender("alice"), fmt.Sprint("n", i), store.MsgNote, "note")
		if err != nil {
			t.Fatal(err)
		}
		last = m.Seq
	}
	after, _, err := s.Send(ctx, "c", AgentSender("alice"), "t", store.MsgText, "visible")
	if err != nil {
		t.Fatal(err)
	}
	msgs, upTo, full, err := s.HistoryPage(ctx, "c", SenderVisitor, last-5, 5)
	if err != nil || len(msgs) != 0 || upTo != last || !full {
		t.Fatalf("a page of notes: %d messages, upTo %d (want %d), full %v, %v", len(msgs), upTo, last, full, err)
	}
	msgs, upTo, full, err = s.HistoryPage(ctx, "c", SenderVisitor, upTo, 5)
	if err != nil || len(msgs) != 1 || msgs[0].Seq != after.Seq || upTo != after.Seq || full {
		t.Fatalf("the next page: %v, upTo %d, full %v, %v", msgs, upTo, full, err)
	}
	if msgs, _, _, _ := s.HistoryPage(ctx, "c", AgentSender("alice"), last-5, 5); len(msgs) != 5 {
		t.Fatalf("the agent's page holds %d notes, want 5", len(msgs))
	}
}
