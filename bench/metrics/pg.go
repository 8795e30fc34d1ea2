package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-ci/sluice/internal/store"
)

// pgDatabase is the database bench-metrics keeps its copy of the history in.
const pgDatabase = "sluice_bench_metrics"

// pgTables are the tables the history fills, parents first (foreign keys).
var pgTables = []string{"repos", "environments", "runs", "jobs", "releases", "artifacts", "promotions", "events",
	"job_tools", "test_cases", "repro_checks"}

// pgLoad copies the generated history from SQLite (raw) into a Postgres database on the server
// admin names, made with sluice's own Postgres migrations, unless it holds this very history
// already; it returns the database's DSN.
func pgLoad(ctx context.Context, admin string, d *dataset, raw *sql.DB) (string, error) {
	dsn, err := pgWithDatabase(admin, pgDatabase)
	if err != nil {
		return "", err
	}
	marker := fmt.Sprintf("v%d %s %+v", d.Version, d.End.Format(time.RFC3339), d.spec)
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		var have string
		err := conn.QueryRow(ctx, `SELECT v FROM bench_dataset`).Scan(&have)
		conn.Close(ctx)
		if err == nil && have == marker {
			logf("using the history copied to Postgres (%s)", pgDatabase)
			return dsn, nil
		}
	}
	start := time.Now()
	logf("copying the history to Postgres (%s)…", pgDatabase)
	adm, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connecting to Postgres: %w", err)
	}
	defer adm.Close(context.WithoutCancel(ctx))
	name := pgx.Identifier{pgDatabase}.Sanitize()
	if _, err := adm.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := adm.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	// The schema is sluice's: its migrations make it, as a server's first start does.
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("migrating %s: %w", pgDatabase, err)
	}
	db.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, t := range pgTables {
		n, err := pgCopyTable(ctx, raw, conn, t)
		if err != nil {
			return "", fmt.Errorf("copying %s: %w", t, err)
		}
		logf("  %s: %d rows", t, n)
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE bench_dataset (v TEXT NOT NULL)`); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO bench_dataset VALUES ($1)`, marker); err != nil {
		return "", err
	}
	logf("copied in %s", time.Since(start).Round(time.Second))
	return dsn, nil
}

// pgCopyTable streams table t's rows from SQLite into the same table in Postgres.
func pgCopyTable(ctx context.Context, raw *sql.DB, conn *pgx.Conn, t string) (int64, error) {
	rows, err := raw.QueryContext(ctx, `SELECT * FROM `+t)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return conn.CopyFrom(ctx, pgx.Identifier{t}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			return nil, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		return vals, nil
	}))
}

// pgWithDatabase returns the admin DSN with its database replaced by name.
func pgWithDatabase(admin, name string) (string, error) {
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return "", fmt.Errorf("parsing the Postgres DSN: %w", err)
	}
	dsn := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", url.PathEscape(cfg.User), name, cfg.Host, cfg.Port)
	if cfg.Password != "" {
		dsn += "&password=" + url.QueryEscape(cfg.Password)
	}
	return dsn, nil
}
