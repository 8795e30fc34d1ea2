package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// defaultPostgresSocketDir is where scripts/postgres-setup.sh (make deps) serves PostgreSQL.
const defaultPostgresSocketDir = "/run/sluice-postgres"

// PostgresAdminDSN returns the DSN of the PostgreSQL server tests use, to its maintenance
// database: $SLUICE_TEST_POSTGRES, else the server scripts/postgres-setup.sh starts. It returns
// "" when there is none; PostgresDB skips or fails then.
func PostgresAdminDSN() string {
	if dsn := os.Getenv("SLUICE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	if _, err := os.Stat(filepath.Join(defaultPostgresSocketDir, ".s.PGSQL.5432")); err == nil {
		return "postgres://postgres@/postgres?host=" + defaultPostgresSocketDir + "&port=5432&sslmode=disable"
	}
	return ""
}

// RequirePostgres reports whether a missing server fails tests instead of skipping them
// ($SLUICE_REQUIRE_POSTGRES, set by .ci/run).
func RequirePostgres() bool { return os.Getenv("SLUICE_REQUIRE_POSTGRES") != "" }

// PostgresDB creates an empty database for this test on the test server and returns its DSN;
// the database is dropped when the test ends. Without a server the test is skipped (failed
// under SLUICE_REQUIRE_POSTGRES): run scripts/postgres-setup.sh, which make deps does.
func PostgresDB(t testing.TB) string {
	t.Helper()
	admin := PostgresAdminDSN()
	if admin == "" {
		msg := "no PostgreSQL test server: run scripts/postgres-setup.sh (make deps) or set SLUICE_TEST_POSTGRES"
		if RequirePostgres() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := databaseName(t.Name())
	if err := adminExec(ctx, admin, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a server under test that was killed may leave connections behind.
		if err := adminExec(ctx, admin, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Logf("dropping test database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

var unsafeName = lazyre.New(`[^a-z0-9]+`)

// databaseName is unique per call and says which test made it (at most 63 bytes).
func databaseName(test string) string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	base := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(base) > 40 {
		base = base[:40]
	}
	return fmt.Sprintf("t_%s_%s", base, hex.EncodeToString(b[:]))
}

func adminExec(ctx context.Context, admin, stmt string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connecting to the test server: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, stmt)
	return err
}

// withDatabase returns admin with its database replaced by name.
func withDatabase(admin, name string) (string, error) {
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return "", fmt.Errorf("parsing SLUICE_TEST_POSTGRES: %w", err)
	}
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable%s",
		cfg.User, name, cfg.Host, cfg.Port, passwordParam(cfg.Password)), nil
}

func passwordParam(p string) string {
	if p == "" {
		return ""
	}
	return "&password=" + url.QueryEscape(p)
}
