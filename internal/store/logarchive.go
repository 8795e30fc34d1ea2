package store

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/blob"
)

// Logs of running jobs live in log_lines, where appends are cheap and followers are woken; when
// a job has ended, ArchiveLogs moves its lines to the blob store as gzipped JSON-lines chunks,
//
//	logs/<job id>/<first seq>-<last seq>.ndjson.gz   (seqs zero-padded to 12 digits)
//
// and deletes them from the database. Logs reads both, so a reader cannot tell where a line is.

// archiveChunk is the most lines in one blob: a page of a 100,000-line log reads one or two
// chunks, not the whole log.
const archiveChunk = 4096

// WithBlobs gives the store a blob store for the logs of finished jobs (see ArchiveLogs).
// Without one, logs stay in the database.
func WithBlobs(b blob.Store) Option { return func(db *DB) { db.blobs = b } }

func logPrefix(jobID int64) string { return "logs/" + strconv.FormatInt(jobID, 10) + "/" }

func chunkKey(jobID, first, last int64) string {
	return fmt.Sprintf("%s%012d-%012d.ndjson.gz", logPrefix(jobID), first, last)
}

// parseChunkKey reads the seq range of a chunk's key.
func parseChunkKey(key string) (first, last int64, ok bool) {
	name := key[strings.LastIndex(key, "/")+1:]
	name, found := strings.CutSuffix(name, ".ndjson.gz")
	a, b, dash := strings.Cut(name, "-")
	if !found || !dash {
		return 0, 0, false
	}
	f, err1 := strconv.ParseInt(a, 10, 64)
	l, err2 := strconv.ParseInt(b, 10, 64)
	return f, l, err1 == nil && err2 == nil && f <= l
}

// ArchiveLogs moves the log lines of completed job jobID from the database to the blob store
// and returns how many it moved. The blobs are written first and the lines deleted after, in
// one transaction that checks nobody archived them meanwhile: a crash in between leaves the
// lines in the database and, at worst, blobs that the next attempt writes again. Without a
// blob store, or for a job still running, it does nothing.
func (db *DB) ArchiveLogs(ctx context.Context, jobID int64) (int, error) {
	if db.blobs == nil {
		return 0, nil
	}
	var status string
	var archived int64
	if err := db.rd().queryRow(ctx, `SELECT status, log_archived FROM jobs WHERE id = ?`, jobID).Scan(&status, &archived); err != nil {
		return 0, notFound(err, "job", jobID)
	}
	if status != StatusCompleted {
		return 0, nil
	}
	moved, last := 0, archived
	for {
		lines, err := db.dbLogs(ctx, jobID, last, archiveChunk)
		if err != nil {
			return moved, err
		}
		if len(lines) == 0 {
			break
		}
		first, end := lines[0].Seq, lines[len(lines)-1].Seq
		body, err := encodeChunk(lines)
		if err != nil {
			return moved, fmt.Errorf("archiving the log of job %d: %w", jobID, err)
		}
		if err := db.blobs.Put(ctx, chunkKey(jobID, first, end), bytes.NewReader(body), int64(len(body))); err != nil {
			return moved, fmt.Errorf("archiving the log of job %d: %w", jobID, err)
		}
		moved, last = moved+len(lines), end
		if len(lines) < archiveChunk {
			break
		}
	}
	if last == archived {
		return 0, nil
	}
	err := db.write(ctx, fmt.Sprintf("archiving the log of job %d", jobID), func(t *tx) error {
		res, err := t.exec(ctx, `UPDATE jobs SET log_archived = ? WHERE id = ? AND log_archived = ?`, last, jobID, archived)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errArchivedMeanwhile
		}
		_, err = t.exec(ctx, `DELETE FROM log_lines WHERE job_id = ? AND seq <= ?`, jobID, last)
		return err
	})
	if errors.Is(err, errArchivedMeanwhile) {
		return 0, nil // another replica moved them; its chunks are the same bytes
	}
	if err != nil {
		return 0, err
	}
	return moved, nil
}

var errArchivedMeanwhile = errors.New("archived meanwhile")

// LiveLogLines counts job jobID's lines still in the database (not yet archived).
func (db *DB) LiveLogLines(ctx context.Context, jobID int64) (int, error) {
	var n int
	if err := db.rd().queryRow(ctx, `SELECT COUNT(*) FROM log_lines WHERE job_id = ?`, jobID).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting the log lines of job %d: %w", jobID, err)
	}
	return n, nil
}

// LogsToArchive returns up to limit completed jobs that finished before before and still have
// lines in the database, oldest first: the work of the log archiver.
func (db *DB) LogsToArchive(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	rows, err := db.rd().query(ctx, `SELECT j.id FROM jobs j WHERE j.status = ? AND j.finished_at < ?
		AND EXISTS (SELECT 1 FROM log_lines l WHERE l.job_id = j.id) ORDER BY j.finished_at, j.id LIMIT ?`,
		StatusCompleted, ts(before), limit)
	if err != nil {
		return nil, fmt.Errorf("finding logs to archive: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("finding logs to archive: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func encodeChunk(lines []LogLine) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(archivedLine{Seq: l.Seq, Time: ts(l.Time), Step: l.Step, Kind: l.Kind, Text: l.Text}); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// archivedLine is a LogLine as a chunk stores it (time in Unix nanoseconds, as in the database).
type archivedLine struct {
	Seq  int64  `json:"seq"`
	Time int64  `json:"t"`
	Step int    `json:"step,omitempty"`
	Kind string `json:"kind,omitempty"`
	Text string `json:"text"`
}

// archivedLogs returns up to limit archived lines of job jobID with seq > after, in seq order.
func (db *DB) archivedLogs(ctx context.Context, jobID, after int64, limit int) ([]LogLine, error) {
	infos, err := db.blobs.List(ctx, logPrefix(jobID))
	if err != nil {
		return nil, fmt.Errorf("reading the archived log of job %d: %w", jobID, err)
	}
	var out []LogLine
	for _, info := range infos { // by key: zero-padded seqs sort in order
		_, last, ok := parseChunkKey(info.Key)
		if !ok || last <= after {
			continue
		}
		if err := db.readChunk(ctx, info.Key, jobID, after, limit, &out); err != nil {
			return nil, err
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// maxArchivedLine bounds one line of a chunk as read back: chunks are ours, but the store may
// be shared, and a reader's memory must stay bounded whatever it finds.
const maxArchivedLine = 4 << 20

func (db *DB) readChunk(ctx context.Context, key string, jobID, after int64, limit int, out *[]LogLine) error {
	rc, err := db.blobs.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("reading the archived log of job %d: %w", jobID, err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("reading the archived log of job %d (%s): %w", jobID, key, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), maxArchivedLine)
	for sc.Scan() && len(*out) < limit {
		var l archivedLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("reading the archived log of job %d (%s): %w", jobID, key, err)
		}
		if l.Seq > after {
			*out = append(*out, LogLine{JobID: jobID, Seq: l.Seq, Time: fromTS(l.Time), Step: l.Step, Kind: l.Kind, Text: l.Text})
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the archived log of job %d (%s): %w", jobID, key, err)
	}
	return nil
}
