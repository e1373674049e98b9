// Package limit holds the small limiters the edges share: a bound on
// concurrent work with a short queue (Gate), a per-key count of open
// things (Counter), and a per-key backoff after failures (Backoff).
package limit

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// ErrBusy is returned by Gate.Acquire when the work and its queue are
// full, or the wait was too long.
var ErrBusy = errors.New("busy: try again shortly")

// Gate bounds how many run at once; up to queue more wait, for at most
// wait each. Past that, Acquire fails at once with ErrBusy.
type Gate struct {
	slots chan struct{}
	mu    sync.Mutex
	queue int
	waitN int
	wait  time.Duration
}

// NewGate returns a gate for n at once (at least 1), queue waiting.
func NewGate(n, queue int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(1, n)), queue: max(0, queue), wait: wait}
}

// Acquire takes a slot; release it with Release. It waits in the queue
// when all are taken and the queue has room.
func (g *Gate) Acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	g.mu.Lock()
	if g.waitN >= g.queue {
		g.mu.Unlock()
		return ErrBusy
	}
	g.waitN++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.waitN--
		g.mu.Unlock()
	}()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives a slot back.
func (g *Gate) Release() { <-g.slots }

// Counter counts open things per key (connections per address, sockets
// per visitor) up to a maximum each; 0 means no maximum.
type Counter struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

// NewCounter returns a counter allowing max per key.
func NewCounter(max int) *Counter { return &Counter{max: max, n: map[string]int{}} }

// Acquire counts one more for key, or says false when key has max already.
func (c *Counter) Acquire(key string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.n[key] >= c.max {
		return false
	}
	c.n[key]++
	return true
}

// Release counts one less for key.
func (c *Counter) Release(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}

// Backoff spaces out attempts per key after failures: the first Free
// failures cost nothing; each one after doubles the wait before the next
// attempt, from Base up to Max. A success, or Max without a failure,
// forgets the key. Attempt, then Succeed on success, counts attempts made
// at the same time one by one.
type Backoff struct {
	Free      int
	Base, Max time.Duration

	mu   sync.Mutex
	keys map[string]*strike
}

type strike struct {
	n     int
	last  time.Time // the last failure
	until time.Time
}

// maxKeys bounds the memory of a Backoff: past it, the keys whose wait is
// over are forgotten.
const maxKeys = 100000

// Wait is how long key must still wait before its next attempt (0: it may
// go now).
func (b *Backoff) Wait(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.keys[key]
	if s == nil || !now.Before(s.until) {
		return 0
	}
	return s.until.Sub(now)
}

// Attempt starts an attempt by key at now: when key must still wait it
// returns the wait and the attempt may not go; otherwise it returns 0 and
// the attempt is counted as failed until Succeed says otherwise. Counting
// it before the outcome is known is what makes attempts made at once
// count one by one: each sees the failures of those before it, so N
// concurrent wrong guesses cannot all pass in one window.
func (b *Backoff) Attempt(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.keys[key]; s != nil && now.Before(s.until) {
		return s.until.Sub(now)
	}
	b.fail(key, now)
	return 0
}

// Fail records a failed attempt by key at now and returns the wait before
// the next one.
func (b *Backoff) Fail(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fail(key, now)
}

func (b *Backoff) fail(key string, now time.Time) time.Duration {
	if b.keys == nil {
		b.keys = map[string]*strike{}
	}
	if len(b.keys) >= maxKeys {
		for k, s := range b.keys {
			if !now.Before(s.until) {
				delete(b.keys, k)
			}
		}
	}
	s := b.keys[key]
	if s == nil || now.Sub(s.last) > b.Max { // quiet for long: start afresh
		s = &strike{}
		b.keys[key] = s
	}
	s.n++
	s.last = now
	over := s.n - b.Free
	if over <= 0 {
		return 0
	}
	d := time.Duration(float64(b.Base) * math.Pow(2, float64(min(over-1, 30))))
	if d > b.Max || d <= 0 {
		d = b.Max
	}
	s.until = now.Add(d)
	return d
}

// Succeed forgets key's failures.
func (b *Backoff) Succeed(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}
