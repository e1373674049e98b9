// Package postgres is the production Store, on PostgreSQL through a pgx/v5
// connection pool. Several contactd nodes may share one database.
//
// The Store rides over a database restart without being reopened: see
// retry.go for which calls are retried and when. Times are stored as
// timestamptz, so they keep microseconds (sub-microsecond digits are
// truncated) and come back in UTC.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
	"github.com/contactd/contactd/routing"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the pg_advisory_xact_lock key that serialises migrators
// (several nodes starting at once). It spells "contactd".
const migrationLock int64 = 0x636f6e7461637464

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	// epoch and lastConnError (nanoseconds since epoch, 0 for never) feed
	// shouldPing.
	epoch         time.Time
	lastConnError atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// string, as pgx accepts) and applies the migrations it has not seen yet.
// Pool settings given in the URL (pool_max_conns, pool_health_check_period,
// connect_timeout, ...) win over the defaults set here.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{epoch: time.Now()}
	setDefaults(cfg, url)
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return s.shouldPing(p.IdleDuration, time.Since(s.epoch))
	}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// setDefaults fills in what the URL left unset: a connect timeout, so a dead
// server fails a call quickly instead of after pgx's two minutes; a periodic
// health check that retires idle connections; and a ping timeout.
func setDefaults(cfg *pgxpool.Config, url string) {
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !hasParam(url, "pool_health_check_period") {
		cfg.HealthCheckPeriod = 15 * time.Second
	}
	if !hasParam(url, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = 5 * time.Second
	}
}

// hasParam reports whether the connection string sets key.
func hasParam(url, key string) bool {
	return strings.Contains(url, key+"=")
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	ms, err := sqlutil.LoadMigrations(sub)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return applyMigration(ctx, tx, m) }); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// applyMigration runs m unless schema_migrations has it. The transaction
// holds the advisory lock from the check to the commit, so migrators that
// start together apply each migration once.
func applyMigration(ctx context.Context, tx pgx.Tx, m sqlutil.Migration) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
		return err
	}
	if done {
		return nil
	}
	// Without arguments pgx sends the file with the simple protocol, which
	// runs every statement in it.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version)
	return err
}

// encodeTime passes t to pgx, the zero time as NULL.
func encodeTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	return t, nil
}

func isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// exec runs a statement that must change a row; none changed is ErrNotFound.
func (s *Store) exec(ctx context.Context, k kind, query string, args ...any) error {
	return s.do(ctx, k, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, query, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

func queryAll[T any](ctx context.Context, s *Store, scan func(sqlutil.Row) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = sqlutil.Collect(rows, scan)
		return err
	})
	return out, err
}

func queryOne[T any](ctx context.Context, s *Store, scan func(sqlutil.Row) (T, error), query string, args ...any) (T, error) {
	var out T
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		var err error
		out, err = scan(s.pool.QueryRow(ctx, query, args...))
		return err
	})
	return out, notFound(err)
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.do(ctx, idempotent, s.pool.Ping); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// CountAgents implements store.Store.
func (s *Store) CountAgents(ctx context.Context) (int, error) {
	n, err := queryOne(ctx, s, func(r sqlutil.Row) (n int, err error) { return n, r.Scan(&n) }, `SELECT count(*) FROM agents`)
	if err != nil {
		return 0, fmt.Errorf("postgres: count agents: %w", err)
	}
	return n, nil
}

// CreateAgent implements store.Store.
func (s *Store) CreateAgent(ctx context.Context, a store.Agent) error {
	args, err := sqlutil.AgentArgs(a, encodeTime)
	if err != nil {
		return fmt.Errorf("postgres: create %w", err)
	}
	err = s.exec(ctx, once, `INSERT INTO agents (`+sqlutil.AgentColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, args...)
	if isConflict(err) {
		return fmt.Errorf("postgres: create agent %q: %w", a.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create agent %q: %w", a.ID, err)
	}
	return nil
}

// UpdateAgent implements store.Store.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) error {
	args, err := sqlutil.AgentUpdateArgs(a, encodeTime)
	if err != nil {
		return fmt.Errorf("postgres: update %w", err)
	}
	err = s.exec(ctx, idempotent, `UPDATE agents SET
		display_name = $2, password_hash = $3, roles = $4, skills = $5, capacity = $6,
		voice_blocks_chat = $7, presence = $8, away_reason = $9, presence_since = $10, updated_at = $11
		WHERE id = $1`, args...)
	if err != nil {
		return fmt.Errorf("postgres: update agent %q: %w", a.ID, err)
	}
	return nil
}

// GetAgent implements store.Store.
func (s *Store) GetAgent(ctx context.Context, id routing.AgentID) (store.Agent, error) {
	a, err := queryOne(ctx, s, sqlutil.ScanAgent, `SELECT `+sqlutil.AgentColumns+` FROM agents WHERE id = $1`, string(id))
	if err != nil {
		return store.Agent{}, fmt.Errorf("postgres: get agent %q: %w", id, err)
	}
	return a, nil
}

// ListAgents implements store.Store.
func (s *Store) ListAgents(ctx context.Context) ([]store.Agent, error) {
	as, err := queryAll(ctx, s, sqlutil.ScanAgent, `SELECT `+sqlutil.AgentColumns+` FROM agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list agents: %w", err)
	}
	return as, nil
}

// SetAgentPresence implements store.Store.
func (s *Store) SetAgentPresence(ctx context.Context, id routing.AgentID, p routing.Presence, reason string, since time.Time) error {
	at, err := encodeTime(since)
	if err != nil {
		return fmt.Errorf("postgres: set presence of agent %q: %w", id, err)
	}
	err = s.exec(ctx, idempotent, `UPDATE agents SET presence = $2, away_reason = $3, presence_since = $4 WHERE id = $1`,
		string(id), string(p), reason, at)
	if err != nil {
		return fmt.Errorf("postgres: set presence of agent %q: %w", id, err)
	}
	return nil
}

// UpsertQueue implements store.Store.
func (s *Store) UpsertQueue(ctx context.Context, q routing.QueueConfig) error {
	doc, err := sqlutil.EncodeQueue(q)
	if err != nil {
		return fmt.Errorf("postgres: upsert queue %q: %w", q.ID, err)
	}
	err = s.exec(ctx, idempotent, `INSERT INTO queues (id, config) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = now()`, string(q.ID), doc)
	if err != nil {
		return fmt.Errorf("postgres: upsert queue %q: %w", q.ID, err)
	}
	return nil
}

// GetQueue implements store.Store.
func (s *Store) GetQueue(ctx context.Context, id routing.QueueID) (routing.QueueConfig, error) {
	q, err := queryOne(ctx, s, sqlutil.ScanQueue, `SELECT id, config FROM queues WHERE id = $1`, string(id))
	if err != nil {
		return routing.QueueConfig{}, fmt.Errorf("postgres: get queue %q: %w", id, err)
	}
	return q, nil
}

// ListQueues implements store.Store.
func (s *Store) ListQueues(ctx context.Context) ([]routing.QueueConfig, error) {
	qs, err := queryAll(ctx, s, sqlutil.ScanQueue, `SELECT id, config FROM queues ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list queues: %w", err)
	}
	return qs, nil
}

// CreateInteraction implements store.Store.
func (s *Store) CreateInteraction(ctx context.Context, in store.Interaction) error {
	args, err := sqlutil.InteractionArgs(in, encodeTime)
	if err != nil {
		return fmt.Errorf("postgres: create %w", err)
	}
	err = s.exec(ctx, once, `INSERT INTO interactions (`+sqlutil.InteractionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, args...)
	if isConflict(err) {
		return fmt.Errorf("postgres: create interaction %q: %w", in.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create interaction %q: %w", in.ID, err)
	}
	return nil
}

// GetInteraction implements store.Store.
func (s *Store) GetInteraction(ctx context.Context, id routing.InteractionID) (store.Interaction, error) {
	in, err := queryOne(ctx, s, sqlutil.ScanInteraction,
		`SELECT `+sqlutil.InteractionColumns+` FROM interactions WHERE id = $1`, string(id))
	if err != nil {
		return store.Interaction{}, fmt.Errorf("postgres: get interaction %q: %w", id, err)
	}
	return in, nil
}

// ListOpenInteractions implements store.Store.
func (s *Store) ListOpenInteractions(ctx context.Context) ([]store.Interaction, error) {
	ins, err := queryAll(ctx, s, sqlutil.ScanInteraction, `SELECT `+sqlutil.InteractionColumns+` FROM interactions
		WHERE status <> 'ended' ORDER BY priority DESC, enqueued_at ASC NULLS FIRST, id ASC`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list open interactions: %w", err)
	}
	return ins, nil
}

// appendEventsSQL inserts a whole batch in one statement (so in one
// transaction) from one array per column.
const appendEventsSQL = `INSERT INTO events (` + sqlutil.EventColumns + `)
	SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::integer[], $13::integer[],
		$14::bigint[], $15::bigint[])
	ON CONFLICT (seq) DO NOTHING`

// eventBatch holds a batch column by column, as unnest takes it.
type eventBatch struct {
	seq                                     []int64
	at                                      []pgtype.Timestamptz
	typ, interaction, queue, agent, channel []string
	target, mode, reason, state             []string
	priority, step                          []int32
	wait, handle                            []int64
}

func newEventBatch(evs []routing.Event) (*eventBatch, error) {
	n := len(evs)
	b := &eventBatch{
		seq: make([]int64, n), at: make([]pgtype.Timestamptz, n),
		typ: make([]string, n), interaction: make([]string, n), queue: make([]string, n),
		agent: make([]string, n), channel: make([]string, n), target: make([]string, n),
		mode: make([]string, n), reason: make([]string, n), state: make([]string, n),
		priority: make([]int32, n), step: make([]int32, n), wait: make([]int64, n), handle: make([]int64, n),
	}
	for i, ev := range evs {
		if ev.Priority != int(int32(ev.Priority)) || ev.Step != int(int32(ev.Step)) {
			return nil, fmt.Errorf("event %d: priority %d or step %d does not fit in 32 bits", ev.Seq, ev.Priority, ev.Step)
		}
		b.seq[i], b.at[i] = ev.Seq, pgtype.Timestamptz{Time: ev.Time, Valid: !ev.Time.IsZero()}
		b.typ[i], b.interaction[i], b.queue[i] = string(ev.Type), string(ev.Interaction), string(ev.Queue)
		b.agent[i], b.channel[i], b.target[i], b.mode[i] = string(ev.Agent), string(ev.Channel), ev.Target, ev.Mode
		b.reason[i], b.state[i] = string(ev.Reason), string(ev.State)
		b.priority[i], b.step[i] = int32(ev.Priority), int32(ev.Step)
		b.wait[i], b.handle[i] = int64(ev.Wait), int64(ev.Handle)
	}
	return b, nil
}

// args returns the columns in EventColumns order.
func (b *eventBatch) args() []any {
	return []any{b.seq, b.at, b.typ, b.interaction, b.queue, b.agent, b.channel,
		b.target, b.mode, b.reason, b.state, b.priority, b.step, b.wait, b.handle}
}

// AppendEvents implements store.Store.
func (s *Store) AppendEvents(ctx context.Context, evs []routing.Event) error {
	if len(evs) == 0 {
		return nil
	}
	b, err := newEventBatch(evs)
	if err != nil {
		return fmt.Errorf("postgres: append events: %w", err)
	}
	args := b.args()
	err = s.do(ctx, idempotent, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, appendEventsSQL, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: append %d events: %w", len(evs), err)
	}
	return nil
}

// WriteRouting implements store.Store: one transaction, its statements sent
// in one batch (one round trip). Being idempotent, it is retried after any
// connection-class error.
func (s *Store) WriteRouting(ctx context.Context, b store.RoutingBatch) error {
	if len(b.Events) == 0 && len(b.Interactions) == 0 && len(b.Presence) == 0 {
		return nil
	}
	what := fmt.Sprintf("postgres: write routing (%d events, %d interactions, %d agents)", len(b.Events), len(b.Interactions), len(b.Presence))
	batch := &pgx.Batch{}
	if len(b.Events) > 0 {
		eb, err := newEventBatch(b.Events)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		batch.Queue(appendEventsSQL, eb.args()...)
	}
	for _, in := range b.Interactions {
		args, err := sqlutil.InteractionArgs(in, encodeTime)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		batch.Queue(`INSERT INTO interactions (`+sqlutil.InteractionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (id) DO UPDATE SET channel = excluded.channel, queue = excluded.queue,
				skills = excluded.skills, preferred_agent = excluded.preferred_agent, priority = excluded.priority,
				status = excluded.status, agent = excluded.agent, enqueued_at = excluded.enqueued_at,
				accepted_at = excluded.accepted_at, ended_at = excluded.ended_at, end_reason = excluded.end_reason`, args...)
	}
	for _, p := range b.Presence {
		at, _ := encodeTime(p.Since)
		batch.Queue(`UPDATE agents SET presence = $2, away_reason = $3, presence_since = $4 WHERE id = $1`,
			string(p.Agent), string(p.Presence), p.Reason, at)
	}
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return tx.SendBatch(ctx, batch).Close()
		})
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, id routing.InteractionID) ([]routing.Event, error) {
	evs, err := queryAll(ctx, s, sqlutil.ScanEvent,
		`SELECT `+sqlutil.EventColumns+` FROM events WHERE interaction = $1 ORDER BY seq`, string(id))
	if err != nil {
		return nil, fmt.Errorf("postgres: list events of %q: %w", id, err)
	}
	return evs, nil
}

// ListEventsAfter implements store.Store. A limit below 1 is an error.
func (s *Store) ListEventsAfter(ctx context.Context, after int64, limit int) ([]routing.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: list events after %d: limit %d is not positive", after, limit)
	}
	evs, err := queryAll(ctx, s, sqlutil.ScanEvent,
		`SELECT `+sqlutil.EventColumns+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list events after %d: %w", after, err)
	}
	return evs, nil
}

// MaxEventSeq implements store.Store.
func (s *Store) MaxEventSeq(ctx context.Context) (int64, error) {
	n, err := queryOne(ctx, s, func(r sqlutil.Row) (n int64, err error) { return n, r.Scan(&n) },
		`SELECT coalesce(max(seq), 0) FROM events`)
	if err != nil {
		return 0, fmt.Errorf("postgres: max event seq: %w", err)
	}
	return n, nil
}
