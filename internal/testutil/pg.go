// Package testutil holds helpers for tests that need something outside the
// process, such as a PostgreSQL server.
package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresURL is used when TEST_DATABASE_URL is not set.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// RequireEnv reports whether the environment variable name is set to a true
// value ("1", "true", ...): a test that needs what it names fails instead of
// skipping when it is missing.
func RequireEnv(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// PostgresURL returns the URL of a new, empty database that is dropped when
// the test ends. The server is TEST_DATABASE_URL, by default
// DefaultPostgresURL. When the server cannot be reached the test is skipped,
// or fails if REQUIRE_POSTGRES=1.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		if RequireEnv("REQUIRE_POSTGRES") {
			t.Fatalf("PostgreSQL not reachable at %s: %v (REQUIRE_POSTGRES=1 makes this a failure)", redact(admin), err)
		}
		t.Skipf("PostgreSQL not reachable at %s: %v (set REQUIRE_POSTGRES=1 to make this a failure)", redact(admin), err)
	}
	defer conn.Close(ctx)

	name := "cctest_" + randomHex(8)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// withDatabase returns the connection string s pointing at database name
// instead.
func withDatabase(s, name string) (string, error) {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("TEST_DATABASE_URL: %w", err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// key=value form: a later key wins.
	return s + " dbname=" + name, nil
}

// redact hides a password in a postgres:// URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the server in TEST_DATABASE_URL"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
