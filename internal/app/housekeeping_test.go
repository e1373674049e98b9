package app

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/contactd/contactd/internal/store"
)

func TestExpiredSessionsArePurgedAtStart(t *testing.T) {
	cfg := testConfig(t, "")
	a := start(t, cfg, io.Discard)
	ctx := t.Context()
	now := time.Now()
	for _, s := range []store.Session{
		{TokenHash: "expired", Agent: "alice", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{TokenHash: "live", Agent: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := a.Store().CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b := start(t, cfg, io.Discard) // the same data dir
	if n, err := b.Store().DeleteExpiredSessions(ctx, now); err != nil || n != 0 {
		t.Fatalf("after a restart %d expired sessions were still stored (%v); want them purged at start", n, err)
	}
	if _, err := b.Store().GetSession(ctx, "live", now); err != nil {
		t.Fatalf("the live session is gone after the purge: %v", err)
	}
}

func TestEveryCallsItsFunctionOncePerPeriodUntilCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var calls []time.Time
		done := make(chan struct{})
		go func() {
			every(ctx, time.Hour, func(_ context.Context, now time.Time) { calls = append(calls, now) })
			close(done)
		}()
		start := time.Now()
		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if len(calls) != 3 {
			t.Fatalf("%d calls in 3 hours, want 3", len(calls))
		}
		for i, c := range calls {
			if want := start.Add(time.Duration(i+1) * time.Hour); !c.Equal(want) {
				t.Fatalf("call %d at %v, want %v", i, c.Sub(start), want.Sub(start))
			}
		}
	})
}
