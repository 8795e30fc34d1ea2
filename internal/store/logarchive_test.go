package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// readAll pages through a job's log as a follower does, 700 lines at a time.
func readAll(t *testing.T, db *DB, jobID int64) []LogLine {
	t.Helper()
	var out []LogLine
	after := int64(0)
	for {
		page, err := db.Logs(context.Background(), jobID, after, 700)
		if err != nil {
			t.Fatalf("Logs after %d: %v", after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func TestArchiveLogsReadsTheSame(t *testing.T) {
	blobStores := map[string]func(t *testing.T) blob.Store{
		"disk": func(t *testing.T) blob.Store {
			b, err := blob.OpenDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		"s3": func(t *testing.T) blob.Store {
			_, loc := testenv.S3Bucket(t)
			b, err := blob.Open(context.Background(), loc, os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	}
	for name, open := range blobStores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			blobs := open(t)
			dsn := testDSN(t)
			clock := newClock()
			a := openAt(t, dsn, WithClock(clock.Now), WithBlobs(blobs))
			b := openAt(t, dsn, WithClock(clock.Now), WithBlobs(blobs)) // a second replica
			repo := mustRepo(t, a, "app")
			agent := mustAgent(t, a, "box", 1, "default")
			_, jobs := mustRun(t, a, repo.ID, Job{Key: "build", Status: StatusQueued})
			id := jobs[0].ID
			if _, err := a.Claim(ctx, agent.ID, agent.Labels, time.Minute); err != nil {
				t.Fatal(err)
			}
			const n = 2*archiveChunk + 123
			var batch []LogLine
			for seq := int64(1); seq <= n; seq++ {
				batch = append(batch, LogLine{Seq: seq, Step: int(seq % 3), Kind: []string{"", "group", "error"}[seq%3],
					Text: fmt.Sprintf("line %d \u00e9 \x1b[31mred\x1b[0m", seq), Time: clock.Now().Add(time.Duration(seq))})
				if len(batch) == 1000 || seq == n {
					if _, err := a.AppendLogs(ctx, id, batch); err != nil {
						t.Fatal(err)
					}
					batch = nil
				}
			}
			live := readAll(t, a, id)
			if len(live) != n {
				t.Fatalf("%d live lines, want %d", len(live), n)
			}
			// A running job's log stays in the database.
			if moved, err := a.ArchiveLogs(ctx, id); err != nil || moved != 0 {
				t.Fatalf("ArchiveLogs of a running job = %d, %v", moved, err)
			}
			if _, err := a.Complete(ctx, id, agent.ID, ConclusionSuccess, nil); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
			todo, err := b.LogsToArchive(ctx, clock.Now(), 10)
			if err != nil || !cmp.Equal(todo, []int64{id}) {
				t.Fatalf("LogsToArchive = %v, %v; want [%d]", todo, err, id)
			}
			// Two replicas archive at once: the lines move once, nothing is lost.
			var wg sync.WaitGroup
			for _, db := range []*DB{a, b} {
				wg.Go(func() {
					if _, err := db.ArchiveLogs(ctx, id); err != nil {
						t.Errorf("ArchiveLogs: %v", err)
					}
				})
			}
			wg.Wait()
			var left int
			if err := a.rd().queryRow(ctx, `SELECT COUNT(*) FROM log_lines WHERE job_id = ?`, id).Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d lines left in the database, %v; want 0", left, err)
			}
			if todo, err := a.LogsToArchive(ctx, clock.Now(), 10); err != nil || len(todo) != 0 {
				t.Errorf("LogsToArchive after archiving = %v, %v", todo, err)
			}
			for _, db := range []*DB{a, b} {
				if diff := cmp.Diff(live, readAll(t, db, id)); diff != "" {
					t.Fatalf("archived log differs from the live one (-live +archived):\n%s", diff)
				}
			}
			mid, err := b.Logs(ctx, id, archiveChunk-2, 5)
			if err != nil || len(mid) != 5 || mid[0].Seq != archiveChunk-1 || mid[4].Seq != archiveChunk+3 {
				t.Errorf("a page across two chunks = %v, %v", mid, err)
			}
			// A late resend of archived lines is ignored; a new line after them is kept and read after.
			if _, err := a.AppendLogs(ctx, id, []LogLine{{Seq: 5, Text: "late"}, {Seq: n + 1, Text: "tail"}}); err != nil {
				t.Fatal(err)
			}
			all := readAll(t, b, id)
			if len(all) != n+1 || all[4].Text != live[4].Text || all[n].Text != "tail" {
				t.Errorf("after a late append: %d lines, line 5 %q, last %q", len(all), all[4].Text, all[len(all)-1].Text)
			}
			keys, err := blobs.List(ctx, logPrefix(id))
			if err != nil || len(keys) != 3 {
				t.Errorf("chunks = %v, %v; want 3", keys, err)
			}
		})
	}
}
