package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
	"github.com/contactd/contactd/routing"
)

var _ store.ChatStore = (*Store)(nil)

// isForeignKey reports a reference to a row that does not exist.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// The conversations table has no last_seq column (migration 0003): a
// conversation's last seq is its highest stored message's, read through
// the messages' primary key.
const (
	// conversationSelect reads sqlutil.ConversationColumns.
	conversationSelect = `id, interaction, queue, visitor_name, attributes, status,
		(SELECT coalesce(max(m.seq), 0) FROM messages m WHERE m.conversation = conversations.id),
		created_at, updated_at, ended_at, end_reason`
	// insertConversation takes conversationInsertArgs.
	insertConversation = `INSERT INTO conversations (id, interaction, queue, visitor_name, attributes, status,
		created_at, updated_at, ended_at, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
)

// conversationInsertArgs is sqlutil.ConversationArgs without last_seq.
func conversationInsertArgs(c store.Conversation) ([]any, error) {
	args, err := sqlutil.ConversationArgs(c, encodeTime)
	if err != nil {
		return nil, err
	}
	return slices.Delete(args, 6, 7), nil
}

// CreateConversation implements store.ChatStore.
func (s *Store) CreateConversation(ctx context.Context, c store.Conversation) error {
	args, err := conversationInsertArgs(c)
	if err != nil {
		return fmt.Errorf("sqlite: create %w", err)
	}
	_, err = s.db.ExecContext(ctx, insertConversation, args...)
	if isConflict(err) {
		return fmt.Errorf("sqlite: create conversation %q: %w", c.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create conversation %q: %w", c.ID, err)
	}
	return nil
}

// GetConversation implements store.ChatStore.
func (s *Store) GetConversation(ctx context.Context, id store.ConversationID) (store.Conversation, error) {
	c, err := sqlutil.ScanConversation(s.db.QueryRowContext(ctx,
		`SELECT `+conversationSelect+` FROM conversations WHERE id = $1`, string(id)))
	if err != nil {
		return store.Conversation{}, fmt.Errorf("sqlite: get conversation %q: %w", id, notFound(err))
	}
	return c, nil
}

// ListOpenConversations implements store.ChatStore.
func (s *Store) ListOpenConversations(ctx context.Context) ([]store.Conversation, error) {
	return listAll(ctx, s, "list open conversations", sqlutil.ScanConversation,
		`SELECT `+conversationSelect+` FROM conversations
		WHERE status <> 'ended' ORDER BY created_at ASC NULLS FIRST, id ASC`)
}

// AppendMessages implements store.ChatStore: the messages of CommitChat in a
// transaction of their own.
func (s *Store) AppendMessages(ctx context.Context, msgs []store.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	w, err := newMessageWrite(msgs)
	if err != nil {
		return fmt.Errorf("sqlite: append messages: %w", err)
	}
	if err := inTx(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error { return w.run(ctx, tx) }); err != nil {
		return fmt.Errorf("sqlite: append %d messages: %w", len(msgs), err)
	}
	return nil
}

// messageWrite is a batch of messages, checked and encoded.
type messageWrite struct {
	args    [][]any
	ids     []string
	idsJSON string
}

func newMessageWrite(msgs []store.Message) (*messageWrite, error) {
	w := &messageWrite{args: make([][]any, len(msgs))}
	for i, m := range msgs {
		a, err := sqlutil.MessageArgs(m, encodeTime)
		if err != nil {
			return nil, err
		}
		w.args[i] = a
	}
	w.ids = sqlutil.ConversationsOf(msgs)
	b, err := json.Marshal(w.ids)
	if err != nil {
		return nil, err
	}
	w.idsJSON = string(b)
	return w, nil
}

// run stores the messages in tx: the conversations are looked up first, in
// one statement, then every message is inserted through one prepared
// statement (a stored (conversation, seq) or (conversation, sender,
// client_id) is skipped; so is a repeat within the batch).
func (w *messageWrite) run(ctx context.Context, tx *sql.Tx) error {
	var missing string
	err := tx.QueryRowContext(ctx, `SELECT value FROM json_each($1)
		WHERE value NOT IN (SELECT id FROM conversations) LIMIT 1`, w.idsJSON).Scan(&missing)
	if err == nil {
		return fmt.Errorf("conversation %q: %w", missing, store.ErrNotFound)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	insert, err := tx.PrepareContext(ctx, `INSERT INTO messages (`+sqlutil.MessageColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer insert.Close()
	for _, a := range w.args {
		if _, err := insert.ExecContext(ctx, a...); err != nil {
			return err
		}
	}
	return nil
}

// CommitChat implements store.ChatStore.
func (s *Store) CommitChat(ctx context.Context, b store.ChatBatch) ([]store.ConversationID, error) {
	creates := make([][]any, len(b.Create))
	for i, c := range b.Create {
		a, err := conversationInsertArgs(c)
		if err != nil {
			return nil, fmt.Errorf("sqlite: commit chat: create %w", err)
		}
		creates[i] = a
	}
	updates := make([][]any, len(b.Update))
	for i, c := range b.Update {
		a, err := sqlutil.ConversationUpdateArgs(c, encodeTime)
		if err != nil {
			return nil, fmt.Errorf("sqlite: commit chat: update %w", err)
		}
		updates[i] = a
	}
	var msgs *messageWrite
	if len(b.Messages) > 0 {
		var err error
		if msgs, err = newMessageWrite(b.Messages); err != nil {
			return nil, fmt.Errorf("sqlite: commit chat: %w", err)
		}
	}
	var taken []store.ConversationID
	err := inTx(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error {
		taken = taken[:0]
		for i, a := range creates {
			res, err := tx.ExecContext(ctx, insertConversation+` ON CONFLICT (id) DO NOTHING`, a...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			var created sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT created_at FROM conversations WHERE id = $1`, a[0]).Scan(&created); err != nil {
				return err
			}
			if want, ok := a[6].(int64); !ok || !created.Valid || created.Int64 != want {
				taken = append(taken, b.Create[i].ID)
			}
		}
		if msgs != nil {
			if err := msgs.run(ctx, tx); err != nil {
				return err
			}
		}
		for _, a := range updates {
			if _, err := tx.ExecContext(ctx, `UPDATE conversations SET
				interaction = $2, queue = $3, visitor_name = $4, attributes = $5, status = $6,
				updated_at = $7, ended_at = $8, end_reason = $9
				WHERE id = $1`, a...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: commit chat (%d new conversations, %d messages, %d updates): %w",
			len(b.Create), len(b.Messages), len(b.Update), err)
	}
	return taken, nil
}

// ListMessages implements store.ChatStore. A limit below 1 is an error.
func (s *Store) ListMessages(ctx context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error) {
	what := fmt.Sprintf("list messages of %q after %d", id, after)
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: %s: limit %d is not positive", what, limit)
	}
	return listAll(ctx, s, what, sqlutil.ScanMessage, `SELECT `+sqlutil.MessageColumns+` FROM messages
		WHERE conversation = $1 AND seq > $2 ORDER BY seq LIMIT $3`, string(id), after, limit)
}

// ListMessageEvents implements store.ChatStore. A limit below 1 is an
// error.
func (s *Store) ListMessageEvents(ctx context.Context, id store.ConversationID, after int64, limit int) ([]store.Message, error) {
	what := fmt.Sprintf("list the events of %q after %d", id, after)
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: %s: limit %d is not positive", what, limit)
	}
	return listAll(ctx, s, what, sqlutil.ScanMessage, `SELECT `+sqlutil.MessageColumns+` FROM messages
		WHERE conversation = $1 AND seq > $2 AND kind = $3 ORDER BY seq LIMIT $4`, string(id), after, store.MsgEvent, limit)
}

// FindMessageByClientID implements store.ChatStore.
func (s *Store) FindMessageByClientID(ctx context.Context, id store.ConversationID, sender, clientID string) (store.Message, error) {
	m, err := sqlutil.ScanMessage(s.db.QueryRowContext(ctx, `SELECT `+sqlutil.MessageColumns+` FROM messages
		WHERE conversation = $1 AND sender = $2 AND client_id = $3`, string(id), sender, clientID))
	if err != nil {
		return store.Message{}, fmt.Errorf("sqlite: find message %q of %q in %q: %w", clientID, sender, id, notFound(err))
	}
	return m, nil
}

// CreateLeftMessage implements store.ChatStore.
func (s *Store) CreateLeftMessage(ctx context.Context, m store.LeftMessage) error {
	args, err := sqlutil.LeftMessageArgs(m, encodeTime)
	if err != nil {
		return fmt.Errorf("sqlite: create %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO left_messages (`+sqlutil.LeftMessageColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, args...)
	if isConflict(err) {
		return fmt.Errorf("sqlite: create left message %q: %w", m.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create left message %q: %w", m.ID, err)
	}
	return nil
}

// ListLeftMessages implements store.ChatStore. A limit below 1 is an error.
func (s *Store) ListLeftMessages(ctx context.Context, f store.LeftMessageFilter, limit int) ([]store.LeftMessage, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: list left messages: limit %d is not positive", limit)
	}
	q, args := sqlutil.ListLeftMessages(f, limit)
	return listAll(ctx, s, "list left messages", sqlutil.ScanLeftMessage, q, args...)
}

// GetLeftMessage implements store.ChatStore.
func (s *Store) GetLeftMessage(ctx context.Context, id string) (store.LeftMessage, error) {
	m, err := sqlutil.ScanLeftMessageAudio(s.db.QueryRowContext(ctx,
		`SELECT `+sqlutil.LeftMessageSelectAudio+` FROM left_messages WHERE id = $1`, id))
	if err != nil {
		return store.LeftMessage{}, fmt.Errorf("sqlite: get left message %q: %w", id, notFound(err))
	}
	return m, nil
}

// MarkLeftMessageHandled implements store.ChatStore.
func (s *Store) MarkLeftMessageHandled(ctx context.Context, id string, by routing.AgentID, at time.Time) error {
	handledAt, err := encodeTime(at)
	if err != nil {
		return fmt.Errorf("sqlite: mark left message %q handled: %w", id, err)
	}
	err = mustAffect(s.db.ExecContext(ctx, `UPDATE left_messages SET handled_by = $2, handled_at = $3 WHERE id = $1`,
		id, string(by), handledAt))
	if err != nil {
		return fmt.Errorf("sqlite: mark left message %q handled: %w", id, err)
	}
	return nil
}

// CreateSession implements store.ChatStore.
func (s *Store) CreateSession(ctx context.Context, sess store.Session) error {
	args, err := sqlutil.SessionArgs(sess, encodeTime)
	if err != nil {
		return fmt.Errorf("sqlite: create %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions (`+sqlutil.SessionColumns+`) VALUES ($1, $2, $3, $4)`, args...)
	switch {
	case isConflict(err):
		return fmt.Errorf("sqlite: create session of agent %q: %w", sess.Agent, store.ErrConflict)
	case isForeignKey(err):
		return fmt.Errorf("sqlite: create session: agent %q: %w", sess.Agent, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlite: create session of agent %q: %w", sess.Agent, err)
	}
	return nil
}

// GetSession implements store.ChatStore.
func (s *Store) GetSession(ctx context.Context, tokenHash string, now time.Time) (store.Session, error) {
	at, err := encodeTime(now)
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: get session: %w", err)
	}
	sess, err := sqlutil.ScanSession(s.db.QueryRowContext(ctx, `SELECT `+sqlutil.SessionColumns+` FROM sessions
		WHERE token_hash = $1 AND expires_at > $2`, tokenHash, at))
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: get session: %w", notFound(err))
	}
	return sess, nil
}

// DeleteSession implements store.ChatStore.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("sqlite: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements store.ChatStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	at, err := encodeTime(now)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR expires_at IS NULL`, at)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	return int(n), nil
}

// Secret implements store.ChatStore.
func (s *Store) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if err := sqlutil.CheckSecret(name, value); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	var out []byte
	err := inTx(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, name, value, time.Now().UnixNano()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&out)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: secret %q: %w", name, err)
	}
	return out, nil
}

// listAll runs a query and scans every row; what names it in errors.
func listAll[T any](ctx context.Context, s *Store, what string, scan func(sqlutil.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	out, err := sqlutil.Collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}
