package app

import (
	"context"
	"time"
)

// SessionPurgeEvery is how often expired staff sessions are deleted from
// the store (they are refused from the moment they expire; this only
// frees their rows). A purge also runs at every start.
const SessionPurgeEvery = time.Hour

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
