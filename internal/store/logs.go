package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LogLine is one line of a job's log. Seq is assigned by the agent, from 1, one per line; the
// store keeps the first copy of each (job, seq) so a batch resent after a lost ack is harmless.
type LogLine struct {
	JobID int64     `json:"job_id"`
	Seq   int64     `json:"seq"`
	Time  time.Time `json:"time"`
	Step  int       `json:"step"`
	Kind  string    `json:"kind,omitempty"` // e.g. "", "group", "endgroup", "error", "warning", "command"
	Text  string    `json:"text"`
}

// logAckScan bounds each read while advancing the contiguous mark.
const logAckScan = 1000

// AppendLogs stores lines of job jobID, ignoring (job, seq) pairs already stored, and returns the
// highest seq up to which every line 1..seq is stored — what the agent may forget. Lines may
// arrive out of order; the mark advances once a gap is filled. It writes no event but wakes
// watchers of TopicJob(jobID).
func (db *DB) AppendLogs(ctx context.Context, jobID int64, lines []LogLine) (int64, error) {
	var acked int64
	err := db.write(ctx, fmt.Sprintf("appending %d log lines to job %d", len(lines), jobID), func(t *tx) error {
		// The lock orders two batches of one job (a resend racing its original through another
		// replica), so the contiguous mark only moves forward.
		var archived int64
		if err := t.queryRow(ctx, `SELECT log_acked, log_archived FROM jobs WHERE id = ?`+t.db.d.forUpdate(), jobID).Scan(&acked, &archived); err != nil {
			return notFound(err, "job", jobID)
		}
		for _, l := range lines {
			if l.Seq < 1 {
				return fmt.Errorf("log line seq %d: seqs start at 1", l.Seq)
			}
			// Lines up to the archived mark are in the blob store for good.
			if l.Seq <= acked || l.Seq <= archived {
				continue
			}
			at := l.Time
			if at.IsZero() {
				at = t.now
			}
			if _, err := t.exec(ctx, `INSERT INTO log_lines (job_id, seq, time, step, kind, text) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (job_id, seq) DO NOTHING`, jobID, l.Seq, ts(at), l.Step, l.Kind, l.Text); err != nil {
				return fmt.Errorf("inserting line %d: %w", l.Seq, err)
			}
		}
		start := acked
		for {
			rows, err := t.query(ctx, `SELECT seq FROM log_lines WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
				jobID, acked, logAckScan)
			if err != nil {
				return err
			}
			n, gap := 0, false
			for rows.Next() {
				var seq int64
				if err := rows.Scan(&seq); err != nil {
					rows.Close()
					return err
				}
				n++
				if seq != acked+1 {
					gap = true
					break
				}
				acked = seq
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if gap || n < logAckScan {
				break
			}
		}
		if acked != start {
			if _, err := t.exec(ctx, `UPDATE jobs SET log_acked = ? WHERE id = ?`, acked, jobID); err != nil {
				return err
			}
		}
		t.touch(TopicJob(jobID))
		return nil
	})
	return acked, err
}

// Logs returns up to limit (default 1000) lines of job jobID with seq > afterSeq, in seq order,
// wherever they are: in the database while the job runs, in the blob store once archived
// (see ArchiveLogs), or both.
func (db *DB) Logs(ctx context.Context, jobID, afterSeq int64, limit int) ([]LogLine, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []LogLine
	if db.blobs != nil {
		var archived int64
		if err := db.rd().queryRow(ctx, `SELECT log_archived FROM jobs WHERE id = ?`, jobID).Scan(&archived); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading logs of job %d: %w", jobID, err)
		}
		if afterSeq < archived {
			var err error
			if out, err = db.archivedLogs(ctx, jobID, afterSeq, limit); err != nil {
				return nil, err
			}
			if len(out) >= limit {
				return out, nil
			}
			afterSeq = archived
		}
	}
	more, err := db.dbLogs(ctx, jobID, afterSeq, limit-len(out))
	if err != nil {
		return nil, err
	}
	return append(out, more...), nil
}

// dbLogs is Logs from the database alone.
func (db *DB) dbLogs(ctx context.Context, jobID, afterSeq int64, limit int) ([]LogLine, error) {
	rows, err := db.rd().query(ctx, `SELECT seq, time, step, kind, text FROM log_lines WHERE job_id = ? AND seq > ?
		ORDER BY seq LIMIT ?`, jobID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("reading logs of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []LogLine
	for rows.Next() {
		l := LogLine{JobID: jobID}
		var at int64
		if err := rows.Scan(&l.Seq, &at, &l.Step, &l.Kind, &l.Text); err != nil {
			return nil, fmt.Errorf("reading log line: %w", err)
		}
		l.Time = fromTS(at)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading logs of job %d: %w", jobID, err)
	}
	return out, nil
}
