package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	w, r *sql.DB // writer and reader pools (the same pool on backends that need no split)
	d    dialect
	now  func() time.Time

	agentOnline time.Duration
	maxAttempts int

	hub *hub
}

// Option configures Open.
type Option func(*DB)

// WithClock replaces time.Now; every timestamp and lease deadline the store writes comes from it.
func WithClock(now func() time.Time) Option { return func(db *DB) { db.now = now } }

// WithAgentOnlineWindow sets how recently an agent must have been seen to count as online in
// PendingJobs (default one minute).
func WithAgentOnlineWindow(d time.Duration) Option { return func(db *DB) { db.agentOnline = d } }

// WithMaxAttempts caps the attempts of one job key when a lost job is retried by ExpireLeases
// or RecoverAfterCrash (default 2: the first run and one retry).
func WithMaxAttempts(n int) Option { return func(db *DB) { db.maxAttempts = n } }

// Open opens (creating if needed) the database named by dsn and migrates it to the latest schema.
// dsn is "sqlite:///abs/path/db.sqlite", "sqlite://relative/path", "file:path" or a plain path.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{d: d, now: time.Now, agentOnline: time.Minute, maxAttempts: 2, hub: newHub()}
	for _, o := range opts {
		o(db)
	}
	if db.w, err = sql.Open(d.driverName(), d.writerDSN()); err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	db.w.SetMaxOpenConns(d.writerConns())
	db.w.SetConnMaxIdleTime(0)
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	if db.r, err = sql.Open(d.driverName(), d.readerDSN()); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("opening database reader: %w", err)
	}
	if err := db.r.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting reader: %w", err)
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	gd, fsys := db.d.migrations()
	p, err := goose.NewProvider(gd, db.w, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating database: %w", err)
	}
	return nil
}

// SchemaVersion reports the applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	gd, fsys := db.d.migrations()
	p, err := goose.NewProvider(gd, db.w, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, fmt.Errorf("loading migrations: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	return v, nil
}

// Close closes both pools. Waiters registered with Watch are left untouched.
func (db *DB) Close() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

func (db *DB) clock() time.Time { return db.now().UTC() }

// tx is one write transaction. Events it writes and topics it touches are published to waiters
// only after the commit succeeds.
type tx struct {
	db     *DB
	tx     *sql.Tx
	now    time.Time
	topics []Topic
}

func (db *DB) write(ctx context.Context, what string, fn func(t *tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: beginning transaction: %w", what, err)
	}
	t := &tx{db: db, tx: sqlTx, now: db.clock()}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("%s: committing: %w", what, err)
	}
	db.hub.publish(t.topics...)
	return nil
}

func (t *tx) touch(topics ...Topic) { t.topics = append(t.topics, topics...) }

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.d.rebind(q), args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.d.rebind(q), args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.d.rebind(q), args...)
}

// queryer is what read helpers need; both *DB reads and *tx satisfy it.
type queryer interface {
	query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, q string, args ...any) *sql.Row
}

type reader struct{ db *DB }

func (r reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.db.r.QueryContext(ctx, r.db.d.rebind(q), args...)
}

func (r reader) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return r.db.r.QueryRowContext(ctx, r.db.d.rebind(q), args...)
}

func (db *DB) rd() queryer { return reader{db} }

// conflict maps a unique violation to ErrConflict.
func (db *DB) conflict(err error, what string) error {
	if err != nil && db.d.isUnique(err) {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return err
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error, what string, id any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %v: %w", what, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("reading %s %v: %w", what, id, err)
	}
	return nil
}
