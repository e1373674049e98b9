package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// newQueue returns a queue with every field set, steps of each kind, and
// durations that need all of an int64's nanoseconds.
func newQueue(id routing.QueueID) routing.QueueConfig {
	return routing.QueueConfig{
		ID:                id,
		Name:              "Support — “Tier 2”",
		Skills:            []routing.SkillReq{{Skill: "english", MinLevel: 3}, {Skill: "billing", MinLevel: 0}},
		Strategy:          routing.StrategyBestSkill,
		OfferTimeout:      45*time.Second + 1,
		MaxWait:           10 * 365 * 24 * time.Hour,
		NoAgents:          routing.NoAgentsLeave,
		ServiceLevel:      20 * time.Second,
		WrapUp:            30 * time.Second,
		DefaultHandleTime: 3*time.Minute + 500*time.Millisecond + 7,
		Steps: []routing.Step{
			{After: 30 * time.Second, Fallback: "overflow"},                                                      // keeps the requirement
			{After: time.Minute, Skills: []routing.SkillReq{{Skill: "english", MinLevel: 1}}, Fallback: "tier1"}, // relaxes it
			{After: 2 * time.Minute, Skills: []routing.SkillReq{}},                                               // drops it
		},
	}
}

var queueCases = []testCase{
	{"a queue reads back with its full configuration", func(t *testing.T, ctx context.Context, s store.Store) {
		q := newQueue("support")
		must(t, s.UpsertQueue(ctx, q))
		got, err := s.GetQueue(ctx, "support")
		must(t, err)
		wantEqual(t, "GetQueue", got, q)
		if len(got.Steps) == 3 && (got.Steps[0].Skills != nil || got.Steps[2].Skills == nil) {
			t.Errorf("step skills came back as %#v and %#v, want nil (keep the requirement) and empty (drop it)",
				got.Steps[0].Skills, got.Steps[2].Skills)
		}
	}},

	{"a queue with only an id reads back unchanged", func(t *testing.T, ctx context.Context, s store.Store) {
		q := routing.QueueConfig{ID: "bare"}
		must(t, s.UpsertQueue(ctx, q))
		got, err := s.GetQueue(ctx, "bare")
		must(t, err)
		wantEqual(t, "GetQueue", got, q)
	}},

	{"upserting a queue again replaces its configuration", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.UpsertQueue(ctx, newQueue("support")))
		q := routing.QueueConfig{
			ID:       "support",
			Name:     "Support",
			Strategy: routing.StrategyRingAll,
			Steps:    []routing.Step{{After: time.Second, Skills: []routing.SkillReq{{Skill: "german", MinLevel: 2}}}},
		}
		must(t, s.UpsertQueue(ctx, q))
		got, err := s.GetQueue(ctx, "support")
		must(t, err)
		wantEqual(t, "GetQueue after the second upsert", got, q)
		list, err := s.ListQueues(ctx)
		must(t, err)
		if len(list) != 1 {
			t.Errorf("ListQueues returned %d queues after upserting one twice, want 1", len(list))
		}
	}},

	{"queues are listed in bytewise id order", func(t *testing.T, ctx context.Context, s store.Store) {
		for _, id := range []routing.QueueID{"support", "Sales", "billing", "b"} {
			must(t, s.UpsertQueue(ctx, newQueue(id)))
		}
		got, err := s.ListQueues(ctx)
		must(t, err)
		var ids []routing.QueueID
		for _, q := range got {
			ids = append(ids, q.ID)
		}
		wantEqual(t, "ListQueues ids", ids, []routing.QueueID{"Sales", "b", "billing", "support"})
		if len(got) > 0 {
			wantEqual(t, "first listed queue", got[0], newQueue("Sales"))
		}
	}},

	{"an unknown queue is not found", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.UpsertQueue(ctx, newQueue("sales")))
		_, err := s.GetQueue(ctx, "never")
		wantErr(t, "GetQueue of an unknown queue", err, store.ErrNotFound)
		_, err = s.GetQueue(ctx, "Sales")
		wantErr(t, "GetQueue of an id differing in case", err, store.ErrNotFound)
	}},
}
