package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/routing"
)

// sessionAt is the sessions' reference time, whole microseconds so that
// "expired at exactly ExpiresAt" means the same on every store.
var sessionAt = canon(base)

func newSession(hash string, agent routing.AgentID, ttl time.Duration) store.Session {
	return store.Session{TokenHash: hash, Agent: agent, CreatedAt: sessionAt, ExpiresAt: sessionAt.Add(ttl)}
}

func wantSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	wantUTC(t, what, got.CreatedAt, got.ExpiresAt)
	got.CreatedAt, got.ExpiresAt = canon(got.CreatedAt), canon(got.ExpiresAt)
	want.CreatedAt, want.ExpiresAt = canon(want.CreatedAt), canon(want.ExpiresAt)
	wantEqual(t, what, got, want)
}

var sessionCases = []testCase{
	{"a session reads back until it expires", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		sess := newSession("h1", "ada", time.Hour)
		must(t, s.CreateSession(ctx, sess))
		for _, now := range []time.Time{sessionAt, sessionAt.Add(time.Hour - time.Microsecond)} {
			got, err := s.GetSession(ctx, "h1", now)
			must(t, err)
			wantSession(t, fmt.Sprintf("GetSession at %v", now), got, sess)
		}
		for _, now := range []time.Time{sessionAt.Add(time.Hour), sessionAt.Add(2 * time.Hour)} {
			_, err := s.GetSession(ctx, "h1", now)
			wantErr(t, fmt.Sprintf("GetSession at %v, after it expired", now), err, store.ErrNotFound)
		}
		_, err := s.GetSession(ctx, "unknown", sessionAt)
		wantErr(t, "GetSession of an unknown hash", err, store.ErrNotFound)
	}},

	{"a session without an expiry is expired", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		sess := newSession("h1", "ada", 0)
		sess.ExpiresAt = time.Time{}
		must(t, s.CreateSession(ctx, sess))
		_, err := s.GetSession(ctx, "h1", sessionAt)
		wantErr(t, "GetSession", err, store.ErrNotFound)
		n, err := s.DeleteExpiredSessions(ctx, sessionAt)
		must(t, err)
		if n != 1 {
			t.Errorf("DeleteExpiredSessions = %d, want the session without an expiry", n)
		}
	}},

	{"creating a session whose hash is taken is a conflict", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		must(t, s.CreateAgent(ctx, newAgent("bob")))
		sess := newSession("h1", "ada", time.Hour)
		must(t, s.CreateSession(ctx, sess))
		wantErr(t, "second CreateSession", s.CreateSession(ctx, newSession("h1", "bob", 2*time.Hour)), store.ErrConflict)
		got, err := s.GetSession(ctx, "h1", sessionAt)
		must(t, err)
		wantSession(t, "session after the conflict", got, sess)
	}},

	{"a session of an unknown agent is not found", func(t *testing.T, ctx context.Context, s store.Store) {
		wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("h1", "nobody", time.Hour)), store.ErrNotFound)
		_, err := s.GetSession(ctx, "h1", sessionAt)
		wantErr(t, "GetSession", err, store.ErrNotFound)
	}},

	{"a deleted session is gone and deleting it again is no error", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		must(t, s.CreateSession(ctx, newSession("h1", "ada", time.Hour)))
		must(t, s.CreateSession(ctx, newSession("h2", "ada", time.Hour)))
		must(t, s.DeleteSession(ctx, "h1"))
		_, err := s.GetSession(ctx, "h1", sessionAt)
		wantErr(t, "GetSession of the deleted session", err, store.ErrNotFound)
		must(t, s.DeleteSession(ctx, "h1"))
		must(t, s.DeleteSession(ctx, "never"))
		if _, err := s.GetSession(ctx, "h2", sessionAt); err != nil {
			t.Errorf("the other session: %v", err)
		}
	}},

	{"expired sessions are deleted and counted", func(t *testing.T, ctx context.Context, s store.Store) {
		must(t, s.CreateAgent(ctx, newAgent("ada")))
		for i := 1; i <= 3; i++ {
			must(t, s.CreateSession(ctx, newSession(fmt.Sprintf("h%d", i), "ada", time.Duration(i)*time.Minute)))
		}
		now := sessionAt.Add(2 * time.Minute) // h2 expires at exactly now
		n, err := s.DeleteExpiredSessions(ctx, now)
		must(t, err)
		if n != 2 {
			t.Errorf("DeleteExpiredSessions = %d, want 2", n)
		}
		if _, err := s.GetSession(ctx, "h3", now); err != nil {
			t.Errorf("the live session: %v", err)
		}
		_, err = s.GetSession(ctx, "h1", sessionAt)
		wantErr(t, "GetSession of a deleted session, before its expiry", err, store.ErrNotFound)
		n, err = s.DeleteExpiredSessions(ctx, now)
		must(t, err)
		if n != 0 {
			t.Errorf("second DeleteExpiredSessions = %d, want 0", n)
		}
	}},
}

var secretCases = []testCase{
	{"the first secret written wins", func(t *testing.T, ctx context.Context, s store.Store) {
		first := []byte{0x00, 0xff, 0xfe, 'k', 0x00, 0x80} // any bytes, NULs included
		got, err := s.Secret(ctx, "hmac", first)
		must(t, err)
		wantEqual(t, "first Secret", got, first)
		got, err = s.Secret(ctx, "hmac", []byte("second"))
		must(t, err)
		wantEqual(t, "second Secret", got, first)
		got, err = s.Secret(ctx, "other", []byte("second"))
		must(t, err)
		wantEqual(t, "Secret of another name", got, []byte("second"))
	}},

	{"concurrent first writers of a secret all read the same value", func(t *testing.T, ctx context.Context, s store.Store) {
		const writers = 8
		got := make([][]byte, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() { got[w], errs[w] = s.Secret(ctx, "cookie", []byte(fmt.Sprintf("value-%d", w))) })
		}
		wg.Wait()
		for w := range writers {
			must(t, errs[w])
			if !bytes.Equal(got[w], got[0]) {
				t.Errorf("writer %d read %q, writer 0 read %q", w, got[w], got[0])
			}
		}
		if !bytes.HasPrefix(got[0], []byte("value-")) {
			t.Errorf("the secret is %q, want one of the values written", got[0])
		}
	}},

	{"an empty secret is invalid", func(t *testing.T, ctx context.Context, s store.Store) {
		for _, v := range [][]byte{nil, {}} {
			_, err := s.Secret(ctx, "hmac", v)
			wantErr(t, fmt.Sprintf("Secret(%#v)", v), err, store.ErrInvalid)
		}
		got, err := s.Secret(ctx, "hmac", []byte("real"))
		must(t, err)
		wantEqual(t, "Secret after the refused ones", got, []byte("real"))
	}},
}
