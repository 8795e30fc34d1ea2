package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendLogsIdempotentAndOrdered(t *testing.T) {
	ctx := context.Background()
	db, clock := newDB(t)
	repo := mustRepo(t, db, "app")
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "build", Status: StatusQueued})
	job := jobs[0].ID
	line := func(seq int64, text string) LogLine {
		return LogLine{Seq: seq, Time: clock.Now(), Step: 1, Text: text}
	}
	batches := []struct {
		lines   []LogLine
		wantAck int64
	}{
		{[]LogLine{line(1, "one"), line(2, "two"), line(3, "three")}, 3},
		{[]LogLine{line(5, "five"), line(6, "six")}, 3},                  // gap at 4
		{[]LogLine{line(2, "TWO again"), line(3, "THREE again")}, 3},     // resent batch
		{[]LogLine{line(6, "SIX again"), line(4, "four")}, 6},            // gap filled, out of order
		{[]LogLine{line(7, "seven"), line(7, "SEVEN in same batch")}, 7}, // duplicate within a batch
	}
	for i, b := range batches {
		ack, err := db.AppendLogs(ctx, job, b.lines)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if ack != b.wantAck {
			t.Errorf("batch %d: ack = %d, want %d", i, ack, b.wantAck)
		}
	}
	got, err := db.Logs(ctx, job, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i, l := range got {
		if l.Seq != int64(i+1) || l.JobID != job {
			t.Errorf("line %d = %+v", i, l)
		}
		texts = append(texts, l.Text)
	}
	if diff := cmp.Diff([]string{"one", "two", "three", "four", "five", "six", "seven"}, texts); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	page, err := db.Logs(ctx, job, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].Seq != 3 || page[2].Seq != 5 {
		t.Errorf("page after 2, limit 3 = %+v", page)
	}
	if _, err := db.AppendLogs(ctx, job, []LogLine{{Seq: 0, Text: "x"}}); err == nil {
		t.Error("seq 0 accepted")
	}
	if _, err := db.AppendLogs(ctx, job+100, []LogLine{{Seq: 1, Text: "x"}}); err == nil {
		t.Error("lines for a missing job accepted")
	}
}

func TestAppendLogsLongGapFill(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "app")
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "build"})
	// Lines 2..2500 first (more than one scan window), then line 1 closes the gap.
	var lines []LogLine
	for s := int64(2); s <= 2500; s++ {
		lines = append(lines, LogLine{Seq: s, Text: fmt.Sprint(s), Time: time.Unix(0, s)})
	}
	if ack, err := db.AppendLogs(ctx, jobs[0].ID, lines); err != nil || ack != 0 {
		t.Fatalf("ack = %d, %v; want 0", ack, err)
	}
	if ack, err := db.AppendLogs(ctx, jobs[0].ID, []LogLine{{Seq: 1, Text: "1"}}); err != nil || ack != 2500 {
		t.Fatalf("ack = %d, %v; want 2500", ack, err)
	}
}
