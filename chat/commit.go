// Package chat owns conversations: participants, messages with a
// per-conversation sequence, hold, private notes and transcripts. It knows
// nothing of WebSocket framing: the edges call Service and receive
// committed messages through a delivery function.
package chat

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/contactd/contactd/internal/store"
)

// Appender is the part of the store the committer needs.
type Appender interface {
	AppendMessages(ctx context.Context, msgs []store.Message) error
}

// MaxBatch bounds how many messages one group commit writes.
const MaxBatch = 1000

// pending is a message on its way to the store.
type pending struct {
	msg  store.Message
	done chan struct{} // closed once committed
}

// committer writes messages of all conversations in batches (group
// commit): whatever arrived while the previous batch was being written goes
// in the next one. A failed batch is retried until it is committed, so a
// database hiccup delays messages but loses none. Once a batch is
// committed, onCommit gets its messages in order (per conversation, in
// sequence order) and every waiter is released.
type committer struct {
	st       Appender
	log      *slog.Logger
	onCommit func([]store.Message)

	mu    sync.Mutex
	queue []*pending
	wake  chan struct{}
}

func newCommitter(st Appender, log *slog.Logger, onCommit func([]store.Message)) *committer {
	return &committer{st: st, log: log, onCommit: onCommit, wake: make(chan struct{}, 1)}
}

// add queues p for the next batch. It never blocks.
func (c *committer) add(p *pending) {
	c.mu.Lock()
	c.queue = append(c.queue, p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run commits until ctx ends, then once more with what is left.
func (c *committer) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for c.commitSome(fctx) {
			}
			return
		case <-c.wake:
			for c.commitSome(ctx) {
			}
		}
	}
}

// commitSome writes up to MaxBatch queued messages and says whether it
// wrote any.
func (c *committer) commitSome(ctx context.Context) bool {
	c.mu.Lock()
	n := min(len(c.queue), MaxBatch)
	batch := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()
	if n == 0 {
		return false
	}
	msgs := make([]store.Message, n)
	for i, p := range batch {
		msgs[i] = p.msg
	}
	backoff := 20 * time.Millisecond
	for {
		err := c.st.AppendMessages(ctx, msgs)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			c.log.Error("messages not committed at shutdown", "err", err, "messages", n)
			c.mu.Lock()
			c.queue = append(batch, c.queue...)
			c.mu.Unlock()
			return false
		}
		c.log.Warn("committing messages failed; retrying", "err", err, "messages", n, "retryIn", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	if c.onCommit != nil {
		c.onCommit(msgs)
	}
	for _, p := range batch {
		close(p.done)
	}
	return true
}

// wait blocks until p is committed or ctx ends.
func (p *pending) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotCommitted, context.Cause(ctx))
	}
}
