package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Reads of job logs for the run page: where a log ends, lines of some kinds across a run's
// jobs (its annotations), and a window of lines around one line.

// LastLogSeq returns the highest seq stored for job jobID (0 when it has no lines).
func (db *DB) LastLogSeq(ctx context.Context, jobID int64) (int64, error) {
	var seq sql.NullInt64
	if err := db.rd().queryRow(ctx, `SELECT MAX(seq) FROM log_lines WHERE job_id = ?`, jobID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("reading the end of job %d's log: %w", jobID, err)
	}
	return seq.Int64, nil
}

// FirstLogOfKind returns the seq of the first line of job jobID with kind, from step step when
// step > 0; 0 when there is none.
func (db *DB) FirstLogOfKind(ctx context.Context, jobID int64, step int, kind string) (int64, error) {
	q, args := `SELECT MIN(seq) FROM log_lines WHERE job_id = ? AND kind = ?`, []any{jobID, kind}
	if step > 0 {
		q, args = q+` AND step = ?`, append(args, step)
	}
	var seq sql.NullInt64
	if err := db.rd().queryRow(ctx, q, args...).Scan(&seq); err != nil {
		return 0, fmt.Errorf("finding the first %s line of job %d: %w", kind, jobID, err)
	}
	return seq.Int64, nil
}

// StepLogs returns up to limit lines of step step of job jobID with seq > afterSeq, in order.
func (db *DB) StepLogs(ctx context.Context, jobID int64, step int, afterSeq int64, limit int) ([]LogLine, error) {
	return db.scanLogs(ctx, fmt.Sprintf("reading step %d of job %d's log", step, jobID),
		`SELECT job_id, seq, time, step, kind, text FROM log_lines WHERE job_id = ? AND step = ? AND seq > ? ORDER BY seq LIMIT ?`,
		jobID, step, afterSeq, limit)
}

// LogsOfKinds returns up to limit lines of the given kinds from the jobs jobIDs, by job (in the
// order given) and seq: a run's annotations.
func (db *DB) LogsOfKinds(ctx context.Context, jobIDs []int64, kinds []string, limit int) ([]LogLine, error) {
	var out []LogLine
	for _, id := range jobIDs {
		if len(out) >= limit {
			break
		}
		lines, err := db.scanLogs(ctx, fmt.Sprintf("reading the annotations of job %d", id),
			`SELECT job_id, seq, time, step, kind, text FROM log_lines WHERE job_id = ? AND kind IN (`+placeholders(len(kinds))+`)
			ORDER BY seq LIMIT ?`, append(append([]any{id}, anySlice(kinds)...), limit-len(out))...)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// LogWindow returns the lines of job jobID with seq in [from, to], in order.
func (db *DB) LogWindow(ctx context.Context, jobID, from, to int64) ([]LogLine, error) {
	return db.scanLogs(ctx, fmt.Sprintf("reading lines %d-%d of job %d", from, to, jobID),
		`SELECT job_id, seq, time, step, kind, text FROM log_lines WHERE job_id = ? AND seq >= ? AND seq <= ? ORDER BY seq`,
		jobID, from, to)
}

func (db *DB) scanLogs(ctx context.Context, what, q string, args ...any) ([]LogLine, error) {
	rows, err := db.rd().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []LogLine
	for rows.Next() {
		var l LogLine
		var at int64
		if err := rows.Scan(&l.JobID, &l.Seq, &at, &l.Step, &l.Kind, &l.Text); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		l.Time = fromTS(at)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
