// Package retry runs an operation until it succeeds, waiting longer after
// each failure: the store writers' answer to a database that is briefly
// unreachable (a write is delayed, never dropped).
package retry

import (
	"context"
	"time"
)

// Backoff is the wait after the first failure, doubled after each further
// one up to Max.
type Backoff struct {
	First time.Duration
	Max   time.Duration
}

// Do calls f until it returns nil, and returns nil. After a failure it
// calls onFail (when not nil) with f's error and the wait before the next
// attempt, then waits. When ctx ends, Do makes no further attempt and
// returns f's last error; f is always called at least once, with ctx.
func Do(ctx context.Context, b Backoff, f func(context.Context) error, onFail func(err error, wait time.Duration)) error {
	wait := b.First
	var t *time.Timer
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if onFail != nil {
			onFail(err, wait)
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return err
		}
		wait = min(wait*2, b.Max)
	}
}
