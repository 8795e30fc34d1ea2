package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds what differs between database backends. Everything else in the package is
// shared SQL written with "?" placeholders.
type dialect interface {
	// name is "sqlite" or "postgres".
	name() string
	// openWriter opens the pool writes go through; openReader the pool reads go through, or
	// nil when reads share the writer's pool.
	openWriter() (*sql.DB, error)
	openReader() (*sql.DB, error)
	// writerConns is the writer pool size: 1 for SQLite, where writes serialize anyway and a
	// single connection avoids SQLITE_BUSY between our own connections.
	writerConns() int
	// rebind turns "?" placeholders into the backend's form.
	rebind(q string) string
	// args adapts argument values the backend would refuse (may modify args in place).
	args(args []any) []any
	// claimLock is appended to the claim's candidate SELECT (jobs aliased j) inside its
	// transaction (Postgres: " FOR UPDATE OF j SKIP LOCKED"; SQLite: nothing, the writer is
	// exclusive).
	claimLock() string
	// forUpdate is appended to a SELECT that reads a row the transaction then changes from what
	// it read, so a concurrent writer waits (Postgres: " FOR UPDATE"; SQLite: nothing).
	forUpdate() string
	// pendingJobs is a FROM item with the columns job_id, labels_key, queued_at: the queued
	// jobs the claim picks from.
	pendingJobs() string
	// pendingKeys is a query for the distinct labels_key values of pendingJobs.
	pendingKeys() string
	// isUnique reports whether err is a unique-constraint violation.
	isUnique(err error) bool
	// retryable reports whether err aborted a transaction that may succeed when run again.
	retryable(err error) bool
	// migrations returns the goose dialect, the migration files and provider options.
	migrations() (goose.Dialect, fs.FS, []goose.ProviderOption)
	// notify tells other processes on the same database which topics the transaction t
	// touched, delivered when t commits (Postgres NOTIFY); SQLite has one server process.
	notify(ctx context.Context, t *sql.Tx, origin string, topics []Topic) error
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

type sqliteDialect struct {
	path string
}

// parseDSN picks the dialect for a DSN: "sqlite:///abs/path.db", "sqlite://rel/path.db",
// "file:path" or a bare path are SQLite; "postgres://" and "postgresql://" are Postgres.
func parseDSN(dsn string) (dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return parsePostgresDSN(dsn)
	case strings.HasPrefix(dsn, "sqlite://"):
		dsn = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "file:"):
		dsn = strings.TrimPrefix(dsn, "file:")
	}
	if dsn == "" || dsn == ":memory:" || strings.Contains(dsn, "?") {
		// A reader pool and a writer pool must share one file; an in-memory database cannot be.
		return nil, fmt.Errorf("sqlite dsn %q: want a file path without options", dsn)
	}
	abs, err := filepath.Abs(dsn)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", dsn, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("creating directory for %s: %w", abs, err)
	}
	return sqliteDialect{path: abs}, nil
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

func (sqliteDialect) name() string { return "sqlite" }

func (d sqliteDialect) openWriter() (*sql.DB, error) { return sql.Open("sqlite", d.writerDSN()) }
func (d sqliteDialect) openReader() (*sql.DB, error) { return sql.Open("sqlite", d.readerDSN()) }

func (d sqliteDialect) dsn(extra ...string) string {
	q := url.Values{}
	// WAL lets readers run while the writer commits; synchronous=NORMAL in WAL mode still
	// keeps every committed transaction across a process crash (kill -9), only an OS crash can
	// lose the last ones.
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Add(extra[i], extra[i+1])
	}
	return "file:" + d.path + "?" + q.Encode()
}

// The writer begins IMMEDIATE so a transaction that reads then writes never fails to upgrade
// its lock if another process has the file open.
func (d sqliteDialect) writerDSN() string { return d.dsn("_txlock", "immediate") }
func (d sqliteDialect) readerDSN() string { return d.dsn("_pragma", "query_only(1)") }
func (sqliteDialect) writerConns() int    { return 1 }
func (sqliteDialect) rebind(q string) string {
	return q
}
func (sqliteDialect) claimLock() string     { return "" }
func (sqliteDialect) forUpdate() string     { return "" }
func (sqliteDialect) args(args []any) []any { return args }

// retryable: SQLite's single writer connection never deadlocks with itself.
func (sqliteDialect) retryable(error) bool { return false }

func (sqliteDialect) notify(context.Context, *sql.Tx, string, []Topic) error { return nil }

func (d sqliteDialect) pendingKeys() string {
	return `SELECT DISTINCT labels_key FROM ` + d.pendingJobs()
}

// pendingJobs: SQLite reads queued jobs straight from jobs through the jobs_queue index; its
// one writer needs no separate table to keep claims from contending.
func (sqliteDialect) pendingJobs() string {
	return `(SELECT id AS job_id, labels_key, queued_at FROM jobs WHERE status = 'queued') pending_jobs`
}

func (sqliteDialect) isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (sqliteDialect) migrations() (goose.Dialect, fs.FS, []goose.ProviderOption) {
	sub, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return goose.DialectSQLite3, sub, nil
}
