package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/store"
	"github.com/contactd/contactd/internal/store/internal/sqlutil"
	"github.com/contactd/contactd/internal/store/storetest"
	"github.com/contactd/contactd/routing"
)

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "contactd.db"))
	})
}

func migrationCount(t *testing.T) int {
	t.Helper()
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlutil.LoadMigrations(sub)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

type migrationRow struct {
	version   int
	appliedAt int64
}

func appliedMigrations(t *testing.T, s *Store) []migrationRow {
	t.Helper()
	rows, err := s.db.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		if err := rows.Scan(&r.version, &r.appliedAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "contactd.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := store.Agent{ID: "ada", DisplayName: "Ada", CreatedAt: time.Now()}
	if err := s.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []routing.Event{{Seq: 1, Type: routing.EvEntered, Interaction: "i1"}}); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTemp(t, path)
	t.Run("keeps what was written", func(t *testing.T) {
		got, err := s.GetAgent(ctx, "ada")
		if err != nil {
			t.Fatal(err)
		}
		if got.DisplayName != "Ada" || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("agent after reopening = %+v, want %+v", got, a)
		}
		n, err := s.MaxEventSeq(ctx)
		if err != nil || n != 1 {
			t.Errorf("MaxEventSeq after reopening = %d, %v; want 1", n, err)
		}
	})
	t.Run("does not apply migrations again", func(t *testing.T) {
		after := appliedMigrations(t, s)
		if len(after) != migrationCount(t) {
			t.Errorf("schema_migrations has %d rows, want one per migration (%d)", len(after), migrationCount(t))
		}
		if len(after) != len(before) {
			t.Fatalf("schema_migrations went from %v to %v", before, after)
		}
		for i := range after {
			if after[i] != before[i] {
				t.Errorf("migration %d was recorded again: %v, then %v", after[i].version, before[i], after[i])
			}
		}
	})
}

func TestConcurrentOpenAppliesMigrationsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contactd.db")
	const openers = 4
	stores := make([]*Store, openers)
	errs := make([]error, openers)
	var wg sync.WaitGroup
	for i := range openers {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if errs[0] == nil {
		if got := appliedMigrations(t, stores[0]); len(got) != migrationCount(t) {
			t.Errorf("schema_migrations has %d rows, want %d", len(got), migrationCount(t))
		}
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "contactd.db"))
	tests := []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"synchronous", "2"},
		{"cache_size", "-65536"},
		{"wal_autocheckpoint", "4000"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma+" is "+tt.want, func(t *testing.T) {
			var got string
			if err := s.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

func TestTimesKeepNanoseconds(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "contactd.db"))
	at := time.Date(2031, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -7*3600))

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateAgent(ctx, store.Agent{ID: "ada", PresenceSince: at, CreatedAt: at.Add(1), UpdatedAt: at.Add(2)}))
	must(s.CreateInteraction(ctx, store.Interaction{ID: "i", CreatedAt: at.Add(3), EnqueuedAt: at.Add(4), AcceptedAt: at.Add(5), EndedAt: at.Add(6)}))
	must(s.AppendEvents(ctx, []routing.Event{{Seq: 1, Time: at.Add(7), Interaction: "i"}}))

	a, err := s.GetAgent(ctx, "ada")
	must(err)
	in, err := s.GetInteraction(ctx, "i")
	must(err)
	evs, err := s.ListEvents(ctx, "i")
	must(err)
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	got := []time.Time{a.PresenceSince, a.CreatedAt, a.UpdatedAt, in.CreatedAt, in.EnqueuedAt, in.AcceptedAt, in.EndedAt, evs[0].Time}
	for i, g := range got {
		want := at.Add(time.Duration(i)).UTC()
		if g != want {
			t.Errorf("time %d = %v, want exactly %v", i, g, want)
		}
	}
}

func TestTimesOutsideTheStoredRangeAreRefused(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "contactd.db"))
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.CreateAgent(ctx, store.Agent{ID: "ada", CreatedAt: far}); err == nil {
		t.Error("CreateAgent with a time in 2300 succeeded, want an error")
	}
	if _, err := s.GetAgent(ctx, "ada"); err == nil {
		t.Error("the refused agent was stored")
	}
	if err := s.AppendEvents(ctx, []routing.Event{{Seq: 1}, {Seq: 2, Time: far}}); err == nil {
		t.Error("AppendEvents with a time in 2300 succeeded, want an error")
	}
	if n, err := s.MaxEventSeq(ctx); err != nil || n != 0 {
		t.Errorf("after a refused batch MaxEventSeq = %d, %v; want 0: a batch is all or nothing", n, err)
	}
	if err := s.SetAgentPresence(ctx, "ada", routing.PresenceAway, "", far); err == nil {
		t.Error("SetAgentPresence with a time in 2300 succeeded, want an error")
	}
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for _, path := range []string{"", "contactd.db?mode=ro"} {
		t.Run("path "+path+" is refused", func(t *testing.T) {
			s, err := Open(context.Background(), path)
			if err == nil {
				s.Close()
				t.Errorf("Open(%q) succeeded, want an error", path)
			}
		})
	}
}

func TestADatabaseOfEarlierVersionsKeepsItsLastSeqs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contactd.db")
	// The file as a contactd of migration 0002 left it: last_seq kept in
	// the conversations row.
	db, err := sql.Open("sqlite", path+"?"+dsnParams)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrationFS, "migrations")
	ms, err := sqlutil.LoadMigrations(sub)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if err := applyMigration(t.Context(), db, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO conversations (id, interaction, queue, visitor_name, attributes, status, last_seq, created_at, updated_at, ended_at, end_reason)
			VALUES ('c1', 'c1', 'sales', 'Ann', 'null', 'active', 2, 1, 1, NULL, '')`,
		`INSERT INTO messages (conversation, seq, client_id, sender, kind, text, event, data, created_at)
			VALUES ('c1', 1, 'k1', 'visitor', 'text', 'hi', '', 'null', 1), ('c1', 2, NULL, 'system', 'event', '', 'joined', '{}', 2)`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := openTemp(t, path)
	c, err := s.GetConversation(t.Context(), "c1")
	if err != nil || c.LastSeq != 2 {
		t.Fatalf("after the upgrade: %+v %v; want LastSeq 2", c, err)
	}
	if err := s.AppendMessages(t.Context(), []store.Message{{Conversation: "c1", Seq: 3, Sender: "visitor", Kind: store.MsgText, Text: "again"}}); err != nil {
		t.Fatal(err)
	}
	open, err := s.ListOpenConversations(t.Context())
	if err != nil || len(open) != 1 || open[0].LastSeq != 3 {
		t.Fatalf("open conversations: %+v %v; want c1 with LastSeq 3", open, err)
	}
}

func TestLeftMessagesOfADatabaseBeforeVoiceMessagesHaveNoAudio(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contactd.db")
	db, err := sql.Open("sqlite", path+"?"+dsnParams)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrationFS, "migrations")
	ms, err := sqlutil.LoadMigrations(sub)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version >= 6 { // 0006 adds the audio
			break
		}
		if err := applyMigration(t.Context(), db, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO left_messages (id, queue, name, email, text, attributes, conversation, created_at, handled_by, handled_at)
		VALUES ('m1', 'sales', 'Ann', 'ann@example.com', 'call me', 'null', '', 1, '', NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openTemp(t, path)
	list, err := s.ListLeftMessages(t.Context(), store.LeftMessageFilter{}, 10)
	if err != nil || len(list) != 1 || list[0].HasAudio || list[0].AudioMillis != 0 || list[0].Text != "call me" {
		t.Fatalf("after the upgrade: %+v %v; want m1 without audio", list, err)
	}
	m, err := s.GetLeftMessage(t.Context(), "m1")
	if err != nil || m.Audio != nil || m.HasAudio {
		t.Fatalf("GetLeftMessage after the upgrade: %d bytes, HasAudio %v, %v", len(m.Audio), m.HasAudio, err)
	}
}
