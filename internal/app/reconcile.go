package app

import (
	"context"
	"fmt"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// WithStore wraps the store every part of the app uses (tests use it to
// stop the process between two commits).
func WithStore(wrap func(store.Store) store.Store) Option {
	return func(a *App) { a.wrapStore = wrap }
}

// reconcile completes, at start, the hand-offs between routing and chat
// that a crash cut between their two commits (chat.Coordinator.Reconcile),
// then gives the desks their conversations. It runs once the routing loop
// and the chat committer run, before anything is served.
func (a *App) reconcile(ctx context.Context) error {
	var held []routing.InteractionInfo
	if err := a.loop.Query(ctx, func(e *routing.Engine) { held = e.Holders() }); err != nil {
		return fmt.Errorf("read routing's interactions: %w", err)
	}
	open, err := a.st.ListOpenConversations(ctx)
	if err != nil {
		return fmt.Errorf("list open conversations: %w", err)
	}
	n, err := a.coord.Reconcile(ctx, held, open, a.st.GetInteraction)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if n > 0 {
		a.log.Warn("restart completed hand-offs a stop had cut between routing's and chat's commits", "conversations", n)
	}
	var views []routing.AgentInfo
	if err := a.loop.Query(ctx, func(e *routing.Engine) { views = e.AgentViews() }); err != nil {
		return err
	}
	if err := a.edges.Seed(ctx, a.agents, views); err != nil {
		return fmt.Errorf("restore the desks' conversations: %w", err)
	}
	return nil
}

// visitorsAway lists, for routing's restore, the interactions whose
// customer is a visitor of an open conversation: after a restart none of
// them is connected, so each is away until its widget connects again
// (routing.RestoreState.Absent). Whether a visitor was away before the
// restart is not stored, since every one is away after it.
func visitorsAway(ctx context.Context, st store.Store) (map[routing.InteractionID]bool, error) {
	open, err := st.ListOpenConversations(ctx)
	if err != nil {
		return nil, fmt.Errorf("list open conversations: %w", err)
	}
	away := make(map[routing.InteractionID]bool, len(open))
	for _, c := range open {
		away[routing.InteractionID(c.ID)] = true
	}
	return away, nil
}
