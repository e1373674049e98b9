package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// newEvent returns an event of interaction id with every field set.
func newEvent(seq int64, id routing.InteractionID) routing.Event {
	return routing.Event{
		Seq:         seq,
		Time:        base.Add(time.Duration(seq) * time.Millisecond),
		Type:        routing.EvTransferred,
		Interaction: id,
		Queue:       "support",
		Agent:       "ada",
		Channel:     routing.ChannelVoice,
		Target:      "sales",
		Mode:        "warm",
		Reason:      routing.ReasonWithdrawn,
		State:       routing.PresenceAway,
		Priority:    -4,
		Step:        2,
		Wait:        90*time.Second + 1,
		Handle:      25*time.Hour + 3,
	}
}

func canonEvents(evs []routing.Event) []routing.Event {
	out := make([]routing.Event, len(evs))
	for i, ev := range evs {
		ev.Time = canon(ev.Time)
		out[i] = ev
	}
	return out
}

func wantEvents(t *testing.T, what string, got, want []routing.Event) {
	t.Helper()
	for _, ev := range got {
		wantUTC(t, fmt.Sprintf("%s: event %d", what, ev.Seq), ev.Time)
	}
	wantEqual(t, what, canonEvents(got), canonEvents(want))
}

func seqs(evs []routing.Event) []int64 {
	out := []int64{}
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

var eventCases = []testCase{
	{"appended events read back per interaction in seq order", func(t *testing.T, ctx context.Context, s store.Store) {
		a1, b2, a3, a4, b5 := newEvent(1, "a"), newEvent(2, "b"), newEvent(3, "a"), newEvent(4, "a"), newEvent(5, "b")
		a3.Type, a3.Target, a3.Mode, a3.Wait, a3.Handle = routing.EvAccepted, "", "", 0, 0
		a4.Time = time.Time{} // an event without a time keeps none
		must(t, s.AppendEvents(ctx, []routing.Event{b5, a3}))
		must(t, s.AppendEvents(ctx, []routing.Event{a4, a1, b2}))
		got, err := s.ListEvents(ctx, "a")
		must(t, err)
		wantEvents(t, "ListEvents(a)", got, []routing.Event{a1, a3, a4})
		got, err = s.ListEvents(ctx, "b")
		must(t, err)
		wantEvents(t, "ListEvents(b)", got, []routing.Event{b2, b5})
	}},

	{"an agent event without an interaction reads back", func(t *testing.T, ctx context.Context, s store.Store) {
		ev := routing.Event{Seq: 7, Time: base, Type: routing.EvAgentState, Agent: "ada", State: routing.PresenceAway, Reason: routing.ReasonMissed}
		must(t, s.AppendEvents(ctx, []routing.Event{ev}))
		got, err := s.ListEventsAfter(ctx, 0, 10)
		must(t, err)
		wantEvents(t, "ListEventsAfter", got, []routing.Event{ev})
	}},

	{"events of an unknown interaction are an empty list", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.AppendEvents(ctx, []routing.Event{newEvent(1, "a")}))
		got, err := s.ListEvents(ctx, "nobody")
		if err != nil {
			t.Fatalf("ListEvents of an unknown interaction: %v, want no error", err)
		}
		if len(got) != 0 {
			t.Errorf("ListEvents of an unknown interaction returned %d events", len(got))
		}
	}},

	{"events after a seq come in order up to the limit", func(t *testing.T, ctx context.Context, s store.Store) {
		var evs []routing.Event
		for seq := int64(10); seq >= 1; seq-- {
			evs = append(evs, newEvent(seq, routing.InteractionID(fmt.Sprintf("i%d", seq%3))))
		}
		must(t, s.AppendEvents(ctx, evs))
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
			got, err := s.ListEventsAfter(ctx, tt.after, tt.limit)
			must(t, err)
			wantEqual(t, fmt.Sprintf("ListEventsAfter(%d, %d) seqs", tt.after, tt.limit), seqs(got), tt.want)
		}
		got, err := s.ListEventsAfter(ctx, 4, 1)
		must(t, err)
		wantEvents(t, "ListEventsAfter(4, 1)", got, []routing.Event{newEvent(5, "i2")})
	}},

	{"a limit below one is rejected", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.AppendEvents(ctx, []routing.Event{newEvent(1, "a")}))
		for _, limit := range []int{0, -1} {
			if got, err := s.ListEventsAfter(ctx, 0, limit); err == nil {
				t.Errorf("ListEventsAfter(0, %d) = %d events and no error, want an error", limit, len(got))
			}
		}
	}},

	{"the highest seq is zero before any event and the largest stored after", func(t *testing.T, ctx context.Context, s store.Store) {
		n, err := s.MaxEventSeq(ctx)
		must(t, err)
		if n != 0 {
			t.Errorf("MaxEventSeq of an empty log = %d, want 0", n)
		}
		must(t, s.AppendEvents(ctx, []routing.Event{newEvent(5, "a"), newEvent(2, "a"), newEvent(9, "b")}))
		must(t, s.AppendEvents(ctx, []routing.Event{newEvent(7, "a")}))
		n, err = s.MaxEventSeq(ctx)
		must(t, err)
		if n != 9 {
			t.Errorf("MaxEventSeq = %d, want 9", n)
		}
	}},

	{"appending no events does nothing", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.AppendEvents(ctx, nil))
		must(t, s.AppendEvents(ctx, []routing.Event{}))
		got, err := s.ListEventsAfter(ctx, 0, 10)
		must(t, err)
		if len(got) != 0 {
			t.Errorf("log holds %d events after appending none", len(got))
		}
	}},

	{"appending an event whose seq is stored keeps the first copy", func(t *testing.T, ctx context.Context, s store.Store) {
		first := []routing.Event{newEvent(1, "a"), newEvent(2, "a"), newEvent(3, "a")}
		must(t, s.AppendEvents(ctx, first))
		// A retried call after a lost reply: the same events again, with
		// one more; and a changed copy of 2, which must not replace it.
		changed := newEvent(2, "b")
		changed.Type = routing.EvAbandoned
		must(t, s.AppendEvents(ctx, first))
		must(t, s.AppendEvents(ctx, []routing.Event{changed, newEvent(3, "a"), newEvent(4, "a")}))
		// The same seq twice within one call.
		dup := newEvent(5, "a")
		dup.Type = routing.EvEnded
		must(t, s.AppendEvents(ctx, []routing.Event{newEvent(5, "a"), dup}))

		got, err := s.ListEventsAfter(ctx, 0, 100)
		must(t, err)
		wantEvents(t, "log after retried appends", got, []routing.Event{
			newEvent(1, "a"), newEvent(2, "a"), newEvent(3, "a"), newEvent(4, "a"), newEvent(5, "a"),
		})
		b, err := s.ListEvents(ctx, "b")
		must(t, err)
		if len(b) != 0 {
			t.Errorf("the changed copy of seq 2 was stored for interaction b: %+v", b)
		}
	}},

	{"concurrent appends lose no events", func(t *testing.T, ctx context.Context, s store.Store) {
		const writers, calls, batch = 8, 25, 4
		var wg sync.WaitGroup
		errs := make(chan error, writers*calls)
		for w := range writers {
			wg.Go(func() {
				for c := range calls {
					evs := make([]routing.Event, batch)
					for k := range batch {
						seq := int64((c*writers+w)*batch + k + 1)
						evs[k] = newEvent(seq, routing.InteractionID(fmt.Sprintf("w%d", w)))
					}
					if err := s.AppendEvents(ctx, evs); err != nil {
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
		const total = writers * calls * batch
		got, err := s.ListEventsAfter(ctx, 0, 2*total)
		must(t, err)
		if len(got) != total {
			t.Fatalf("log holds %d events, want %d", len(got), total)
		}
		for i, ev := range got {
			if ev.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d, want %d", i, ev.Seq, i+1)
			}
		}
		n, err := s.MaxEventSeq(ctx)
		must(t, err)
		if n != total {
			t.Errorf("MaxEventSeq = %d, want %d", n, total)
		}
		w3, err := s.ListEvents(ctx, "w3")
		must(t, err)
		if len(w3) != calls*batch {
			t.Errorf("writer 3 has %d events, want %d", len(w3), calls*batch)
		}
	}},
}
