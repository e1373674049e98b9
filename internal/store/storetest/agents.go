package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// newAgent returns an agent with every field set, text chosen to trip up
// careless quoting.
func newAgent(id routing.AgentID) store.Agent {
	return store.Agent{
		ID:              id,
		DisplayName:     `Zoë "Ada" O'Brien; DROP TABLE agents; -- 日本`,
		PasswordHash:    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
		Roles:           []store.Role{store.RoleAgent, store.RoleSupervisor},
		Skills:          map[routing.Skill]int{"english": 7, "billing": 3, "français": 10},
		Capacity:        map[routing.Channel]int{routing.ChannelVoice: 1, routing.ChannelChat: 4, "email": 0},
		VoiceBlocksChat: true,
		Presence:        routing.PresenceAway,
		AwayReason:      "lunch",
		PresenceSince:   base.Add(time.Minute),
		CreatedAt:       base,
		UpdatedAt:       base.Add(2 * time.Minute),
	}
}

// canonAgent puts a's times in canonical form for comparison.
func canonAgent(a store.Agent) store.Agent {
	a.PresenceSince, a.CreatedAt, a.UpdatedAt = canon(a.PresenceSince), canon(a.CreatedAt), canon(a.UpdatedAt)
	return a
}

func wantAgent(t *testing.T, what string, got, want store.Agent) {
	t.Helper()
	wantUTC(t, what, got.PresenceSince, got.CreatedAt, got.UpdatedAt)
	wantEqual(t, what, canonAgent(got), canonAgent(want))
}

var agentCases = []testCase{
	{"a created agent reads back with every field", func(t *testing.T, ctx context.Context, s store.Store) {
		a := newAgent("ada")
		must(t, s.CreateAgent(ctx, a))
		got, err := s.GetAgent(ctx, "ada")
		must(t, err)
		wantAgent(t, "GetAgent", got, a)
	}},

	{"creating an agent whose id is taken is a conflict", func(t *testing.T, ctx context.Context, s store.Store) {
		a := newAgent("ada")
		must(t, s.CreateAgent(ctx, a))
		other := newAgent("ada")
		other.DisplayName = "Someone else"
		wantErr(t, "second CreateAgent", s.CreateAgent(ctx, other), store.ErrConflict)
		got, err := s.GetAgent(ctx, "ada")
		must(t, err)
		wantAgent(t, "agent after the conflict", got, a)
	}},

	{"an unknown agent is not found", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		_, err := s.GetAgent(ctx, "nobody")
		wantErr(t, "GetAgent", err, store.ErrNotFound)
		wantErr(t, "UpdateAgent", s.UpdateAgent(ctx, newAgent("nobody")), store.ErrNotFound)
		wantErr(t, "SetAgentPresence", s.SetAgentPresence(ctx, "nobody", routing.PresenceAvailable, "", base), store.ErrNotFound)
		_, err = s.GetAgent(ctx, "")
		wantErr(t, "GetAgent with an empty id", err, store.ErrNotFound)
		n, err := s.CountAgents(ctx)
		must(t, err)
		if n != 1 {
			t.Errorf("CountAgents = %d after failed writes to an unknown agent, want 1", n)
		}
	}},

	{"updating an agent replaces everything but its creation time", func(t *testing.T, ctx context.Context, s store.Store) {
		a := newAgent("ada")
		must(t, s.CreateAgent(ctx, a))
		must(t, s.CreateAgent(ctx, newAgent("bob")))
		u := store.Agent{
			ID:            "ada",
			DisplayName:   "Ada L.",
			PasswordHash:  "new-hash",
			Roles:         []store.Role{store.RoleAdmin},
			Skills:        map[routing.Skill]int{"german": 2},
			Capacity:      map[routing.Channel]int{routing.ChannelChat: 2},
			Presence:      routing.PresenceAvailable,
			PresenceSince: base.Add(time.Hour),
			CreatedAt:     base.Add(-time.Hour), // must be ignored
			UpdatedAt:     base.Add(2 * time.Hour),
		}
		must(t, s.UpdateAgent(ctx, u))
		got, err := s.GetAgent(ctx, "ada")
		must(t, err)
		want := u
		want.CreatedAt = a.CreatedAt
		wantAgent(t, "updated agent", got, want)
		bob, err := s.GetAgent(ctx, "bob")
		must(t, err)
		wantAgent(t, "the other agent", bob, newAgent("bob"))
	}},

	{"agents are listed in bytewise id order", func(t *testing.T, ctx context.Context, s store.Store) {
		ids := []routing.AgentID{"zoe", "alice", "Bob", "al", "al-b", "al_b", "älva"}
		for _, id := range ids {
			must(t, s.CreateAgent(ctx, newAgent(id)))
		}
		got, err := s.ListAgents(ctx)
		must(t, err)
		want := slices.Clone(ids)
		slices.Sort(want)
		var gotIDs []routing.AgentID
		for _, a := range got {
			gotIDs = append(gotIDs, a.ID)
		}
		wantEqual(t, "ListAgents ids", gotIDs, want)
		if len(got) > 0 {
			wantAgent(t, "first listed agent", got[0], newAgent(want[0]))
		}
	}},

	{"agents of every role are counted", func(t *testing.T, ctx context.Context, s store.Store) {
		for i, roles := range [][]store.Role{{store.RoleAgent}, {store.RoleSupervisor}, {store.RoleAdmin}, nil} {
			a := newAgent(routing.AgentID(fmt.Sprintf("staff%d", i)))
			a.Roles = roles
			must(t, s.CreateAgent(ctx, a))
			n, err := s.CountAgents(ctx)
			must(t, err)
			if n != i+1 {
				t.Errorf("CountAgents = %d after %d creates, want %d", n, i+1, i+1)
			}
		}
	}},

	{"setting presence changes only the presence fields", func(t *testing.T, ctx context.Context, s store.Store) {
		a := newAgent("ada")
		must(t, s.CreateAgent(ctx, a))
		since := base.Add(90 * time.Minute)
		must(t, s.SetAgentPresence(ctx, "ada", routing.PresenceAvailable, "", since))
		got, err := s.GetAgent(ctx, "ada")
		must(t, err)
		want := a
		want.Presence, want.AwayReason, want.PresenceSince = routing.PresenceAvailable, "", since
		wantAgent(t, "agent after going available", got, want)

		must(t, s.SetAgentPresence(ctx, "ada", routing.PresenceAway, string(routing.ReasonMissed), since.Add(time.Second)))
		got, err = s.GetAgent(ctx, "ada")
		must(t, err)
		want.Presence, want.AwayReason, want.PresenceSince = routing.PresenceAway, string(routing.ReasonMissed), since.Add(time.Second)
		wantAgent(t, "agent after being set away", got, want)
	}},

	{"nil and empty agent maps and slices keep their difference", func(t *testing.T, ctx context.Context, s store.Store) {
		nilA := newAgent("nil")
		nilA.Roles, nilA.Skills, nilA.Capacity = nil, nil, nil
		emptyA := newAgent("empty")
		emptyA.Roles, emptyA.Skills, emptyA.Capacity = []store.Role{}, map[routing.Skill]int{}, map[routing.Channel]int{}
		must(t, s.CreateAgent(ctx, nilA))
		must(t, s.CreateAgent(ctx, emptyA))
		gotNil, err := s.GetAgent(ctx, "nil")
		must(t, err)
		gotEmpty, err := s.GetAgent(ctx, "empty")
		must(t, err)
		if gotNil.Roles != nil || gotNil.Skills != nil || gotNil.Capacity != nil {
			t.Errorf("nil roles, skills, capacity came back as %#v, %#v, %#v; want nil", gotNil.Roles, gotNil.Skills, gotNil.Capacity)
		}
		if gotEmpty.Roles == nil || gotEmpty.Skills == nil || gotEmpty.Capacity == nil ||
			len(gotEmpty.Roles)+len(gotEmpty.Skills)+len(gotEmpty.Capacity) != 0 {
			t.Errorf("empty roles, skills, capacity came back as %#v, %#v, %#v; want empty, not nil", gotEmpty.Roles, gotEmpty.Skills, gotEmpty.Capacity)
		}
		// Capacity is where it matters: nil is the default, empty is none.
		if gotNil.Capacity != nil || gotEmpty.Capacity == nil {
			t.Errorf("capacity nil-ness lost: nil agent %#v, empty agent %#v", gotNil.Capacity, gotEmpty.Capacity)
		}
	}},

	{"an agent's zero times stay zero", func(t *testing.T, ctx context.Context, s store.Store) {
		a := newAgent("ada")
		a.PresenceSince, a.CreatedAt, a.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
		must(t, s.CreateAgent(ctx, a))
		got, err := s.GetAgent(ctx, "ada")
		must(t, err)
		if !got.PresenceSince.IsZero() || !got.CreatedAt.IsZero() || !got.UpdatedAt.IsZero() {
			t.Errorf("zero times came back as %v, %v, %v", got.PresenceSince, got.CreatedAt, got.UpdatedAt)
		}
		wantAgent(t, "agent with zero times", got, a)
	}},

	{"many goroutines can use the store at once", func(t *testing.T, ctx context.Context, s store.Store) {
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					id := routing.AgentID(fmt.Sprintf("w%d-a%d", w, i))
					if err := s.CreateAgent(ctx, newAgent(id)); err != nil {
						errs <- err
						continue
					}
					if err := s.SetAgentPresence(ctx, id, routing.PresenceAvailable, "", base.Add(time.Duration(i)*time.Second)); err != nil {
						errs <- err
					}
					got, err := s.GetAgent(ctx, id)
					if err != nil {
						errs <- err
					} else if got.Presence != routing.PresenceAvailable {
						errs <- fmt.Errorf("agent %s has presence %q after SetAgentPresence", id, got.Presence)
					}
					if _, err := s.CountAgents(ctx); err != nil {
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
		n, err := s.CountAgents(ctx)
		must(t, err)
		if n != workers*each {
			t.Errorf("CountAgents = %d, want %d", n, workers*each)
		}
	}},
}
