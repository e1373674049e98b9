package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/storetest"
	"github.com/contactd/contactd/internal/testutil"
	"github.com/contactd/contactd/routing"
)

func openStore(t testing.TB, dbURL string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// withParam returns dbURL with the query parameter key set to value.
func withParam(t testing.TB, dbURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("this test needs TEST_DATABASE_URL as a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	testutil.PostgresURL(t) // skip once, not in every subtest, without a server
	storetest.Run(t, func(t *testing.T) store.Store {
		return openStore(t, testutil.PostgresURL(t))
	})
}

// killConnections terminates every server connection of application app on
// dbURL's database, from a connection of its own, and waits until they are
// gone. It returns how many there were.
func killConnections(t *testing.T, dbURL, app string) int {
	t.Helper()
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, withParam(t, dbURL, "application_name", "cctest_killer"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed, left int
	// With a timeout, pg_terminate_backend returns once the backend has
	// exited (true) or the time is up (false).
	if err := admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))
		FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, app).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, app).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d connections of %s are still there after terminating %d", left, app, killed)
	}
	return killed
}

// fillPool makes the pool hold n idle connections.
func fillPool(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		c, err := s.pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
}

func TestSurvivesKilledConnections(t *testing.T) {
	ctx := t.Context()
	dbURL := testutil.PostgresURL(t)
	const app = "cctest_restart"
	s := openStore(t, withParam(t, withParam(t, dbURL, "application_name", app), "pool_max_conns", "4"))

	at := time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)
	agent := store.Agent{ID: "ada", DisplayName: "Ada", Roles: []store.Role{store.RoleAgent}, Capacity: map[routing.Channel]int{}, CreatedAt: at}
	queue := routing.QueueConfig{ID: "support", Name: "Support", Strategy: routing.StrategyRingAll}
	in := store.Interaction{ID: "chat-1", Channel: routing.ChannelChat, Queue: "support", Status: store.StatusWaiting, CreatedAt: at, EnqueuedAt: at}
	evs := []routing.Event{
		{Seq: 1, Time: at, Type: routing.EvEntered, Interaction: "chat-1", Queue: "support"},
		{Seq: 2, Time: at, Type: routing.EvOffered, Interaction: "chat-1", Queue: "support", Agent: "ada"},
	}
	for _, err := range []error{
		s.CreateAgent(ctx, agent), s.UpsertQueue(ctx, queue), s.CreateInteraction(ctx, in), s.AppendEvents(ctx, evs),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	fillPool(t, s, 4)

	if killed := killConnections(t, dbURL, app); killed != 4 {
		t.Fatalf("terminated %d connections, want the pool's 4", killed)
	}

	// Every call below must succeed on its first try from the caller's side.
	got, err := s.GetAgent(ctx, "ada")
	if err != nil {
		t.Fatalf("GetAgent after the connections were killed: %v", err)
	}
	if got.DisplayName != agent.DisplayName || !got.CreatedAt.Equal(agent.CreatedAt) {
		t.Errorf("agent after the kill = %+v, want %+v", got, agent)
	}
	if s.lastConnError.Load() == 0 {
		t.Error("no connection error was noticed: the test did not exercise the retry")
	}
	accepted := routing.Event{Seq: 3, Time: at.Add(time.Second), Type: routing.EvAccepted, Interaction: "chat-1", Queue: "support", Agent: "ada", Wait: time.Second}
	if err := s.AppendEvents(ctx, []routing.Event{accepted}); err != nil {
		t.Fatalf("AppendEvents after the kill: %v", err)
	}
	queue2 := queue
	queue2.MaxWait = 10 * time.Minute
	if err := s.UpsertQueue(ctx, queue2); err != nil {
		t.Fatalf("UpsertQueue after the kill: %v", err)
	}

	// A second kill, followed by writes that are not idempotent.
	fillPool(t, s, 4)
	killConnections(t, dbURL, app)
	if err := s.CreateAgent(ctx, store.Agent{ID: "bob", DisplayName: "Bob"}); err != nil {
		t.Fatalf("CreateAgent after a second kill: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after a second kill: %v", err)
	}

	// Everything written before and after is there, once.
	gotEvs, err := s.ListEvents(ctx, "chat-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(gotEvs) != 3 || gotEvs[0].Seq != 1 || gotEvs[2].Seq != 3 || gotEvs[2].Wait != time.Second {
		t.Errorf("events after the kills = %+v, want seqs 1, 2, 3", gotEvs)
	}
	gotQ, err := s.GetQueue(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotQ, queue2) {
		t.Errorf("queue after the kills = %+v, want %+v", gotQ, queue2)
	}
	gotIn, err := s.GetInteraction(ctx, "chat-1")
	if err != nil {
		t.Fatal(err)
	}
	if gotIn.Status != store.StatusWaiting || !gotIn.EnqueuedAt.Equal(at) {
		t.Errorf("interaction after the kills = %+v, want %+v", gotIn, in)
	}
	if n, err := s.CountAgents(ctx); err != nil || n != 2 {
		t.Errorf("CountAgents after the kills = %d, %v; want 2", n, err)
	}
}

func TestAppendMessagesSurvivesKilledConnections(t *testing.T) {
	ctx := t.Context()
	dbURL := testutil.PostgresURL(t)
	const app = "cctest_restart_chat"
	s := openStore(t, withParam(t, withParam(t, dbURL, "application_name", app), "pool_max_conns", "4"))

	at := time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)
	msg := func(conv store.ConversationID, seq int64) store.Message {
		return store.Message{Conversation: conv, Seq: seq, ClientID: fmt.Sprintf("k%d", seq), Sender: "visitor", Kind: store.MsgText, Text: "hello", CreatedAt: at}
	}
	for _, id := range []store.ConversationID{"a", "b"} {
		if err := s.CreateConversation(ctx, store.Conversation{ID: id, Status: store.ConvActive, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendMessages(ctx, []store.Message{msg("a", 1), msg("b", 1)}); err != nil {
		t.Fatal(err)
	}
	fillPool(t, s, 4)
	if killed := killConnections(t, dbURL, app); killed != 4 {
		t.Fatalf("terminated %d connections, want the pool's 4", killed)
	}

	// A batch repeating what is stored, as after a lost reply, and adding
	// to both conversations: it must succeed on its first try from the
	// caller's side.
	if err := s.AppendMessages(ctx, []store.Message{msg("a", 1), msg("b", 1), msg("a", 2), msg("b", 2), msg("b", 3)}); err != nil {
		t.Fatalf("AppendMessages after the connections were killed: %v", err)
	}
	if s.lastConnError.Load() == 0 {
		t.Error("no connection error was noticed: the test did not exercise the retry")
	}
	for id, want := range map[store.ConversationID]int64{"a": 2, "b": 3} {
		ms, err := s.ListMessages(ctx, id, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.GetConversation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(ms)) != want || c.LastSeq != want {
			t.Errorf("conversation %s holds %d messages up to LastSeq %d, want %d of each", id, len(ms), c.LastSeq, want)
		}
	}
}

func TestConcurrentOpenAppliesMigrationsOnce(t *testing.T) {
	dbURL := testutil.PostgresURL(t)
	const openers = 4
	errs := make([]error, openers)
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() {
			s, err := Open(t.Context(), dbURL)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	s := openStore(t, dbURL)
	var rows, versions int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if rows != versions || rows == 0 {
		t.Errorf("schema_migrations has %d rows for %d versions, want one row per version", rows, versions)
	}
}

func TestReopenKeepsDataAndMigrations(t *testing.T) {
	ctx := t.Context()
	dbURL := testutil.PostgresURL(t)
	s, err := Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertQueue(ctx, routing.QueueConfig{ID: "support"}); err != nil {
		t.Fatal(err)
	}
	var before time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(applied_at) FROM schema_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, dbURL)
	if _, err := s.GetQueue(ctx, "support"); err != nil {
		t.Errorf("queue after reopening: %v", err)
	}
	var after time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(applied_at) FROM schema_migrations`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Errorf("a migration was applied again on reopening: last applied %v, then %v", before, after)
	}
}

func TestOpenFailsWhenTheServerIsUnreachable(t *testing.T) {
	// Bind a port and close it, so nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with no server, want an error")
	}
	if !isConnError(err) {
		t.Errorf("Open's error %v is not classified as a connection error", err)
	}
}

type safeErr struct{}

func (safeErr) Error() string     { return "nothing was sent" }
func (safeErr) SafeToRetry() bool { return true }

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name            string
		err             error
		conn, didNotRun bool
	}{
		{"an error before anything was sent is retried for every call", fmt.Errorf("x: %w", safeErr{}), true, true},
		{"a server shutting down the session is retried for every call", &pgconn.PgError{Code: "57P01"}, true, true},
		{"a connection exception is retried for every call", &pgconn.PgError{Code: "08006"}, true, true},
		{"a broken connection is retried only for idempotent calls", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true, false},
		{"a reset connection is retried only for idempotent calls", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, false},
		{"a unique violation is not retried", &pgconn.PgError{Code: "23505"}, false, false},
		{"a syntax error is not retried", &pgconn.PgError{Code: "42601"}, false, false},
		{"no rows is not retried", pgx.ErrNoRows, false, false},
		{"a plain error is not retried", errors.New("boom"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isConnError(tt.err); got != tt.conn {
				t.Errorf("isConnError = %v, want %v", got, tt.conn)
			}
			if got := didNotRun(tt.err); got != tt.didNotRun {
				t.Errorf("didNotRun = %v, want %v", got, tt.didNotRun)
			}
		})
	}
}

func TestDoRetriesAsThePolicySays(t *testing.T) {
	broken := fmt.Errorf("read: %w", io.ErrUnexpectedEOF)
	tests := []struct {
		name  string
		kind  kind
		errs  []error // returned by successive attempts; nil after the list
		calls int
		fails bool
	}{
		{"an idempotent call rides over two broken connections", idempotent, []error{broken, broken}, 3, false},
		{"an idempotent call gives up after three attempts", idempotent, []error{broken, broken, broken, broken}, 3, true},
		{"a once call is not repeated after a broken connection", once, []error{broken}, 1, true},
		{"a once call is repeated when it surely did not run", once, []error{&pgconn.PgError{Code: "57P01"}}, 2, false},
		{"a statement error is returned at once", idempotent, []error{&pgconn.PgError{Code: "23505"}}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The backoff timers run on synctest's fake clock.
			synctest.Test(t, func(t *testing.T) {
				s := &Store{epoch: time.Now()}
				calls := 0
				start := time.Now()
				err := s.do(t.Context(), tt.kind, func(context.Context) error {
					calls++
					if calls <= len(tt.errs) {
						return tt.errs[calls-1]
					}
					return nil
				})
				if calls != tt.calls || (err != nil) != tt.fails {
					t.Errorf("do made %d calls and returned %v; want %d calls, failure %v", calls, err, tt.calls, tt.fails)
				}
				var wait time.Duration
				for i := range calls - 1 {
					wait += retryBackoff[i]
				}
				if got := time.Since(start); got != wait {
					t.Errorf("do waited %v between attempts, want %v", got, wait)
				}
			})
		})
	}
}

func TestShouldPingConnectionsIdleBeforeAnError(t *testing.T) {
	s := &Store{epoch: time.Now()}
	now := time.Hour
	if s.shouldPing(100*time.Millisecond, now) {
		t.Error("a connection idle for 100ms is pinged although no error happened")
	}
	if !s.shouldPing(2*time.Second, now) {
		t.Error("a connection idle for 2s is not pinged")
	}
	s.lastConnError.Store(int64(now - 500*time.Millisecond))
	if !s.shouldPing(600*time.Millisecond, now) {
		t.Error("a connection idle since before the last connection error is not pinged")
	}
	if s.shouldPing(400*time.Millisecond, now) {
		t.Error("a connection released after the last connection error is pinged")
	}
}
