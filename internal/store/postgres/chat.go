package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
	"github.com/contactd/contactd/routing"
)

var _ store.ChatStore = (*Store)(nil)

// isForeignKey reports a reference to a row that does not exist.
func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503" // foreign_key_violation
}

// CreateConversation implements store.ChatStore.
func (s *Store) CreateConversation(ctx context.Context, c store.Conversation) error {
	args, err := sqlutil.ConversationArgs(c, encodeTime)
	if err != nil {
		return fmt.Errorf("postgres: create %w", err)
	}
	err = s.exec(ctx, once, `INSERT INTO conversations (`+sqlutil.ConversationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, args...)
	if isConflict(err) {
		return fmt.Errorf("postgres: create conversation %q: %w", c.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create conversation %q: %w", c.ID, err)
	}
	return nil
}

// GetConversation implements store.ChatStore.
func (s *Store) GetConversation(ctx context.Context, id store.ConversationID) (store.Conversation, error) {
	c, err := queryOne(ctx, s, sqlutil.ScanConversation,
		`SELECT `+sqlutil.ConversationColumns+` FROM conversations WHERE id = $1`, string(id))
	if err != nil {
		return store.Conversation{}, fmt.Errorf("postgres: get conversation %q: %w", id, err)
	}
	return c, nil
}

// ListOpenConversations implements store.ChatStore.
func (s *Store) ListOpenConversations(ctx context.Context) ([]store.Conversation, error) {
	cs, err := queryAll(ctx, s, sqlutil.ScanConversation, `SELECT `+sqlutil.ConversationColumns+` FROM conversations
		WHERE status <> 'ended' ORDER BY created_at ASC NULLS FIRST, id ASC`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list open conversations: %w", err)
	}
	return cs, nil
}

// appendMessagesSQL stores a whole batch in one statement, so in one
// transaction and one round trip, from one array per column ($1..$9) and
// the batch's distinct conversation ids ($10):
//
//   - found locks the batch's conversations in id order, so that batches
//     sharing conversations queue behind each other instead of deadlocking;
//   - stored inserts the messages only if every conversation was found,
//     skipping any whose (conversation, seq) or (conversation, sender,
//     client_id) is stored; an empty client id becomes NULL, which never
//     collides;
//   - moved raises each conversation's last_seq to the highest seq stored.
//     A conversation's last_seq is never below a stored seq, since every
//     insert moves it in the same statement, so the inserted rows suffice.
//
// The statement returns the ids found; fewer than $10 means nothing was
// stored.
const appendMessagesSQL = `WITH batch AS (
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::text[], $8::text[], $9::timestamptz[])
			AS b (conversation, seq, client_id, sender, kind, text, event, data, created_at)
	), found AS (
		SELECT id FROM conversations WHERE id = ANY ($10::text[]) ORDER BY id FOR NO KEY UPDATE
	), stored AS (
		INSERT INTO messages (` + sqlutil.MessageColumns + `)
		SELECT conversation, seq, NULLIF(client_id, ''), sender, kind, text, event, data::jsonb, created_at
		FROM batch
		WHERE (SELECT count(*) FROM found) = cardinality($10::text[])
		ON CONFLICT DO NOTHING
		RETURNING conversation, seq
	), moved AS (
		UPDATE conversations c SET last_seq = GREATEST(c.last_seq, s.seq)
		FROM (SELECT conversation, max(seq) AS seq FROM stored GROUP BY conversation) s
		WHERE c.id = s.conversation
	)
	SELECT id FROM found`

// messageBatch holds a batch column by column, as unnest takes it.
type messageBatch struct {
	conversation, clientID, sender, kind, text, event, data []string
	seq                                                     []int64
	at                                                      []pgtype.Timestamptz
}

func newMessageBatch(msgs []store.Message) (*messageBatch, error) {
	n := len(msgs)
	b := &messageBatch{
		conversation: make([]string, n), clientID: make([]string, n), sender: make([]string, n),
		kind: make([]string, n), text: make([]string, n), event: make([]string, n), data: make([]string, n),
		seq: make([]int64, n), at: make([]pgtype.Timestamptz, n),
	}
	for i, m := range msgs {
		if err := sqlutil.CheckMessage(m); err != nil {
			return nil, err
		}
		data, err := sqlutil.MessageData(m)
		if err != nil {
			return nil, err
		}
		b.conversation[i], b.seq[i], b.clientID[i], b.sender[i] = string(m.Conversation), m.Seq, m.ClientID, m.Sender
		b.kind[i], b.text[i], b.event[i], b.data[i] = m.Kind, m.Text, m.Event, data
		b.at[i] = pgtype.Timestamptz{Time: m.CreatedAt, Valid: !m.CreatedAt.IsZero()}
	}
	return b, nil
}

// AppendMessages implements store.ChatStore. It is idempotent, so it is
// retried after any connection-class error: a batch that was stored before
// the connection broke is skipped as a whole the second time.
func (s *Store) AppendMessages(ctx context.Context, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	b, err := newMessageBatch(msgs)
	if err != nil {
		return fmt.Errorf("postgres: append messages: %w", err)
	}
	ids := sqlutil.ConversationsOf(msgs)
	found, err := queryAll(ctx, s, func(r sqlutil.Row) (id string, err error) { return id, r.Scan(&id) },
		appendMessagesSQL, b.conversation, b.seq, b.clientID, b.sender, b.kind, b.text, b.event, b.data, b.at, ids)
	if err != nil {
		return fmt.Errorf("postgres: append %d messages: %w", len(msgs), err)
	}
	if len(found) < len(ids) {
		for _, id := range ids {
			if !slices.Contains(found, id) {
				return fmt.Errorf("postgres: append %d messages: conversation %q: %w", len(msgs), id, store.ErrNotFound)
			}
		}
	}
	return nil
}

// CommitChat implements store.ChatStore: one transaction, its statements
// sent in one batch (one round trip besides BEGIN and COMMIT, and one more
// when a new conversation's id was found taken); a batch of messages only is
// AppendMessages, one statement. Being idempotent, it is retried after any
// connection-class error.
func (s *Store) CommitChat(ctx context.Context, b store.ChatBatch) ([]store.ConversationID, error) {
	if len(b.Create) == 0 && len(b.Update) == 0 {
		return nil, s.AppendMessages(ctx, b.Messages) // one statement, one round trip
	}
	what := fmt.Sprintf("postgres: commit chat (%d new conversations, %d messages, %d updates)", len(b.Create), len(b.Messages), len(b.Update))
	creates := make([][]any, len(b.Create))
	for i, c := range b.Create {
		a, err := sqlutil.ConversationArgs(c, encodeTime)
		if err != nil {
			return nil, fmt.Errorf("%s: create %w", what, err)
		}
		creates[i] = a
	}
	updates := make([][]any, len(b.Update))
	for i, c := range b.Update {
		a, err := sqlutil.ConversationUpdateArgs(c, encodeTime)
		if err != nil {
			return nil, fmt.Errorf("%s: update %w", what, err)
		}
		updates[i] = a
	}
	var mb *messageBatch
	var ids []string
	if len(b.Messages) > 0 {
		var err error
		if mb, err = newMessageBatch(b.Messages); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ids = sqlutil.ConversationsOf(b.Messages)
	}
	var taken []store.ConversationID
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		taken = nil
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			batch := &pgx.Batch{}
			for _, a := range creates {
				batch.Queue(`INSERT INTO conversations (`+sqlutil.ConversationColumns+`)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`, a...)
			}
			if mb != nil {
				batch.Queue(appendMessagesSQL, mb.conversation, mb.seq, mb.clientID, mb.sender, mb.kind, mb.text, mb.event, mb.data, mb.at, ids)
			}
			for _, a := range updates {
				batch.Queue(`UPDATE conversations SET
					interaction = $2, queue = $3, visitor_name = $4, attributes = $5, status = $6,
					updated_at = $7, ended_at = $8, end_reason = $9
					WHERE id = $1`, a...)
			}
			res := tx.SendBatch(ctx, batch)
			var conflicts []int
			for i := range creates {
				tag, err := res.Exec()
				if err != nil {
					res.Close()
					return err
				}
				if tag.RowsAffected() == 0 {
					conflicts = append(conflicts, i)
				}
			}
			if mb != nil {
				rows, err := res.Query()
				if err != nil {
					res.Close()
					return err
				}
				found, err := sqlutil.Collect(rows, func(r sqlutil.Row) (id string, err error) { return id, r.Scan(&id) })
				if err != nil {
					res.Close()
					return err
				}
				if len(found) < len(ids) {
					res.Close()
					for _, id := range ids {
						if !slices.Contains(found, id) {
							return fmt.Errorf("conversation %q: %w", id, store.ErrNotFound)
						}
					}
				}
			}
			if err := res.Close(); err != nil {
				return err
			}
			// A taken id is someone else's, unless it holds this batch's
			// creation time: then an earlier attempt stored it.
			for _, i := range conflicts {
				c := b.Create[i]
				var created pgtype.Timestamptz
				if err := tx.QueryRow(ctx, `SELECT created_at FROM conversations WHERE id = $1`, string(c.ID)).Scan(&created); err != nil {
					return err
				}
				if !created.Valid || c.CreatedAt.IsZero() || created.Time.UnixMicro() != c.CreatedAt.UnixMicro() {
					taken = append(taken, c.ID)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return taken, nil
}

// ListMessages implements store.ChatStore. A limit below 1 is an error.
func (s *Store) ListMessages(ctx context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: list messages of %q after %d: limit %d is not positive", id, after, limit)
	}
	ms, err := queryAll(ctx, s, sqlutil.ScanMessage, `SELECT `+sqlutil.MessageColumns+` FROM messages
		WHERE conversation = $1 AND seq > $2 ORDER BY seq LIMIT $3`, string(id), after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list messages of %q after %d: %w", id, after, err)
	}
	return ms, nil
}

// ListMessageEvents implements store.ChatStore. A limit below 1 is an
// error.
func (s *Store) ListMessageEvents(ctx context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: list the events of %q after %d: limit %d is not positive", id, after, limit)
	}
	ms, err := queryAll(ctx, s, sqlutil.ScanMessage, `SELECT `+sqlutil.MessageColumns+` FROM messages
		WHERE conversation = $1 AND seq > $2 AND kind = $3 ORDER BY seq LIMIT $4`, string(id), after, store.MsgEvent, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list the events of %q after %d: %w", id, after, err)
	}
	return ms, nil
}

// FindMessageByClientID implements store.ChatStore.
func (s *Store) FindMessageByClientID(ctx context.Context, id store.ConversationID, sender, clientID string) (store.Message, error) {
	m, err := queryOne(ctx, s, sqlutil.ScanMessage, `SELECT `+sqlutil.MessageColumns+` FROM messages
		WHERE conversation = $1 AND sender = $2 AND client_id = $3`, string(id), sender, clientID)
	if err != nil {
		return store.Message{}, fmt.Errorf("postgres: find message %q of %q in %q: %w", clientID, sender, id, err)
	}
	return m, nil
}

// CreateLeftMessage implements store.ChatStore.
func (s *Store) CreateLeftMessage(ctx context.Context, m store.LeftMessage) error {
	args, err := sqlutil.LeftMessageArgs(m, encodeTime)
	if err != nil {
		return fmt.Errorf("postgres: create %w", err)
	}
	err = s.exec(ctx, once, `INSERT INTO left_messages (`+sqlutil.LeftMessageColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, args...)
	if isConflict(err) {
		return fmt.Errorf("postgres: create left message %q: %w", m.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create left message %q: %w", m.ID, err)
	}
	return nil
}

// ListLeftMessages implements store.ChatStore. A limit below 1 is an error.
func (s *Store) ListLeftMessages(ctx context.Context, f store.LeftMessageFilter, limit int) ([]store.LeftMessage, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: list left messages: limit %d is not positive", limit)
	}
	q, args := sqlutil.ListLeftMessages(f, limit)
	ms, err := queryAll(ctx, s, sqlutil.ScanLeftMessage, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list left messages: %w", err)
	}
	return ms, nil
}

// GetLeftMessage implements store.ChatStore.
func (s *Store) GetLeftMessage(ctx context.Context, id string) (store.LeftMessage, error) {
	m, err := queryOne(ctx, s, sqlutil.ScanLeftMessageAudio,
		`SELECT `+sqlutil.LeftMessageSelectAudio+` FROM left_messages WHERE id = $1`, id)
	if err != nil {
		return store.LeftMessage{}, fmt.Errorf("postgres: get left message %q: %w", id, err)
	}
	return m, nil
}

// MarkLeftMessageHandled implements store.ChatStore.
func (s *Store) MarkLeftMessageHandled(ctx context.Context, id string, by routing.AgentID, at time.Time) error {
	handledAt, err := encodeTime(at)
	if err != nil {
		return fmt.Errorf("postgres: mark left message %q handled: %w", id, err)
	}
	err = s.exec(ctx, idempotent, `UPDATE left_messages SET handled_by = $2, handled_at = $3 WHERE id = $1`,
		id, string(by), handledAt)
	if err != nil {
		return fmt.Errorf("postgres: mark left message %q handled: %w", id, err)
	}
	return nil
}

// CreateSession implements store.ChatStore.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	args, err := sqlutil.SessionArgs(sess, encodeTime)
	if err != nil {
		return fmt.Errorf("postgres: create %w", err)
	}
	err = s.exec(ctx, once, `INSERT INTO sessions (`+sqlutil.SessionColumns+`) VALUES ($1, $2, $3, $4)`, args...)
	switch {
	case isConflict(err):
		return fmt.Errorf("postgres: create session of agent %q: %w", sess.Agent, store.ErrConflict)
	case isForeignKey(err):
		return fmt.Errorf("postgres: create session: agent %q: %w", sess.Agent, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("postgres: create session of agent %q: %w", sess.Agent, err)
	}
	return nil
}

// GetSession implements store.ChatStore.
func (s *Store) GetSession(ctx context.Context, tokenHash string, now time.Time) (store.Session, error) {
	at, err := encodeTime(now)
	if err != nil {
		return store.Session{}, fmt.Errorf("postgres: get session: %w", err)
	}
	sess, err := queryOne(ctx, s, sqlutil.ScanSession, `SELECT `+sqlutil.SessionColumns+` FROM sessions
		WHERE token_hash = $1 AND expires_at > $2`, tokenHash, at)
	if err != nil {
		return store.Session{}, fmt.Errorf("postgres: get session: %w", err)
	}
	return sess, nil
}

// DeleteSession implements store.ChatStore. Deleting an absent session is
// not an error, so the call is idempotent.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements store.ChatStore. It is retried as
// idempotent: after a lost reply the retry finds nothing left to delete, so
// the count may fall short, but no session outlives its expiry.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	at, err := encodeTime(now)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired sessions: %w", err)
	}
	var n int64
	err = s.do(ctx, idempotent, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR expires_at IS NULL`, at)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired sessions: %w", err)
	}
	return int(n), nil
}

// Secret implements store.ChatStore. The insert and the read are separate
// statements: under READ COMMITTED the read sees a value another node
// committed while the insert waited on it, which one statement's snapshot
// would not.
func (s *Store) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if err := sqlutil.CheckSecret(name, value); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var out []byte
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&out)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: secret %q: %w", name, err)
	}
	return out, nil
}
