package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/contactd/contactd/chat"
	"github.com/contactd/contactd/internal/mailbox"
	"github.com/contactd/contactd/internal/metrics"
	"github.com/contactd/contactd/internal/retry"
	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// recorder writes routing effects to the store: the event log, the state
// of interactions and the presence agents chose. It takes effects from the
// routing loop without ever blocking it, writes them in batches (one
// AppendEvents per batch: group commit), and retries a failed batch until it
// succeeds, so a database hiccup delays writes but loses nothing. Sync lets
// a caller wait until what it caused is committed before acknowledging it.
type recorder struct {
	st  store.Store
	log *slog.Logger
	m   *metrics.Metrics

	pending *mailbox.Box[routing.Effect]

	mu      sync.Mutex
	added   uint64 // batches handed in; moves with pending's puts, under mu
	written uint64 // batches committed
	done    chan struct{}
	attrs   map[routing.InteractionID]map[string]string

	// owned by the run goroutine
	presence map[routing.AgentID]routing.AgentInfo
}

func newRecorder(st store.Store, log *slog.Logger, m *metrics.Metrics) *recorder {
	return &recorder{
		st: st, log: log, m: m,
		pending: mailbox.New[routing.Effect](), done: make(chan struct{}),
		attrs:    make(map[routing.InteractionID]map[string]string),
		presence: make(map[routing.AgentID]routing.AgentInfo),
	}
}

// add queues effects for writing. It never blocks.
func (r *recorder) add(effs []routing.Effect) {
	keep := effs[:0:0]
	for _, f := range effs {
		switch f.(type) {
		case *routing.Event, *routing.InteractionInfo, routing.AgentInfo:
			keep = append(keep, f)
		}
	}
	r.mu.Lock()
	n, _ := r.pending.Put(keep...)
	r.added++
	r.mu.Unlock()
	r.m.RecorderBacklog.Set(float64(n))
}

// setAttributes remembers the context fields of an interaction about to be
// enqueued, written with its first row.
func (r *recorder) setAttributes(id routing.InteractionID, attrs map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if attrs == nil {
		delete(r.attrs, id)
		return
	}
	r.attrs[id] = attrs
}

// Sync waits until every effect added before the call is committed.
func (r *recorder) Sync(ctx context.Context) error {
	r.mu.Lock()
	target := r.added
	for r.written < target {
		ch := r.done
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the store: %w", context.Cause(ctx))
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}

// run writes until ctx ends, then makes a last attempt with what is left,
// bounded by flushTimeout.
//
// Under load, writes start at least chat.MinCommitInterval apart, so that
// the effects of many commands share a transaction (on SQLite each is an
// fsync, on the one connection the chat committer needs too).
func (r *recorder) run(ctx context.Context, flushTimeout time.Duration) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
			defer cancel()
			if err := r.writePending(fctx); err != nil {
				r.log.Error("could not write the last routing effects", "err", err)
			}
			return
		case <-r.pending.Wake():
			if wait := chat.MinCommitInterval - time.Since(last); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					continue
				}
			}
			last = time.Now()
			_ = r.writePending(ctx)
		}
	}
}

// writePending writes everything pending, retrying with backoff until it
// is committed or ctx ends.
func (r *recorder) writePending(ctx context.Context) error {
	r.mu.Lock()
	batch, target := r.pending.Take(0), r.added
	r.mu.Unlock()
	if len(batch) > 0 {
		err := retry.Do(ctx, retry.Backoff{First: 25 * time.Millisecond, Max: 2 * time.Second}, func(ctx context.Context) error { return r.write(ctx, batch) },
			func(err error, wait time.Duration) {
				r.log.Warn("store write failed; retrying", "err", err, "effects", len(batch), "retryIn", wait)
			})
		if err != nil {
			r.pending.PutFront(batch) // nothing is dropped from memory
			return err
		}
	}
	r.mu.Lock()
	if target > r.written {
		r.written = target
	}
	close(r.done)
	r.done = make(chan struct{})
	r.mu.Unlock()
	r.m.RecorderBacklog.Set(float64(r.pending.Len()))
	return nil
}

// write stores a batch in one transaction: the events, the newest state of
// each interaction and the presence agents chose (WriteRouting).
func (r *recorder) write(ctx context.Context, batch []routing.Effect) error {
	var b store.RoutingBatch
	last := map[routing.InteractionID]int{}
	agents := map[routing.AgentID]routing.AgentInfo{}
	r.mu.Lock()
	for _, f := range batch {
		switch f := f.(type) {
		case *routing.Event:
			b.Events = append(b.Events, *f)
		case *routing.InteractionInfo:
			// Created with its context fields the first time; a stored one
			// keeps its CreatedAt and Attributes.
			in := store.Interaction{ID: f.ID, CreatedAt: f.EnqueuedAt, Attributes: r.attrs[f.ID],
				Channel: f.Channel, Queue: f.Queue, Skills: f.Skills, PreferredAgent: f.PreferredAgent,
				Priority: f.Priority, Status: f.Status, Agent: f.Agent,
				EnqueuedAt: f.EnqueuedAt, AcceptedAt: f.AcceptedAt, EndedAt: f.EndedAt, EndReason: f.EndReason}
			if i, ok := last[f.ID]; ok {
				in.CreatedAt, in.Attributes = b.Interactions[i].CreatedAt, b.Interactions[i].Attributes
				b.Interactions[i] = in // only the newest state of each interaction
				continue
			}
			last[f.ID] = len(b.Interactions)
			b.Interactions = append(b.Interactions, in)
		case routing.AgentInfo:
			agents[f.ID] = f
		}
	}
	r.mu.Unlock()
	for id, a := range agents {
		if prev, ok := r.presence[id]; ok && prev.Presence == a.Presence && prev.AwayReason == a.AwayReason {
			continue
		}
		b.Presence = append(b.Presence, store.AgentPresence{Agent: id, Presence: a.Presence, Reason: a.AwayReason, Since: a.PresenceSince})
	}
	t := time.Now()
	if err := r.st.WriteRouting(ctx, b); err != nil {
		r.m.StoreErrors.WithLabelValues("append_events").Inc()
		return fmt.Errorf("write %d events, %d interactions, %d presences: %w", len(b.Events), len(b.Interactions), len(b.Presence), err)
	}
	r.m.StoreWrite.WithLabelValues("append_events").Observe(time.Since(t).Seconds())
	r.mu.Lock()
	for _, in := range b.Interactions {
		delete(r.attrs, in.ID)
	}
	r.mu.Unlock()
	for id, a := range agents {
		r.presence[id] = a
	}
	return nil
}
