package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
)

func newCommand(principal, id string, at time.Time) store.Command {
	return store.Command{Principal: principal, ID: id, Type: "accept", Target: "c_1", CreatedAt: canon(at)}
}

func wantCommand(t *testing.T, what string, got, want store.Command) {
	t.Helper()
	wantUTC(t, what, got.CreatedAt)
	got.CreatedAt, want.CreatedAt = canon(got.CreatedAt), canon(want.CreatedAt)
	wantEqual(t, what, got, want)
}

var commandCases = []testCase{
	{"a started command reads back without a reply until it finishes, then with the first reply", func(t *testing.T, ctx context.Context, s store.Store) {
		c := newCommand("agent:ada", "k1", base)
		got, created, err := s.StartCommand(ctx, c)
		must(t, err)
		if !created {
			t.Error("StartCommand of a new id: created = false")
		}
		wantCommand(t, "StartCommand", got, c)
		// Started again (a retry, or the same id after a crash): the
		// stored one comes back, not recorded again.
		again := c
		again.Type, again.Target, again.CreatedAt = "take", "c_2", base.Add(time.Hour)
		got, created, err = s.StartCommand(ctx, again)
		must(t, err)
		if created {
			t.Error("StartCommand of a stored id: created = true")
		}
		wantCommand(t, "StartCommand of a stored id", got, c)

		must(t, s.FinishCommand(ctx, "agent:ada", "k1", []byte(`{"type":"ack"}`)))
		must(t, s.FinishCommand(ctx, "agent:ada", "k1", []byte(`{"type":"error"}`)))
		got, created, err = s.StartCommand(ctx, again)
		must(t, err)
		c.Reply = []byte(`{"type":"ack"}`)
		if created {
			t.Error("StartCommand of a finished id: created = true")
		}
		wantCommand(t, "StartCommand of a finished id", got, c)
	}},

	{"commands of different principals do not collide", func(t *testing.T, ctx context.Context, s store.Store) {
		a := newCommand("agent:ada", "k1", base)
		b := newCommand("visitor:c_1", "k1", base)
		b.Type = "end"
		for _, c := range []store.Command{a, b} {
			got, created, err := s.StartCommand(ctx, c)
			must(t, err)
			if !created {
				t.Errorf("StartCommand %s: created = false", c.Principal)
			}
			wantCommand(t, "StartCommand "+c.Principal, got, c)
		}
		must(t, s.FinishCommand(ctx, "visitor:c_1", "k1", []byte("b")))
		got, _, err := s.StartCommand(ctx, a)
		must(t, err)
		wantCommand(t, "the other principal's command", got, a)
	}},

	{"finishing an unknown command or with an empty reply is refused", func(t *testing.T, ctx context.Context, s store.Store) {
		wantErr(t, "FinishCommand of an unknown id", s.FinishCommand(ctx, "agent:ada", "nope", []byte("x")), store.ErrNotFound)
		_, _, err := s.StartCommand(ctx, newCommand("agent:ada", "k1", base))
		must(t, err)
		wantErr(t, "FinishCommand with an empty reply", s.FinishCommand(ctx, "agent:ada", "k1", nil), store.ErrInvalid)
		got, _, err := s.StartCommand(ctx, newCommand("agent:ada", "k1", base))
		must(t, err)
		if got.Reply != nil {
			t.Errorf("reply after a refused finish: %q", got.Reply)
		}
	}},

	{"command text that a store cannot keep is refused and nothing stored", func(t *testing.T, ctx context.Context, s store.Store) {
		for _, bad := range []string{"a\x00b", "\xff\xfe"} {
			for _, c := range []store.Command{
				{Principal: bad, ID: "k", Type: "accept", Target: "c"},
				{Principal: "agent:ada", ID: bad, Type: "accept", Target: "c"},
				{Principal: "agent:ada", ID: "k", Type: bad, Target: "c"},
				{Principal: "agent:ada", ID: "k", Type: "accept", Target: bad},
			} {
				c.CreatedAt = base
				_, _, err := s.StartCommand(ctx, c)
				wantErr(t, fmt.Sprintf("StartCommand %q", c), err, store.ErrInvalid)
			}
		}
		wantErr(t, "FinishCommand after the refusals", s.FinishCommand(ctx, "agent:ada", "k", []byte("x")), store.ErrNotFound)
	}},

	{"commands created before a time are deleted, the later ones kept", func(t *testing.T, ctx context.Context, s store.Store) {
		for i := range 3 {
			_, _, err := s.StartCommand(ctx, newCommand("agent:ada", fmt.Sprint("k", i), base.Add(time.Duration(i)*time.Hour)))
			must(t, err)
		}
		n, err := s.DeleteCommandsBefore(ctx, canon(base.Add(time.Hour)))
		must(t, err)
		if n != 1 {
			t.Errorf("DeleteCommandsBefore = %d, want 1", n)
		}
		wantErr(t, "FinishCommand of a deleted command", s.FinishCommand(ctx, "agent:ada", "k0", []byte("x")), store.ErrNotFound)
		for _, id := range []string{"k1", "k2"} {
			must(t, s.FinishCommand(ctx, "agent:ada", id, []byte("x")))
		}
		n, err = s.DeleteCommandsBefore(ctx, canon(base.Add(time.Hour)))
		must(t, err)
		if n != 0 {
			t.Errorf("DeleteCommandsBefore again = %d, want 0", n)
		}
	}},

	{"one of many concurrent starts of an id records it", func(t *testing.T, ctx context.Context, s store.Store) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		createdN := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newCommand("agent:ada", "k1", base)
				c.Target = fmt.Sprint("c_", i)
				got, created, err := s.StartCommand(ctx, c)
				if err != nil {
					t.Errorf("StartCommand: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if created {
					createdN++
					if got.Target != c.Target {
						t.Errorf("recorded %q but read back %q", c.Target, got.Target)
					}
				}
			}()
		}
		wg.Wait()
		if createdN != 1 {
			t.Errorf("%d starts recorded the id, want 1", createdN)
		}
	}},
}
