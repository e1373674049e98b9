package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// newInteraction returns a connected interaction with every field set.
func newInteraction(id routing.InteractionID) store.Interaction {
	return store.Interaction{
		ID:             id,
		Channel:        routing.ChannelChat,
		Queue:          "support",
		Skills:         []routing.SkillReq{{Skill: "english", MinLevel: 2}, {Skill: "billing", MinLevel: 5}},
		PreferredAgent: "ada",
		Priority:       3,
		Status:         store.StatusConnected,
		Agent:          "bob",
		Attributes:     map[string]string{"name": `Zoë "the visitor"`, "page": "https://example.com/pricing?plan=pro&x=1", "account": "42"},
		CreatedAt:      base,
		EnqueuedAt:     base.Add(2 * time.Second),
		AcceptedAt:     base.Add(40 * time.Second),
	}
}

func canonInteraction(in store.Interaction) store.Interaction {
	in.CreatedAt, in.EnqueuedAt = canon(in.CreatedAt), canon(in.EnqueuedAt)
	in.AcceptedAt, in.EndedAt = canon(in.AcceptedAt), canon(in.EndedAt)
	return in
}

func wantInteraction(t *testing.T, what string, got, want store.Interaction) {
	t.Helper()
	wantUTC(t, what, got.CreatedAt, got.EnqueuedAt, got.AcceptedAt, got.EndedAt)
	wantEqual(t, what, canonInteraction(got), canonInteraction(want))
}

var interactionCases = []testCase{
	{"a created interaction reads back with every field", func(t *testing.T, ctx context.Context, s store.Store) {
		in := newInteraction("chat-1")
		in.EndedAt, in.EndReason, in.Status = base.Add(5*time.Minute), routing.ReasonEnded, store.StatusWrapUp
		must(t, s.CreateInteraction(ctx, in))
		got, err := s.GetInteraction(ctx, "chat-1")
		must(t, err)
		wantInteraction(t, "GetInteraction", got, in)
	}},

	{"an interaction not yet accepted or ended keeps zero times", func(t *testing.T, ctx context.Context, s store.Store) {
		in := newInteraction("chat-1")
		in.Status, in.Agent, in.AcceptedAt = store.StatusWaiting, "", time.Time{}
		must(t, s.CreateInteraction(ctx, in))
		got, err := s.GetInteraction(ctx, "chat-1")
		must(t, err)
		if !got.AcceptedAt.IsZero() || !got.EndedAt.IsZero() {
			t.Errorf("AcceptedAt %v, EndedAt %v; want both zero", got.AcceptedAt, got.EndedAt)
		}
		wantInteraction(t, "GetInteraction", got, in)
	}},

	{"nil and empty interaction skills and attributes keep their difference", func(t *testing.T, ctx context.Context, s store.Store) {
		nilIn := newInteraction("nil")
		nilIn.Skills, nilIn.Attributes = nil, nil
		emptyIn := newInteraction("empty")
		emptyIn.Skills, emptyIn.Attributes = []routing.SkillReq{}, map[string]string{}
		must(t, s.CreateInteraction(ctx, nilIn))
		must(t, s.CreateInteraction(ctx, emptyIn))
		gotNil, err := s.GetInteraction(ctx, "nil")
		must(t, err)
		gotEmpty, err := s.GetInteraction(ctx, "empty")
		must(t, err)
		if gotNil.Skills != nil || gotNil.Attributes != nil {
			t.Errorf("nil skills, attributes came back as %#v, %#v; want nil", gotNil.Skills, gotNil.Attributes)
		}
		if gotEmpty.Skills == nil || gotEmpty.Attributes == nil || len(gotEmpty.Skills)+len(gotEmpty.Attributes) != 0 {
			t.Errorf("empty skills, attributes came back as %#v, %#v; want empty, not nil", gotEmpty.Skills, gotEmpty.Attributes)
		}
	}},

	{"creating an interaction whose id is taken is a conflict", func(t *testing.T, ctx context.Context, s store.Store) {
		in := newInteraction("chat-1")
		must(t, s.CreateInteraction(ctx, in))
		other := newInteraction("chat-1")
		other.Queue = "sales"
		wantErr(t, "second CreateInteraction", s.CreateInteraction(ctx, other), store.ErrConflict)
		got, err := s.GetInteraction(ctx, "chat-1")
		must(t, err)
		wantInteraction(t, "interaction after the conflict", got, in)
	}},

	{"an unknown interaction is not found", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateInteraction(ctx, newInteraction("chat-1")))
		_, err := s.GetInteraction(ctx, "chat-2")
		wantErr(t, "GetInteraction", err, store.ErrNotFound)
	}},

	{"a routing batch replaces every field of an interaction but its creation time and attributes", func(t *testing.T, ctx context.Context, s store.Store) {
		in := newInteraction("chat-1")
		must(t, s.CreateInteraction(ctx, in))
		must(t, s.CreateInteraction(ctx, newInteraction("chat-2")))
		u := store.Interaction{
			ID:         "chat-1",
			Channel:    routing.ChannelVoice,
			Queue:      "sales",
			Skills:     []routing.SkillReq{{Skill: "german", MinLevel: 1}},
			Priority:   -2,
			Status:     store.StatusEnded,
			Attributes: map[string]string{"phone": "+33 1 23 45 67 89"},
			CreatedAt:  base.Add(time.Hour), // must be ignored
			EnqueuedAt: base.Add(time.Minute),
			AcceptedAt: base.Add(2 * time.Minute),
			EndedAt:    base.Add(3 * time.Minute),
			EndReason:  routing.ReasonAbandoned,
		}
		must(t, s.WriteRouting(ctx, store.RoutingBatch{Interactions: []store.Interaction{u}}))
		got, err := s.GetInteraction(ctx, "chat-1")
		must(t, err)
		want := u
		want.CreatedAt, want.Attributes = in.CreatedAt, in.Attributes
		wantInteraction(t, "updated interaction", got, want)
		other, err := s.GetInteraction(ctx, "chat-2")
		must(t, err)
		wantInteraction(t, "the other interaction", other, newInteraction("chat-2"))
	}},

	{"open interactions are listed by priority, then wait, then id, without ended ones", func(t *testing.T, ctx context.Context, s store.Store) {
		at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
		mk := func(id routing.InteractionID, prio int, enq time.Time, status string) store.Interaction {
			in := newInteraction(id)
			in.Priority, in.EnqueuedAt, in.Status = prio, enq, status
			if status == store.StatusEnded {
				in.EndedAt, in.EndReason = enq.Add(time.Minute), routing.ReasonEnded
			}
			return in
		}
		all := []store.Interaction{
			mk("low", 0, at(3), store.StatusWaiting),
			mk("hi-late", 5, at(10), store.StatusConnected),
			mk("hi-early-2", 5, at(2), store.StatusWaiting),
			mk("hi-early-1", 5, at(2), store.StatusParked),
			mk("done", 9, at(1), store.StatusEnded),
			mk("wrapping", 1, at(1), store.StatusWrapUp),
			mk("negative", -1, at(0), store.StatusWaiting),
			mk("low-micro-later", 0, at(3).Add(time.Microsecond), store.StatusWaiting),
			mk("never-enqueued", 0, time.Time{}, store.StatusWaiting),
			mk("soon-ended", 7, at(0), store.StatusWaiting),
		}
		for _, in := range all {
			must(t, s.CreateInteraction(ctx, in))
		}
		ended := all[9]
		ended.Status, ended.EndedAt, ended.EndReason = store.StatusEnded, at(30), routing.ReasonAbandoned
		must(t, s.WriteRouting(ctx, store.RoutingBatch{Interactions: []store.Interaction{ended}}))

		got, err := s.ListOpenInteractions(ctx)
		must(t, err)
		var ids []routing.InteractionID
		for _, in := range got {
			ids = append(ids, in.ID)
		}
		wantEqual(t, "ListOpenInteractions ids", ids, []routing.InteractionID{
			"hi-early-1", "hi-early-2", "hi-late", "wrapping", "never-enqueued", "low", "low-micro-later", "negative",
		})
		if len(got) > 0 {
			wantInteraction(t, "first open interaction", got[0], all[3])
		}
	}},
}
