package testutil

import (
	"runtime"
	"testing"
	"time"
)

// EventuallyWithin is how long Eventually polls before it fails the test.
// It bounds how long a broken test hangs, not how fast the code must be:
// a loaded 2-core CI machine running -race can be slow, so it is generous.
const EventuallyWithin = 2 * time.Minute

// Eventually polls cond every few milliseconds until it holds, and fails
// the test saying what did not happen when EventuallyWithin passes first.
// Use it only for state that has no signal to wait on.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(EventuallyWithin)
	for wait := time.Millisecond; !cond(); wait = min(wait*2, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, EventuallyWithin)
		}
		time.Sleep(wait)
	}
}

// GoroutinesAtMost waits until at most n goroutines run, and fails the test
// with every goroutine's stack when EventuallyWithin passes first.
func GoroutinesAtMost(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(EventuallyWithin)
	for wait := time.Millisecond; runtime.NumGoroutine() > n; wait = min(wait*2, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines left, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(wait)
	}
}
