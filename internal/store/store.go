package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/sluice-ci/sluice/internal/blob"
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	w, r *sql.DB // writer and reader pools (the same pool on backends that need no split)
	d    dialect
	now  func() time.Time

	agentOnline time.Duration
	maxAttempts int

	hub *hub
	// blobs holds the logs of finished jobs (nil: they stay in log_lines).
	blobs blob.Store
	// locks is the pool advisory locks are held on (Postgres); local holds them in-process
	// (SQLite). See locks.go.
	locks [lockPools]*sql.DB
	local *localLocks
	// origin names this handle in cross-process notifications; stopListen ends the listener.
	origin     string
	stopListen func()
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
// dsn is "sqlite:///abs/path/db.sqlite", "sqlite://relative/path", "file:path" or a plain path for
// SQLite, or "postgres://user@host/db" (any libpq URL or key=value form pgx accepts) for Postgres.
// On Postgres, several processes may share one database: their waiters are woken across
// processes by LISTEN/NOTIFY until Close.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	origin, err := newOrigin()
	if err != nil {
		return nil, err
	}
	db := &DB{d: d, now: time.Now, agentOnline: time.Minute, maxAttempts: 2, hub: newHub(), origin: origin, local: newLocalLocks()}
	for _, o := range opts {
		o(db)
	}
	if db.w, err = d.openWriter(); err != nil {
		return nil, fmt.Errorf("opening database: %w", err)
	}
	db.w.SetMaxOpenConns(d.writerConns())
	db.w.SetMaxIdleConns(d.writerConns())
	db.w.SetConnMaxIdleTime(0)
	if err := db.w.PingContext(ctx); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("connecting to the %s database %s: %w", d.name(), redact(dsn), err)
	}
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	if db.r, err = d.openReader(); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("opening database reader: %w", err)
	}
	if db.r == nil {
		db.r = db.w
	} else if err := db.r.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting reader: %w", err)
	}
	if pd, ok := d.(postgresDialect); ok {
		for i := range db.locks {
			if db.locks[i], err = pd.openWriter(); err != nil {
				db.Close()
				return nil, fmt.Errorf("opening the lock pool: %w", err)
			}
			db.locks[i].SetMaxOpenConns(lockPoolConns(i))
			db.locks[i].SetMaxIdleConns(2)
		}
		if err := db.listen(ctx, pd); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// newOrigin names this DB handle in the notifications it sends, so it can ignore its own.
func newOrigin() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("naming this store handle: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Dialect is "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name() }

func (db *DB) migrate(ctx context.Context) error {
	gd, fsys, opts := db.d.migrations()
	// Out of order: migration numbers are handed out to work that lands in any order, so a
	// database may hold a later number before an earlier one arrives.
	p, err := goose.NewProvider(gd, db.w, fsys, append(opts, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))...)
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
	gd, fsys, _ := db.d.migrations()
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

// Close stops listening for other processes' changes and closes the pools. Waiters registered
// with Watch are left untouched.
func (db *DB) Close() error {
	if db.stopListen != nil {
		db.stopListen()
	}
	var errs []error
	for _, p := range db.locks {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if db.r != nil && db.r != db.w {
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

// writeAttempts bounds how often a transaction aborted by a deadlock or serialization failure
// (Postgres, under concurrent replicas) is run again.
const writeAttempts = 8

// write runs fn in one write transaction. fn may run more than once (see writeAttempts), so it
// must set, not accumulate, what it reports to its caller.
func (db *DB) write(ctx context.Context, what string, fn func(t *tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.writeOnce(ctx, what, fn)
		if err == nil || attempt == writeAttempts || !db.d.retryable(err) {
			return err
		}
		// A short, growing, jittered pause lets the transaction that won go first.
		select {
		case <-time.After(time.Duration(attempt*attempt) * time.Duration(1+mrand.IntN(1000)) * time.Microsecond):
		case <-ctx.Done():
			return err
		}
	}
}

func (db *DB) writeOnce(ctx context.Context, what string, fn func(t *tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: beginning transaction: %w", what, err)
	}
	t := &tx{db: db, tx: sqlTx, now: db.clock()}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := db.d.notify(ctx, sqlTx, db.origin, t.topics); err != nil {
		sqlTx.Rollback()
		return fmt.Errorf("%s: notifying other replicas: %w", what, err)
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("%s: committing: %w", what, err)
	}
	db.hub.publish(t.topics...)
	return nil
}

func (t *tx) touch(topics ...Topic) { t.topics = append(t.topics, topics...) }

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.d.rebind(q), t.db.d.args(args)...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.d.rebind(q), t.db.d.args(args)...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.d.rebind(q), t.db.d.args(args)...)
}

// queryer is what read helpers need; both *DB reads and *tx satisfy it.
type queryer interface {
	query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, q string, args ...any) *sql.Row
}

type reader struct{ db *DB }

func (r reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.db.r.QueryContext(ctx, r.db.d.rebind(q), r.db.d.args(args)...)
}

func (r reader) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return r.db.r.QueryRowContext(ctx, r.db.d.rebind(q), r.db.d.args(args)...)
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
