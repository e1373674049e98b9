package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
)

var _ store.CommandStore = (*Store)(nil)

// StartCommand implements store.CommandStore. The insert skips a stored
// id, so a retry after a lost reply is harmless; the read is a statement
// of its own so that it sees a command another node committed meanwhile.
func (s *Store) StartCommand(ctx context.Context, c store.Command) (store.Command, bool, error) {
	args, err := sqlutil.CommandArgs(c, encodeTime)
	if err != nil {
		return store.Command{}, false, fmt.Errorf("postgres: start %w", err)
	}
	var out store.Command
	created := false
	err = s.do(ctx, idempotent, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, sqlutil.InsertCommand, args...)
		if err != nil {
			return err
		}
		created = created || tag.RowsAffected() == 1
		out, err = sqlutil.ScanCommand(s.pool.QueryRow(ctx, sqlutil.SelectCommand, c.Principal, c.ID))
		return err
	})
	if err != nil {
		return store.Command{}, false, fmt.Errorf("postgres: start command %q: %w", c.ID, err)
	}
	return out, created, nil
}

// FinishCommand implements store.CommandStore. Retried safely: a reply
// once set stays.
func (s *Store) FinishCommand(ctx context.Context, principal, id string, reply []byte) error {
	if len(reply) == 0 {
		return fmt.Errorf("postgres: finish command %q: the reply is empty: %w", id, store.ErrInvalid)
	}
	var n int64
	err := s.do(ctx, idempotent, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, sqlutil.FinishCommand, principal, id, reply)
		n = tag.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: finish command %q: %w", id, err)
	}
	return nil
}

// DeleteCommandsBefore implements store.CommandStore.
func (s *Store) DeleteCommandsBefore(ctx context.Context, t time.Time) (int, error) {
	at, err := encodeTime(t)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete commands: %w", err)
	}
	var n int64
	err = s.do(ctx, idempotent, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, sqlutil.DeleteCommandsBefore, at)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete commands: %w", err)
	}
	return int(n), nil
}
