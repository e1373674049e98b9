package routing

import (
	"context"
	"log/slog"
	"time"

	"github.com/contactd/contactd/internal/mailbox"
)

// Loop owns an Engine on one goroutine. Inputs arrive through a mailbox
// that never blocks the caller; after each batch of inputs the loop flushes
// the engine and hands the effects to the sink, on the loop goroutine, so
// the sink must not block (it should enqueue and return).
type Loop struct {
	eng  *Engine
	sink func([]Effect)
	now  func() time.Time
	log  *slog.Logger

	box     *mailbox.Box[request]
	done    chan struct{}
	started chan struct{}
}

type request struct {
	cmd   Command
	query func(*Engine)
	reply func(error)
}

// LoopOption configures a Loop.
type LoopOption func(*Loop)

// WithClock sets where the loop reads the time (default time.Now). The loop
// waits with time.Timer, so tests run it inside a testing/synctest bubble.
func WithClock(now func() time.Time) LoopOption { return func(l *Loop) { l.now = now } }

// WithLogger sets the logger.
func WithLogger(log *slog.Logger) LoopOption { return func(l *Loop) { l.log = log } }

// NewLoop returns a loop around eng; sink receives every batch of effects.
func NewLoop(eng *Engine, sink func([]Effect), opts ...LoopOption) *Loop {
	l := &Loop{
		eng: eng, sink: sink, now: time.Now, log: slog.Default(),
		box: mailbox.New[request](), done: make(chan struct{}), started: make(chan struct{}),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Submit queues cmd; reply, when not nil, is called with the result on the
// loop goroutine after the effects of the batch went to the sink. It never
// blocks. After the loop stopped, reply gets ErrClosed.
func (l *Loop) Submit(cmd Command, reply func(error)) {
	l.put(request{cmd: cmd, reply: reply})
}

// Do runs cmd and waits for its result, or for ctx.
func (l *Loop) Do(ctx context.Context, cmd Command) error {
	ch := make(chan error, 1)
	l.put(request{cmd: cmd, reply: func(err error) { ch <- err }})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Query runs f on the loop goroutine with the engine, and waits. f must not
// keep references to engine state past its return.
func (l *Loop) Query(ctx context.Context, f func(*Engine)) error {
	ch := make(chan error, 1)
	l.put(request{query: f, reply: func(err error) { ch <- err }})
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (l *Loop) put(r request) {
	if _, ok := l.box.Put(r); !ok && r.reply != nil {
		r.reply(ErrClosed)
	}
}

// Started is closed once Run is running.
func (l *Loop) Started() <-chan struct{} { return l.started }

// Done is closed when Run has returned.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Run processes inputs until ctx ends. Requests still queued then are
// answered with ErrClosed.
func (l *Loop) Run(ctx context.Context) error {
	defer close(l.done)
	close(l.started)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		batch := l.box.Take(0)
		if len(batch) == 0 {
			if d, ok := l.eng.NextDeadline(); ok {
				t.Reset(max(d.Sub(l.now()), 0))
			} else {
				t.Reset(time.Hour)
			}
			select {
			case <-ctx.Done():
				l.close()
				return nil
			case <-l.box.Wake():
			case <-t.C:
				l.eng.Apply(l.now(), Tick{})
				l.flush()
			}
			continue
		}
		errs := make([]error, len(batch))
		for i, r := range batch {
			now := l.now()
			if r.query != nil {
				l.eng.advance(now)
				l.eng.settle()
				r.query(l.eng)
				continue
			}
			errs[i] = l.eng.Apply(now, r.cmd)
		}
		l.flush()
		for i, r := range batch {
			if r.reply != nil {
				r.reply(errs[i])
			}
		}
		l.box.Recycle(batch)
	}
}

func (l *Loop) flush() {
	l.eng.Flush()
	if effs := l.eng.Drain(); len(effs) > 0 && l.sink != nil {
		l.sink(effs)
	}
}

func (l *Loop) close() {
	for _, r := range l.box.Close() {
		if r.reply != nil {
			r.reply(ErrClosed)
		}
	}
}
