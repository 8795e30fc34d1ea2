package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// notifyChannel is the LISTEN/NOTIFY channel on which replicas tell each other which topics a
// committed transaction touched (see listen).
const notifyChannel = "sluice_topics"

// postgresDialect is PostgreSQL through pgx. Writes and reads share one pool: Postgres has no
// single-writer limit, and concurrent transactions are kept correct by row locks (FOR UPDATE in
// the read-modify-write paths, FOR UPDATE SKIP LOCKED in the claim) and retried on a deadlock or
// serialization failure.
type postgresDialect struct {
	cfg   *pgx.ConnConfig
	conns int
}

// defaultPostgresConns bounds each replica's pool; the server's default max_connections (100)
// then leaves room for several replicas and an operator's psql.
const defaultPostgresConns = 16

func parsePostgresDSN(dsn string) (dialect, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN, password included.
		return nil, fmt.Errorf("postgres dsn %s: cannot parse it: want postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable] "+
			"or postgres:///DATABASE?host=/run/postgresql", redact(dsn))
	}
	return postgresDialect{cfg: cfg, conns: defaultPostgresConns}, nil
}

func (d postgresDialect) openWriter() (*sql.DB, error) { return stdlib.OpenDB(*d.cfg), nil }
func (postgresDialect) openReader() (*sql.DB, error)   { return nil, nil }
func (postgresDialect) name() string                   { return "postgres" }
func (d postgresDialect) writerConns() int             { return d.conns }
func (postgresDialect) claimLock() string              { return " FOR UPDATE OF j SKIP LOCKED" }
func (postgresDialect) forUpdate() string              { return " FOR UPDATE" }

// pendingJobs is the small table the queue is claimed from: a trigger on jobs keeps exactly the
// queued jobs in it (migrations/postgres/00001), so a claim scans and locks only those rows
// however many finished jobs the jobs table holds.
func (postgresDialect) pendingJobs() string { return "pending_jobs" }

// pendingKeys walks the pick index one label set at a time (a loose index scan): a handful of
// index probes however many thousand jobs are queued, where DISTINCT would read them all on
// every claim.
func (postgresDialect) pendingKeys() string {
	return `WITH RECURSIVE k(labels_key) AS (
		(SELECT labels_key FROM pending_jobs ORDER BY labels_key LIMIT 1)
		UNION ALL
		SELECT (SELECT p.labels_key FROM pending_jobs p WHERE p.labels_key > k.labels_key ORDER BY p.labels_key LIMIT 1)
		FROM k WHERE k.labels_key IS NOT NULL)
	SELECT labels_key FROM k WHERE labels_key IS NOT NULL`
}

// rebind turns each "?" outside quotes into $1, $2, …
func (postgresDialect) rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// args makes text arguments acceptable to Postgres, whose text columns refuse NUL bytes and
// invalid UTF-8 that SQLite stores as given (a log line from a binary, a hostile step name).
// Each bad byte becomes U+FFFD, the same replacement a terminal shows. Bytes ([]byte) go to
// BYTEA columns untouched.
func (postgresDialect) args(args []any) []any {
	for i, a := range args {
		s, ok := a.(string)
		if !ok || (utf8.ValidString(s) && !strings.Contains(s, "\x00")) {
			continue
		}
		s = strings.ToValidUTF8(s, "\uFFFD")
		args[i] = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return args
}

func (postgresDialect) isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// retryable: a deadlock (40P01) or serialization failure (40001) aborts a transaction that
// would succeed when run again; the whole transaction is retried (see DB.write).
func (postgresDialect) retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func (postgresDialect) migrations() (goose.Dialect, fs.FS, []goose.ProviderOption) {
	sub, err := fs.Sub(postgresMigrations, "migrations/postgres")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	// Replicas starting together must not migrate at once: goose holds an advisory lock.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		panic(err) // only invalid options fail
	}
	return goose.DialectPostgres, sub, []goose.ProviderOption{goose.WithSessionLocker(locker)}
}

// notify sends the topics a transaction touched to the other replicas; NOTIFY is delivered only
// when (and if) the transaction commits, so a waiter elsewhere never wakes before the change is
// visible.
func (postgresDialect) notify(ctx context.Context, t *sql.Tx, origin string, topics []Topic) error {
	if len(topics) == 0 {
		return nil
	}
	_, err := t.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, encodeTopics(origin, topics))
	return err
}

// maxNotifyPayload stays under Postgres's 8000-byte NOTIFY limit.
const maxNotifyPayload = 7900

// encodeTopics is "origin\ntopic\ntopic…", deduplicated; a list too long for one NOTIFY becomes
// the wildcard "*", which wakes every waiter: a spurious wake-up is harmless, a lost one is not.
func encodeTopics(origin string, topics []Topic) string {
	var b strings.Builder
	b.WriteString(origin)
	seen := make(map[Topic]bool, len(topics))
	for _, t := range topics {
		if seen[t] {
			continue
		}
		seen[t] = true
		b.WriteByte('\n')
		b.WriteString(string(t))
	}
	if b.Len() > maxNotifyPayload {
		return origin + "\n*"
	}
	return b.String()
}

func decodeTopics(payload string) (origin string, topics []Topic, all bool) {
	parts := strings.Split(payload, "\n")
	for _, p := range parts[1:] {
		if p == "*" {
			all = true
			continue
		}
		topics = append(topics, Topic(p))
	}
	return parts[0], topics, all
}
