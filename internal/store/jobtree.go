package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Shown is jobs without the rows that were expanded into others (a matrix job's row once its
// legs exist, a reusable workflow call's once its jobs exist): those are the scheduler's
// bookkeeping, and the legs and called jobs are what a user sees, as on GitHub. Order is kept.
func Shown(jobs []Job) []Job {
	parents := map[string]bool{}
	for _, j := range jobs {
		if j.Parent != "" {
			parents[j.Parent] = true
		}
	}
	if len(parents) == 0 {
		return jobs
	}
	out := make([]Job, 0, len(jobs))
	for _, j := range jobs {
		if !parents[j.Key] {
			out = append(out, j)
		}
	}
	return out
}

// SetRunConcurrencyGroup records run id's concurrency group, which is evaluated once the run
// exists: GitHub's group expressions may read github.run_id and github.run_number.
func (db *DB) SetRunConcurrencyGroup(ctx context.Context, id int64, group string) error {
	return db.SetRunGroup(ctx, id, group, false)
}

// SetRunGroup records run id's concurrency group and whether the run waits for it
// (pending) or holds it.
func (db *DB) SetRunGroup(ctx context.Context, id int64, group string, pending bool) error {
	return db.write(ctx, fmt.Sprintf("setting the concurrency group of run %d", id), func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE runs SET concurrency_group = ?, group_pending = ? WHERE id = ?`, group, boolInt(pending), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(sql.ErrNoRows, "run", id)
		}
		return nil
	})
}
