package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
)

var _ store.CommandStore = (*Store)(nil)

// StartCommand implements store.CommandStore.
func (s *Store) StartCommand(ctx context.Context, c store.Command) (store.Command, bool, error) {
	args, err := sqlutil.CommandArgs(c, encodeTime)
	if err != nil {
		return store.Command{}, false, fmt.Errorf("sqlite: start %w", err)
	}
	var out store.Command
	var created bool
	err = inTx(ctx, s.db, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlutil.InsertCommand, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = n == 1
		out, err = sqlutil.ScanCommand(tx.QueryRowContext(ctx, sqlutil.SelectCommand, c.Principal, c.ID))
		return err
	})
	if err != nil {
		return store.Command{}, false, fmt.Errorf("sqlite: start command %q: %w", c.ID, err)
	}
	return out, created, nil
}

// FinishCommand implements store.CommandStore.
func (s *Store) FinishCommand(ctx context.Context, principal, id string, reply []byte) error {
	if len(reply) == 0 {
		return fmt.Errorf("sqlite: finish command %q: the reply is empty: %w", id, store.ErrInvalid)
	}
	res, err := s.db.ExecContext(ctx, sqlutil.FinishCommand, principal, id, reply)
	if err != nil {
		return fmt.Errorf("sqlite: finish command %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = store.ErrNotFound
		}
		return fmt.Errorf("sqlite: finish command %q: %w", id, err)
	}
	return nil
}

// DeleteCommandsBefore implements store.CommandStore.
func (s *Store) DeleteCommandsBefore(ctx context.Context, t time.Time) (int, error) {
	at, err := encodeTime(t)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete commands: %w", err)
	}
	res, err := s.db.ExecContext(ctx, sqlutil.DeleteCommandsBefore, at)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete commands: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete commands: %w", err)
	}
	return int(n), nil
}
