package store

import (
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
	// driverName is the database/sql driver.
	driverName() string
	// writerDSN and readerDSN are the connection strings for the write and read pools.
	writerDSN() string
	readerDSN() string
	// writerConns is the writer pool size: 1 for SQLite, where writes serialize anyway and a
	// single connection avoids SQLITE_BUSY between our own connections.
	writerConns() int
	// rebind turns "?" placeholders into the backend's form.
	rebind(q string) string
	// claimLock is appended to the claim's candidate SELECT inside its transaction
	// (Postgres: " FOR UPDATE SKIP LOCKED"; SQLite: nothing, the writer is exclusive).
	claimLock() string
	// isUnique reports whether err is a unique-constraint violation.
	isUnique(err error) bool
	// migrations returns the goose dialect and the migration files.
	migrations() (goose.Dialect, fs.FS)
}

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

type sqliteDialect struct {
	path string
}

// parseDSN picks the dialect for a DSN: "sqlite:///abs/path.db", "sqlite://rel/path.db",
// "file:path" or a bare path are SQLite; "postgres://" is reserved for the Postgres dialect.
func parseDSN(dsn string) (dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return nil, fmt.Errorf("postgres is not supported yet (dsn %q)", redact(dsn))
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

func (sqliteDialect) driverName() string { return "sqlite" }

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
func (sqliteDialect) claimLock() string { return "" }

func (sqliteDialect) isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func (sqliteDialect) migrations() (goose.Dialect, fs.FS) {
	sub, err := fs.Sub(sqliteMigrations, "migrations/sqlite")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return goose.DialectSQLite3, sub
}
