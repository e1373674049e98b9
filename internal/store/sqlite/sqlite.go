// Package sqlite is the embedded Store: one SQLite file through
// modernc.org/sqlite (pure Go, no cgo), used when no database URL is set.
//
// The file is opened in WAL mode with synchronous=FULL, so a committed write
// survives a power cut, and with a single connection: SQLite allows one
// writer at a time, and funnelling every statement through one connection
// trades read concurrency for never seeing SQLITE_BUSY inside the process.
// Times are stored as Unix nanoseconds, so they round-trip exactly but must
// lie between the years 1678 and 2262.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
	"github.com/contactd/contactd/routing"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Every connection gets these. busy_timeout matters when another process
// holds the file (a second contactd, the sqlite3 shell); _txlock=immediate
// takes the write lock at BEGIN, so a transaction never fails half-way
// because a reader upgraded too late. The page cache may grow to 64 MiB
// (SQLite's default is 2 MiB): under chat load every message touches index
// pages of its conversation, and thousands of conversations at once need
// more than that to be written without being read back from the file. The
// write-ahead log is checkpointed into the file every 4,000 pages (16 MiB;
// the default is 1,000): a page that changes again and again under load is
// copied once per checkpoint, so rarer checkpoints copy less
// (BenchmarkChatLoad: about 15% less CPU per message).
const dsnParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=cache_size(-65536)&_pragma=wal_autocheckpoint(4000)&_txlock=immediate"

// Store is a store.Store on an SQLite file.
type Store struct {
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens the SQLite file at path, creating it if needed, and applies the
// migrations it has not seen yet.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: path is empty")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: path %q must not contain '?'", path)
	}
	db, err := sql.Open("sqlite", path+"?"+dsnParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	ms, err := sqlutil.LoadMigrations(sub)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// applyMigration runs m unless schema_migrations has it. BEGIN IMMEDIATE
// holds the write lock from the check to the commit, so two processes opening
// the same new file apply it once.
func applyMigration(ctx context.Context, db *sql.DB, m sqlutil.Migration) error {
	return inTx(ctx, db, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
			m.Version, time.Now().UnixNano())
		return err
	})
}

// inTx runs fn in a transaction. fn's statements get ctx without its
// cancellation: for a cancellable context the driver starts a goroutine
// per statement to interrupt it, one per message of a batch. A context
// that ends still ends the transaction: database/sql rolls it back, and
// the next statement fails.
func inTx(ctx context.Context, db *sql.DB, fn func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(context.WithoutCancel(ctx), tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// The range of time.Unix(0, n) for an int64 n.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encodeTime stores t as Unix nanoseconds, the zero time as NULL.
func encodeTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("time %s is outside the range SQLite stores (years 1678 to 2262)", t.UTC().Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func isConflict(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// mustAffect turns "no row changed" into ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// CountAgents implements store.Store.
func (s *Store) CountAgents(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM agents`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count agents: %w", err)
	}
	return n, nil
}

// CreateAgent implements store.Store.
func (s *Store) CreateAgent(ctx context.Context, a store.Agent) error {
	args, err := sqlutil.AgentArgs(a, encodeTime)
	if err != nil {
		return fmt.Errorf("sqlite: create %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO agents (`+sqlutil.AgentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, args...)
	if isConflict(err) {
		return fmt.Errorf("sqlite: create agent %q: %w", a.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create agent %q: %w", a.ID, err)
	}
	return nil
}

// UpdateAgent implements store.Store.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) error {
	args, err := sqlutil.AgentUpdateArgs(a, encodeTime)
	if err != nil {
		return fmt.Errorf("sqlite: update %w", err)
	}
	err = mustAffect(s.db.ExecContext(ctx, `UPDATE agents SET
		display_name = $2, password_hash = $3, roles = $4, skills = $5, capacity = $6,
		voice_blocks_chat = $7, presence = $8, away_reason = $9, presence_since = $10, updated_at = $11
		WHERE id = $1`, args...))
	if err != nil {
		return fmt.Errorf("sqlite: update agent %q: %w", a.ID, err)
	}
	return nil
}

// GetAgent implements store.Store.
func (s *Store) GetAgent(ctx context.Context, id routing.AgentID) (store.Agent, error) {
	a, err := sqlutil.ScanAgent(s.db.QueryRowContext(ctx,
		`SELECT `+sqlutil.AgentColumns+` FROM agents WHERE id = $1`, string(id)))
	if err != nil {
		return store.Agent{}, fmt.Errorf("sqlite: get agent %q: %w", id, notFound(err))
	}
	return a, nil
}

// ListAgents implements store.Store.
func (s *Store) ListAgents(ctx context.Context) ([]store.Agent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqlutil.AgentColumns+` FROM agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list agents: %w", err)
	}
	defer rows.Close()
	as, err := sqlutil.Collect(rows, sqlutil.ScanAgent)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list agents: %w", err)
	}
	return as, nil
}

// SetAgentPresence implements store.Store.
func (s *Store) SetAgentPresence(ctx context.Context, id routing.AgentID, p routing.Presence, reason string, since time.Time) error {
	at, err := encodeTime(since)
	if err != nil {
		return fmt.Errorf("sqlite: set presence of agent %q: %w", id, err)
	}
	err = mustAffect(s.db.ExecContext(ctx,
		`UPDATE agents SET presence = $2, away_reason = $3, presence_since = $4 WHERE id = $1`,
		string(id), string(p), reason, at))
	if err != nil {
		return fmt.Errorf("sqlite: set presence of agent %q: %w", id, err)
	}
	return nil
}

// UpsertQueue implements store.Store.
func (s *Store) UpsertQueue(ctx context.Context, q routing.QueueConfig) error {
	doc, err := sqlutil.EncodeQueue(q)
	if err != nil {
		return fmt.Errorf("sqlite: upsert queue %q: %w", q.ID, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO queues (id, config, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
		string(q.ID), doc, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("sqlite: upsert queue %q: %w", q.ID, err)
	}
	return nil
}

// GetQueue implements store.Store.
func (s *Store) GetQueue(ctx context.Context, id routing.QueueID) (routing.QueueConfig, error) {
	q, err := sqlutil.ScanQueue(s.db.QueryRowContext(ctx, `SELECT id, config FROM queues WHERE id = $1`, string(id)))
	if err != nil {
		return routing.QueueConfig{}, fmt.Errorf("sqlite: get queue %q: %w", id, notFound(err))
	}
	return q, nil
}

// ListQueues implements store.Store.
func (s *Store) ListQueues(ctx context.Context) ([]routing.QueueConfig, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, config FROM queues ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list queues: %w", err)
	}
	defer rows.Close()
	qs, err := sqlutil.Collect(rows, sqlutil.ScanQueue)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list queues: %w", err)
	}
	return qs, nil
}

// CreateInteraction implements store.Store.
func (s *Store) CreateInteraction(ctx context.Context, in store.Interaction) error {
	args, err := sqlutil.InteractionArgs(in, encodeTime)
	if err != nil {
		return fmt.Errorf("sqlite: create %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO interactions (`+sqlutil.InteractionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	if isConflict(err) {
		return fmt.Errorf("sqlite: create interaction %q: %w", in.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create interaction %q: %w", in.ID, err)
	}
	return nil
}

// GetInteraction implements store.Store.
func (s *Store) GetInteraction(ctx context.Context, id routing.InteractionID) (store.Interaction, error) {
	in, err := sqlutil.ScanInteraction(s.db.QueryRowContext(ctx,
		`SELECT `+sqlutil.InteractionColumns+` FROM interactions WHERE id = $1`, string(id)))
	if err != nil {
		return store.Interaction{}, fmt.Errorf("sqlite: get interaction %q: %w", id, notFound(err))
	}
	return in, nil
}

// ListOpenInteractions implements store.Store.
func (s *Store) ListOpenInteractions(ctx context.Context) ([]store.Interaction, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqlutil.InteractionColumns+` FROM interactions
		WHERE status <> 'ended' ORDER BY priority DESC, enqueued_at ASC NULLS FIRST, id ASC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list open interactions: %w", err)
	}
	defer rows.Close()
	ins, err := sqlutil.Collect(rows, sqlutil.ScanInteraction)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list open interactions: %w", err)
	}
	return ins, nil
}

// AppendEvents implements store.Store.
func (s *Store) AppendEvents(ctx context.Context, evs []routing.Event) error {
	if len(evs) == 0 {
		return nil
	}
	args := make([][]any, len(evs))
	for i, ev := range evs {
		a, err := sqlutil.EventArgs(ev, encodeTime)
		if err != nil {
			return fmt.Errorf("sqlite: append events: %w", err)
		}
		args[i] = a
	}
	err := inTx(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (`+sqlutil.EventColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (seq) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, a := range args {
			if _, err := stmt.ExecContext(ctx, a...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: append %d events: %w", len(evs), err)
	}
	return nil
}

// WriteRouting implements store.Store.
func (s *Store) WriteRouting(ctx context.Context, b store.RoutingBatch) error {
	if len(b.Events) == 0 && len(b.Interactions) == 0 && len(b.Presence) == 0 {
		return nil
	}
	evs := make([][]any, len(b.Events))
	for i, ev := range b.Events {
		a, err := sqlutil.EventArgs(ev, encodeTime)
		if err != nil {
			return fmt.Errorf("sqlite: write routing: %w", err)
		}
		evs[i] = a
	}
	ins := make([][]any, len(b.Interactions))
	for i, in := range b.Interactions {
		a, err := sqlutil.InteractionArgs(in, encodeTime)
		if err != nil {
			return fmt.Errorf("sqlite: write routing: %w", err)
		}
		ins[i] = a
	}
	pres := make([][]any, len(b.Presence))
	for i, p := range b.Presence {
		at, err := encodeTime(p.Since)
		if err != nil {
			return fmt.Errorf("sqlite: write routing: presence of agent %q: %w", p.Agent, err)
		}
		pres[i] = []any{string(p.Agent), string(p.Presence), p.Reason, at}
	}
	err := inTx(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error {
		if err := execEach(ctx, tx, `INSERT INTO events (`+sqlutil.EventColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			ON CONFLICT (seq) DO NOTHING`, evs); err != nil {
			return err
		}
		if err := execEach(ctx, tx, `INSERT INTO interactions (`+sqlutil.InteractionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (id) DO UPDATE SET channel = excluded.channel, queue = excluded.queue,
				skills = excluded.skills, preferred_agent = excluded.preferred_agent, priority = excluded.priority,
				status = excluded.status, agent = excluded.agent, enqueued_at = excluded.enqueued_at,
				accepted_at = excluded.accepted_at, ended_at = excluded.ended_at, end_reason = excluded.end_reason`, ins); err != nil {
			return err
		}
		return execEach(ctx, tx, `UPDATE agents SET presence = $2, away_reason = $3, presence_since = $4 WHERE id = $1`, pres)
	})
	if err != nil {
		return fmt.Errorf("sqlite: write routing (%d events, %d interactions, %d agents): %w",
			len(b.Events), len(b.Interactions), len(b.Presence), err)
	}
	return nil
}

// execEach runs query once per argument list through one prepared
// statement.
func execEach(ctx context.Context, tx *sql.Tx, query string, args [][]any) error {
	if len(args) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, a := range args {
		if _, err := stmt.ExecContext(ctx, a...); err != nil {
			return err
		}
	}
	return nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, id routing.InteractionID) ([]routing.Event, error) {
	return s.listEvents(ctx, "list events of "+string(id),
		`SELECT `+sqlutil.EventColumns+` FROM events WHERE interaction = $1 ORDER BY seq`, string(id))
}

// ListEventsAfter implements store.Store. A limit below 1 is an error.
func (s *Store) ListEventsAfter(ctx context.Context, after int64, limit int) ([]routing.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: list events after %d: limit %d is not positive", after, limit)
	}
	return s.listEvents(ctx, fmt.Sprintf("list events after %d", after),
		`SELECT `+sqlutil.EventColumns+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
}

func (s *Store) listEvents(ctx context.Context, what, query string, args ...any) ([]routing.Event, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	evs, err := sqlutil.Collect(rows, sqlutil.ScanEvent)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return evs, nil
}

// MaxEventSeq implements store.Store.
func (s *Store) MaxEventSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: max event seq: %w", err)
	}
	return n, nil
}
