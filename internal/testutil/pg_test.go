package testutil

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestPostgresURL(t *testing.T) {
	ctx := t.Context()
	var name string
	t.Run("gives an empty database of its own", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, PostgresURL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var tables int
		if err := conn.QueryRow(ctx, `SELECT current_database(),
			(SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "cctest_") {
			t.Errorf("connected to database %q, want a fresh cctest_ one", name)
		}
		if tables != 0 {
			t.Errorf("the new database has %d tables, want none", tables)
		}
	})
	if name == "" {
		t.Skip("no database was created")
	}
	t.Run("drops the database when the test ends", func(t *testing.T) {
		admin := os.Getenv("TEST_DATABASE_URL")
		if admin == "" {
			admin = DefaultPostgresURL
		}
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	})
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"a URL gets its path replaced", "postgres://u:p@h:5432/postgres?sslmode=disable", "postgres://u:p@h:5432/cctest_x?sslmode=disable"},
		{"a URL without a database gets one", "postgresql://h", "postgresql://h/cctest_x"},
		{"a key=value string gets a dbname appended", "host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=cctest_x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withDatabase(tt.in, "cctest_x")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("withDatabase(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRequireEnv(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{{"1", true}, {"true", true}, {"0", false}, {"", false}, {"yes please", false}}
	for _, tt := range tests {
		t.Run("value "+tt.value+" is read as intended", func(t *testing.T) {
			t.Setenv("CCTEST_REQUIRE_SOMETHING", tt.value)
			if got := RequireEnv("CCTEST_REQUIRE_SOMETHING"); got != tt.want {
				t.Errorf("RequireEnv with %q = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}
