package app

import (
	"context"
	"time"

	"github.com/contactd/contactd/signaling"
)

// SessionPurgeEvery is how often expired staff sessions and old command
// ids are deleted from the store (sessions are refused from the moment
// they expire; this only frees their rows). A purge also runs at every
// start.
const SessionPurgeEvery = time.Hour

// housekeep deletes what has expired at now: staff sessions and command ids.
func (a *App) housekeep(ctx context.Context, now time.Time) {
	a.purgeSessions(ctx, now)
	a.purgeCommands(ctx, now)
}

// purgeSessions deletes the staff sessions expired at now.
func (a *App) purgeSessions(ctx context.Context, now time.Time) {
	n, err := a.st.DeleteExpiredSessions(ctx, now)
	if err != nil {
		a.log.Warn("deleting expired sessions failed; trying again later", "err", err)
		return
	}
	if n > 0 {
		a.log.Info("expired sessions deleted", "sessions", n)
	}
}

// every calls f with the time every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func(context.Context, time.Time)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(ctx, now)
		}
	}
}

// purgeCommands deletes the command ids older than
// signaling.CommandLogFor at now (housekeep).
func (a *App) purgeCommands(ctx context.Context, now time.Time) {
	n, err := a.st.DeleteCommandsBefore(ctx, now.Add(-signaling.CommandLogFor))
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("deleting old command ids failed; trying again later", "err", err)
	case n > 0:
		a.log.Info("old command ids deleted", "commands", n)
	}
}
