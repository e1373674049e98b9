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
	"github.com/contactd/contactd/routing"
)

// recordingRouter records the commands it is given.
type recordingRouter struct {
	mu   sync.Mutex
	cmds []string
}

func (r *recordingRouter) Do(_ context.Context, cmd routing.Command) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, fmt.Sprintf("%T", cmd))
	return nil
}

func (r *recordingRouter) Enqueue(context.Context, routing.Enqueue, map[string]string) error {
	return nil
}

func TestReconcileBringsConversationsInStepWithRouting(t *testing.T) {
	for _, c := range []struct {
		name string
		// before sets conversation "c" up (opened, no agent yet).
		before     func(t *testing.T, s *Service)
		held       []routing.InteractionInfo
		stored     store.Interaction // "" ID: routing never had it
		wantAgents string
		wantStatus string
		wantReason string
		wantCmds   string
	}{
		{name: "an agent routing connected joins as owner",
			held:       []routing.InteractionInfo{{ID: "c", Status: routing.StatusConnected, Agent: "alice"}},
			wantAgents: "[agent:alice:owner]", wantStatus: store.ConvActive, wantCmds: "[]"},
		{name: "a consulted colleague routing connected becomes the owner and the first agent leaves",
			before: func(t *testing.T, s *Service) {
				mustJoin(t, s, "alice", RoleOwner)
				mustJoin(t, s, "bob", RoleConsult)
			},
			held:       []routing.InteractionInfo{{ID: "c", Status: routing.StatusConnected, Agent: "bob"}},
			wantAgents: "[agent:bob:owner]", wantStatus: store.ConvActive, wantCmds: "[]"},
		{name: "a consultation routing does not hold ends: the colleague leaves",
			before: func(t *testing.T, s *Service) {
				mustJoin(t, s, "alice", RoleOwner)
				mustJoin(t, s, "bob", RoleConsult)
			},
			held:       []routing.InteractionInfo{{ID: "c", Status: routing.StatusConnected, Agent: "alice"}},
			wantAgents: "[agent:alice:owner]", wantStatus: store.ConvActive, wantCmds: "[]"},
		{name: "agents of a conversation routing holds as waiting leave, and it is queued again",
			before:     func(t *testing.T, s *Service) { mustJoin(t, s, "alice", RoleOwner) },
			held:       []routing.InteractionInfo{{ID: "c", Status: routing.StatusWaiting}},
			wantAgents: "[]", wantStatus: store.ConvQueued, wantCmds: "[]"},
		{name: "a conversation routing closed ends with routing's reason",
			before:     func(t *testing.T, s *Service) { mustJoin(t, s, "alice", RoleOwner) },
			stored:     store.Interaction{ID: "c", Status: store.StatusEnded, EndReason: "max_wait"},
			wantAgents: "[agent:alice:owner]", wantStatus: store.ConvEnded, wantReason: "max_wait", wantCmds: "[]"},
		{name: "a conversation routing never queued ends as not routed",
			wantAgents: "[]", wantStatus: store.ConvEnded, wantReason: "not_routed", wantCmds: "[]"},
		{name: "routing follows a waiting conversation that ended: abandoned",
			before: func(t *testing.T, s *Service) {
				if _, err := s.End(t.Context(), "c", SenderVisitor, "visitor_ended"); err != nil {
					t.Fatal(err)
				}
			},
			held:       []routing.InteractionInfo{{ID: "c", Status: routing.StatusWaiting}},
			wantAgents: "[]", wantStatus: store.ConvEnded, wantReason: "visitor_ended", wantCmds: "[routing.Abandon]"},
		{name: "routing follows a connected conversation that ended: ended",
			before: func(t *testing.T, s *Service) {
				mustJoin(t, s, "alice", RoleOwner)
				if _, err := s.End(t.Context(), "c", AgentSender("alice"), "agent_ended"); err != nil {
					t.Fatal(err)
				}
			},
			held:       []routing.InteractionInfo{{ID: "c", Status: routing.StatusConnected, Agent: "alice"}},
			wantAgents: "[agent:alice:owner]", wantStatus: store.ConvEnded, wantReason: "agent_ended", wantCmds: "[routing.End]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newMemStore()
			s, _ := newService(t, st)
			ctx := t.Context()
			if _, err := s.Open(ctx, Spec{ID: "c", Interaction: "c", Queue: "sales"}); err != nil {
				t.Fatal(err)
			}
			if c.before != nil {
				c.before(t, s)
			}
			// The restart: a new service over the same store.
			s2, _ := newService(t, st)
			r := &recordingRouter{}
			co := NewCoordinator(s2, r, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			open := []store.Conversation{}
			if rec, err := st.GetConversation(ctx, "c"); err == nil && rec.Status != store.ConvEnded {
				open = append(open, rec)
			}
			stored := func(_ context.Context, id routing.InteractionID) (store.Interaction, error) {
				if c.stored.ID == id {
					return c.stored, nil
				}
				return store.Interaction{}, fmt.Errorf("interaction %s: %w", id, store.ErrNotFound)
			}
			if _, err := co.Reconcile(ctx, c.held, open, stored); err != nil {
				t.Fatal(err)
			}
			s3, _ := newService(t, st) // what the store holds, read afresh
			rec, parts, err := s3.Info(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			var agents []string
			for who, role := range parts {
				if _, ok := AgentOf(who); ok {
					agents = append(agents, fmt.Sprintf("%s:%s", who, role))
				}
			}
			slices.Sort(agents)
			if got := fmt.Sprint(agents); got != c.wantAgents && !(c.wantAgents == "[]" && len(agents) == 0) {
				t.Errorf("agents %s, want %s", got, c.wantAgents)
			}
			if rec.Status != c.wantStatus || rec.EndReason != c.wantReason {
				t.Errorf("status %q reason %q, want %q %q", rec.Status, rec.EndReason, c.wantStatus, c.wantReason)
			}
			if got := fmt.Sprint(r.cmds); got != c.wantCmds && !(c.wantCmds == "[]" && len(r.cmds) == 0) {
				t.Errorf("routing commands %s, want %s", got, c.wantCmds)
			}
		})
	}
}

func mustJoin(t *testing.T, s *Service, agent routing.AgentID, role Role) {
	t.Helper()
	if _, err := s.Join(t.Context(), "c", agent, role); err != nil && !errors.Is(err, ErrWrongRole) {
		t.Fatal(err)
	}
}
