package retry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

var errDown = errors.New("down")

func TestAFailingCallIsRetriedWithDoublingWaitsUpToTheMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		var waits []time.Duration
		err := Do(t.Context(), Backoff{First: 10 * time.Millisecond, Max: 35 * time.Millisecond},
			func(context.Context) error {
				at = append(at, time.Since(start))
				if len(at) < 5 {
					return errDown
				}
				return nil
			},
			func(err error, wait time.Duration) {
				if !errors.Is(err, errDown) {
					t.Errorf("onFail got %v", err)
				}
				waits = append(waits, wait)
			})
		if err != nil {
			t.Fatalf("Do = %v, want nil", err)
		}
		ms := time.Millisecond
		if want := []time.Duration{10 * ms, 20 * ms, 35 * ms, 35 * ms}; !slices.Equal(waits, want) {
			t.Errorf("waits %v, want %v", waits, want)
		}
		if want := []time.Duration{0, 10 * ms, 30 * ms, 65 * ms, 100 * ms}; !slices.Equal(at, want) {
			t.Errorf("attempts at %v, want %v", at, want)
		}
	})
}

func TestASucceedingCallIsMadeOnce(t *testing.T) {
	n := 0
	err := Do(t.Context(), Backoff{First: time.Hour, Max: time.Hour}, func(context.Context) error { n++; return nil }, nil)
	if err != nil || n != 1 {
		t.Fatalf("Do = %v after %d calls, want nil after 1", err, n)
	}
}

func TestTheEndOfTheContextStopsTheRetriesWithTheLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		done := make(chan error)
		go func() {
			done <- Do(ctx, Backoff{First: time.Second, Max: time.Second}, func(context.Context) error {
				n++
				return errDown
			}, nil)
		}()
		time.Sleep(2500 * time.Millisecond) // in the bubble: three attempts made
		cancel()
		if err := <-done; !errors.Is(err, errDown) {
			t.Fatalf("Do = %v, want the call's error", err)
		}
		if n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
}

func TestACallThatFailsBecauseTheContextEndedIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	n, failed := 0, false
	err := Do(ctx, Backoff{First: time.Hour, Max: time.Hour}, func(context.Context) error {
		n++
		cancel()
		return errDown
	}, func(error, time.Duration) { failed = true })
	if !errors.Is(err, errDown) || n != 1 || failed {
		t.Fatalf("Do = %v after %d calls (onFail called: %v), want the error after 1 and no onFail", err, n, failed)
	}
}
