package limit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestGateRunsNAtOnceQueuesSomeAndRefusesTheRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGate(1, 1, time.Second)
		if err := g.Acquire(t.Context()); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		queued := make(chan error, 1)
		wg.Go(func() { queued <- g.Acquire(context.Background()) })
		synctest.Wait() // the second waits in the queue
		if err := g.Acquire(t.Context()); !errors.Is(err, ErrBusy) {
			t.Fatalf("third with the queue full: %v, want ErrBusy", err)
		}
		g.Release()
		if err := <-queued; err != nil {
			t.Fatalf("the queued one: %v", err)
		}
		// The queued wait is bounded.
		wg.Go(func() { queued <- g.Acquire(context.Background()) })
		time.Sleep(time.Second + time.Millisecond) // fake time under synctest
		if err := <-queued; !errors.Is(err, ErrBusy) {
			t.Fatalf("after waiting too long: %v, want ErrBusy", err)
		}
		g.Release()
		wg.Wait()
	})
}

func TestCounterAllowsMaxPerKey(t *testing.T) {
	c := NewCounter(2)
	for i := range 2 {
		if !c.Acquire("a") {
			t.Fatalf("acquire %d of 2 refused", i+1)
		}
	}
	if c.Acquire("a") {
		t.Fatal("a third allowed")
	}
	if !c.Acquire("b") {
		t.Fatal("another key refused")
	}
	c.Release("a")
	if !c.Acquire("a") {
		t.Fatal("refused after a release")
	}
	if NewCounter(0).Acquire("x") != true {
		t.Fatal("0 means no maximum")
	}
}

func TestBackoffDoublesAfterTheFreeFailuresAndForgetsOnSuccess(t *testing.T) {
	b := &Backoff{Free: 2, Base: time.Second, Max: 10 * time.Second}
	now := time.Unix(1000, 0)
	for i, want := range []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second} {
		if got := b.Fail("x", now); got != want {
			t.Fatalf("failure %d: wait %s, want %s", i+1, got, want)
		}
	}
	if w := b.Wait("x", now.Add(3*time.Second)); w != 7*time.Second {
		t.Fatalf("wait after 3 s: %s", w)
	}
	if w := b.Wait("y", now); w != 0 {
		t.Fatalf("another key waits %s", w)
	}
	b.Succeed("x")
	if w := b.Wait("x", now); w != 0 {
		t.Fatalf("after a success: %s", w)
	}
	// Quiet for longer than Max: the count starts again.
	b.Fail("z", now)
	b.Fail("z", now)
	if got := b.Fail("z", now.Add(time.Minute)); got != 0 {
		t.Fatalf("after a quiet minute: %s, want a free failure", got)
	}
}
