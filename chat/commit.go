// Package chat owns conversations: participants, messages with a
// per-conversation sequence, hold, private notes and transcripts. It knows
// nothing of WebSocket framing: the edges call Service and receive
// committed messages through a delivery function.
package chat

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/contactd/contactd/internal/mailbox"
	"github.com/contactd/contactd/internal/retry"
	"github.com/contactd/contactd/internal/store"
)

// Committer is the part of the store the group commit needs.
type Committer interface {
	CommitChat(ctx context.Context, b store.ChatBatch) (taken []store.ConversationID, err error)
}

// MaxBatch bounds how many writes (messages and new conversations) one
// group commit holds.
const MaxBatch = 1000

// MinCommitInterval spaces group commits under load: a commit starts at
// least this long after the previous one started, so that what comes
// meanwhile shares it. A commit has a fixed cost (on SQLite the fsync, the
// checkpoint, the pages every commit rewrites) that small batches pay for
// every few messages. When commits are rarer than this nothing waits.
const MinCommitInterval = 10 * time.Millisecond

// pending is a write on its way to the store: a new conversation (create
// set), or a message, with the conversation's new state when the message
// is an event that changed it (update set; both go in one transaction).
type pending struct {
	create *store.Conversation
	msg    store.Message
	update *store.Conversation
	done   chan struct{} // closed once committed
	err    error         // set before done closes: a create whose id was taken
	// conv and key: a message sent with a client id, in conv.inflight
	// under key until committed.
	conv *conversation
	key  string
}

// forget takes a committed message out of its conversation's inflight.
func (p *pending) forget() {
	if p.conv == nil {
		return
	}
	p.conv.mu.Lock()
	if p.conv.inflight[p.key] == p {
		delete(p.conv.inflight, p.key)
	}
	p.conv.mu.Unlock()
}

// committer writes the chat service's changes of all conversations in
// batches (group commit): whatever arrived while the previous batch was
// being written goes in the next one, in one transaction. A failed batch is
// retried until it is committed, so a database hiccup delays writes but
// loses none. Writes are committed in the order they were added; once a
// batch is committed, onCommit gets its messages in that order (per
// conversation, in sequence order) and every waiter is released.
type committer struct {
	st       Committer
	log      *slog.Logger
	onCommit func([]store.Message)
	observe  func(writes int, took time.Duration) // may be nil
	interval time.Duration                        // MinCommitInterval; tests set 0
	last     time.Time                            // when the last commit started (run's goroutine)
	queue    *mailbox.Box[*pending]
}

func newCommitter(st Committer, log *slog.Logger, onCommit func([]store.Message)) *committer {
	return &committer{st: st, log: log, onCommit: onCommit, interval: MinCommitInterval, queue: mailbox.New[*pending]()}
}

// add queues p for the next batch. It never blocks.
func (c *committer) add(p *pending) { c.queue.Put(p) }

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
		case <-c.queue.Wake():
			for c.pace(ctx) && c.commitSome(ctx) {
			}
		}
	}
}

// pace waits until MinCommitInterval has passed since the last commit
// started, and says whether ctx still lives.
func (c *committer) pace(ctx context.Context) bool {
	if wait := c.interval - time.Since(c.last); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	c.last = time.Now()
	return true
}

// commitSome writes up to MaxBatch queued writes and says whether it wrote
// any.
func (c *committer) commitSome(ctx context.Context) bool {
	batch := c.queue.Take(MaxBatch)
	n := len(batch)
	if n == 0 {
		return false
	}
	var b store.ChatBatch
	for _, p := range batch {
		switch {
		case p.create != nil:
			b.Create = append(b.Create, *p.create)
		default:
			b.Messages = append(b.Messages, p.msg)
			if p.update != nil {
				b.Update = append(b.Update, *p.update)
			}
		}
	}
	var taken []store.ConversationID
	start := time.Now()
	err := retry.Do(ctx, retry.Backoff{First: 20 * time.Millisecond, Max: 2 * time.Second}, func(ctx context.Context) (err error) {
		taken, err = c.st.CommitChat(ctx, b)
		return err
	}, func(err error, wait time.Duration) {
		c.log.Warn("committing chat writes failed; retrying", "err", err, "writes", n, "retryIn", wait)
	})
	if err != nil {
		c.log.Error("chat writes not committed at shutdown", "err", err, "writes", n)
		c.queue.PutFront(batch)
		return false
	}
	if c.observe != nil {
		c.observe(n, time.Since(start))
	}
	if len(taken) > 0 {
		// One id per refused create. A batch that creates an id twice has
		// the later creation refused and the first stands (unless the id
		// was someone else's before): the last ones are the taken ones.
		refused := map[store.ConversationID]int{}
		for _, id := range taken {
			refused[id]++
		}
		for i := len(batch) - 1; i >= 0; i-- {
			if p := batch[i]; p.create != nil && refused[p.create.ID] > 0 {
				refused[p.create.ID]--
				p.err = fmt.Errorf("create conversation %s: %w", p.create.ID, store.ErrConflict)
			}
		}
	}
	if c.onCommit != nil && len(b.Messages) > 0 {
		c.onCommit(b.Messages)
	}
	for _, p := range batch {
		// Out of inflight first: whoever sees the commit done finds the
		// message in the store, not in memory.
		p.forget()
		close(p.done)
	}
	return true
}

// wait blocks until p is committed or ctx ends, and returns p's error.
func (p *pending) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotCommitted, context.Cause(ctx))
	}
}
