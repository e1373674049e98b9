package app

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/contactd/contactd/routing"
	"github.com/contactd/contactd/signaling"
)

// ErrDraining is returned for new interactions while the process shuts down.
var ErrDraining = fmt.Errorf("contactd is shutting down and takes no new interactions: %w", signaling.ErrDraining)

// Router is how the edges talk to routing. A command's result is returned
// only after the effects it caused are committed to the store, so an
// acknowledgement to a client never outruns the database.
type Router struct {
	loop     *routing.Loop
	rec      *recorder
	draining atomic.Bool
}

// Do runs a command and waits until its effects are stored.
func (r *Router) Do(ctx context.Context, cmd routing.Command) error {
	if _, ok := cmd.(routing.Enqueue); ok && r.draining.Load() {
		return ErrDraining
	}
	if err := r.loop.Do(ctx, cmd); err != nil {
		return err
	}
	return r.rec.Sync(ctx)
}

// Enqueue routes a new interaction; attrs are context fields (visitor name,
// page, account) stored with it.
func (r *Router) Enqueue(ctx context.Context, cmd routing.Enqueue, attrs map[string]string) error {
	if r.draining.Load() {
		return ErrDraining
	}
	r.rec.setAttributes(cmd.Interaction, attrs)
	if err := r.loop.Do(ctx, cmd); err != nil {
		r.rec.setAttributes(cmd.Interaction, nil)
		return err
	}
	return r.rec.Sync(ctx)
}

// Query reads routing state on the loop goroutine.
func (r *Router) Query(ctx context.Context, f func(*routing.Engine)) error {
	return r.loop.Query(ctx, f)
}
