package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The retry policy. A call is tried at most maxAttempts times, waiting
// retryBackoff[i] before attempt i+2, and only while the caller's context
// lives. It rides over a server restart or a killed connection; a database
// that stays down makes the call fail after about 125 ms.
const maxAttempts = 3

var retryBackoff = [maxAttempts - 1]time.Duration{25 * time.Millisecond, 100 * time.Millisecond}

// kind says whether running an operation twice is harmless.
type kind int

const (
	// idempotent operations (reads, upserts, whole-row updates,
	// AppendEvents and AppendMessages, which skip what is stored,
	// MarkLeftMessageHandled, Secret, whose first writer wins, and the
	// session deletes, for which absent is not an error) are retried after
	// any connection-class error, even one that came after the statement
	// was sent.
	idempotent kind = iota
	// once operations (creates and deletes) are retried only when the
	// statement surely did not take effect: nothing was sent, the
	// connection could not be made, or the server refused it while shutting
	// down. Otherwise a retried create could report ErrConflict, or a
	// retried delete ErrNotFound, for a write that had succeeded.
	once
)

// do runs fn, retrying it as the policy above allows. A connection-class
// error also makes the pool ping, before reuse, every connection that was
// idle when it happened: when the server restarts all of them are dead.
func (s *Store) do(ctx context.Context, k kind, fn func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		conn := isConnError(err)
		if conn {
			s.noteConnError()
		}
		if attempt == maxAttempts || !conn || (k == once && !didNotRun(err)) {
			return err
		}
		t := time.NewTimer(retryBackoff[attempt-1])
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// noteConnError records when a connection-class error happened.
func (s *Store) noteConnError() {
	s.lastConnError.Store(int64(time.Since(s.epoch)))
}

// shouldPing is the pool's ShouldPing: ping a connection idle for more than
// a second (pgxpool's default), and one that was already idle when the last
// connection-class error happened.
// now is the time since s.epoch.
func (s *Store) shouldPing(idle, now time.Duration) bool {
	if idle > time.Second {
		return true
	}
	last := time.Duration(s.lastConnError.Load())
	return last != 0 && idle >= now-last
}

// isConnError reports whether err says the connection, not the statement,
// failed: the dial failed, the connection broke or was closed, or the server
// ended the session (SQLSTATE class 08, or 57P01..57P03 when it is being shut
// down or restarted).
func isConnError(err error) bool {
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return serverEndedSession(pe)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// didNotRun reports whether err proves the statement had no effect.
func didNotRun(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	// An error the server sent in answer to the statement means it failed
	// and its transaction rolled back.
	var pe *pgconn.PgError
	return errors.As(err, &pe) && serverEndedSession(pe)
}

func serverEndedSession(pe *pgconn.PgError) bool {
	switch pe.Code {
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return true
	}
	return strings.HasPrefix(pe.Code, "08") // connection_exception
}
