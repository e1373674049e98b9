package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

// hold makes the store's next commits wait at a gate; release opens it.
func (m *memStore) hold(t *testing.T) (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // never leave the committer stuck
	m.mu.Lock()
	m.gate, m.calls, m.held = gate, 0, 0
	m.mu.Unlock()
	return release
}

func (m *memStore) has(id store.ConversationID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.convs[id]
	return ok
}

func (m *memStore) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// waitWrites waits until n writes wait: queued in the committer, or
// messages of a commit held at the store's gate.
func waitWrites(t *testing.T, s *Service, st *memStore, n int) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("%d writes queued or held", n), func() bool {
		queued := s.commit.queue.Len()
		st.mu.Lock()
		defer st.mu.Unlock()
		return queued+st.held >= n
	})
}

// waitHeld waits until n messages of a commit wait at the store's gate.
func waitHeld(t *testing.T, st *memStore, n int) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("%d messages held at the gate", n), func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.held >= n
	})
}

// waitCommitStarted waits until the store saw a commit.
func waitCommitStarted(t *testing.T, st *memStore) {
	t.Helper()
	testutil.Eventually(t, "a commit reaching the store", func() bool { return st.callCount() > 0 })
}

func TestNewConversationsAreCommittedTogetherAndOpenReturnsOnlyOnceStored(t *testing.T) {
	st := newMemStore()
	s, _ := newService(t, st)
	ctx := t.Context()
	// A first commit waits at the gate; whatever comes meanwhile queues.
	if _, err := s.Open(ctx, Spec{ID: "first"}); err != nil {
		t.Fatal(err)
	}
	release := st.hold(t)
	go s.Send(ctx, "first", SenderVisitor, "k", store.MsgText, "hi") // the held commit
	// Wait until the message is at the gate, not merely queued: an Open
	// queued before the committer took the message would share the held
	// batch and never be counted as queued (CI saw "15 queued, 1 held").
	waitHeld(t, st, 1)
	const n = 20
	type result struct {
		id  store.ConversationID
		err error
	}
	results := make(chan result, n)
	for i := range n {
		id := store.ConversationID(fmt.Sprint("c", i))
		go func() {
			_, err := s.Open(ctx, Spec{ID: id})
			if err == nil && !st.has(id) {
				err = errors.New("Open returned before the conversation was stored")
			}
			results <- result{id, err}
		}()
	}
	waitWrites(t, s, st, n+1)
	select {
	case r := <-results:
		t.Fatalf("Open of %s returned while its commit was held: %v", r.id, r.err)
	default:
	}
	release()
	for range n {
		if r := <-results; r.err != nil {
			t.Fatalf("%s: %v", r.id, r.err)
		}
	}
	if calls := st.callCount(); calls > 2 {
		t.Fatalf("%d commits for one message and %d new conversations queued together, want 2", calls, n)
	}
}

func TestOpeningAnIdTakenInTheSameBatchOrBeforeIsAConflict(t *testing.T) {
	st := newMemStore()
	s, _ := newService(t, st)
	ctx := t.Context()
	if _, err := s.Open(ctx, Spec{ID: "room"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, Spec{ID: "room"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("opening a stored id: %v", err)
	}
	release := st.hold(t)
	go s.Open(ctx, Spec{ID: "held"}) // the held commit
	waitCommitStarted(t, st)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := s.Open(ctx, Spec{ID: "twice"})
			errs <- err
		}()
	}
	waitWrites(t, s, st, 2)
	release()
	var ok, conflict int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflict++
		default:
			t.Fatal(err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("two opens of one id in one batch: %d opened, %d conflicts; want one each", ok, conflict)
	}
}

func TestAnEventAndTheConversationsNewStateCommitTogether(t *testing.T) {
	s, st, _ := opened(t)
	ctx := t.Context()
	release := st.hold(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.Hold(ctx, "c", "alice", true)
		done <- err
	}()
	waitCommitStarted(t, st)
	select {
	case err := <-done:
		t.Fatalf("hold acknowledged while its commit was held: %v", err)
	default:
	}
	if c, _ := st.GetConversation(ctx, "c"); c.Status == store.ConvHeld {
		t.Fatal("the new status was stored before the event")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetConversation(ctx, "c"); c.Status != store.ConvHeld {
		t.Fatalf("status %q once the hold is acknowledged", c.Status)
	}
	if calls := st.callCount(); calls != 1 {
		t.Fatalf("%d commits for the event and its status, want 1", calls)
	}
}

type noRouter struct{}

func (noRouter) Do(context.Context, routing.Command) error { return nil }
func (noRouter) Enqueue(context.Context, routing.Enqueue, map[string]string) error {
	return nil
}

func TestTheCoordinatorJoinsABurstInOneCommitAndPassesEffectsOnInOrderOnceStored(t *testing.T) {
	st := newMemStore()
	s, _ := newService(t, st)
	ctx := t.Context()
	const n = 100
	var effs []routing.Effect
	for i := range n {
		id := store.ConversationID(fmt.Sprint("c", i))
		if _, err := s.Open(ctx, Spec{ID: id}); err != nil {
			t.Fatal(err)
		}
		effs = append(effs, routing.Assigned{Interaction: routing.InteractionID(id), Agent: "alice", Channel: routing.ChannelChat},
			routing.Position{Interaction: routing.InteractionID(id), Position: 1})
	}
	var mu sync.Mutex
	var passed []routing.Effect
	var problems []string
	onEffect := func(f routing.Effect) {
		if a, ok := f.(routing.Assigned); ok {
			msgs := st.stored(store.ConversationID(a.Interaction))
			if !slices.ContainsFunc(msgs, func(m store.Message) bool { return m.Event == EvJoined && m.Sender == "agent:alice" }) {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s passed on before the join was stored", a.Interaction))
				mu.Unlock()
			}
		}
		mu.Lock()
		passed = append(passed, f)
		mu.Unlock()
	}
	c := NewCoordinator(s, noRouter{}, slog.New(slog.NewTextHandler(io.Discard, nil)), onEffect)
	release := st.hold(t)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(cctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	c.Effects(effs)
	waitWrites(t, s, st, n) // every join queued or held
	release()
	testutil.Eventually(t, "every effect passed on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(passed) == len(effs)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	for i := range effs {
		if passed[i] != effs[i] {
			t.Fatalf("effect %d passed on out of order: %v", i, passed[i])
		}
	}
	if calls := st.callCount(); calls > 3 {
		t.Fatalf("%d commits for %d joins queued together; want them batched", calls, n)
	}
}
