package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecordJobResults(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "acme/app")
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "test"})
	id := jobs[0].ID
	res := JobResults{
		Tools: map[string]string{"python": "3.12.1", "pip": " 25.0 ", "uv": "", "bad name": "1", "-x": "1"},
		Tests: []TestCase{
			{Name: "t::fast", Outcome: TestPassed, Duration: time.Millisecond},
			{Name: "t::slow", Outcome: TestPassed, Duration: 3 * time.Second},
			{Name: "t::broken", Outcome: TestFailed, Duration: time.Second},
			{Name: "t::broken", Outcome: TestPassed, Duration: 9 * time.Second}, // a repeat keeps the failure
			{Name: "t::err", Outcome: TestError, Duration: -time.Second},
			{Name: "t::skip", Outcome: TestSkipped},
			{Name: "t::odd", Outcome: "xfail"},
			{Name: "   ", Outcome: TestFailed},
		},
	}
	if err := db.RecordJobResults(ctx, id, res); err != nil {
		t.Fatal(err)
	}
	tools, err := db.JobTools(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"python": "3.12.1", "pip": "25.0"}, tools); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	cases, err := db.JobTestCases(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []TestCase{
		{Name: "t::broken", Outcome: TestFailed, Duration: time.Second},
		{Name: "t::err", Outcome: TestError},
		{Name: "t::fast", Outcome: TestPassed, Duration: time.Millisecond},
		{Name: "t::slow", Outcome: TestPassed, Duration: 3 * time.Second},
	}
	if diff := cmp.Diff(want, cases); diff != "" {
		t.Errorf("test cases (-want +got):\n%s", diff)
	}
	evs := eventKinds(t, db, EventFilter{JobID: id, Kinds: []string{EventJobResults}})
	if len(evs) != 1 {
		t.Errorf("events %v, want one %s", evs, EventJobResults)
	}
	// A second completion replaces the first.
	if err := db.RecordJobResults(ctx, id, JobResults{Tests: []TestCase{{Name: "t::only", Outcome: TestPassed}}}); err != nil {
		t.Fatal(err)
	}
	if cases, _ = db.JobTestCases(ctx, id); len(cases) != 1 || cases[0].Name != "t::only" {
		t.Errorf("after a second record: %+v, want only t::only", cases)
	}
	if tools, _ = db.JobTools(ctx, id); len(tools) != 0 {
		t.Errorf("after a second record without tools: %v", tools)
	}
	if err := db.RecordJobResults(ctx, 999, res); err == nil {
		t.Error("recording results of an unknown job succeeded")
	}
}

// A job's report comes from the job: a flood of tests, huge names and many tools are bounded.
func TestRecordJobResultsBoundsHostileReports(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	repo := mustRepo(t, db, "acme/app")
	_, jobs := mustRun(t, db, repo.ID, Job{Key: "test"})
	id := jobs[0].ID
	var res JobResults
	res.Tools = map[string]string{}
	for i := range 100 {
		res.Tools[fmt.Sprintf("tool%03d", i)] = strings.Repeat("9", 1000)
	}
	for i := range 5000 {
		res.Tests = append(res.Tests, TestCase{Name: fmt.Sprintf("t::pass%05d", i), Outcome: TestPassed, Duration: time.Duration(i) * time.Millisecond})
		res.Tests = append(res.Tests, TestCase{Name: fmt.Sprintf("t::fail%05d", i), Outcome: TestFailed})
	}
	res.Tests = append(res.Tests, TestCase{Name: strings.Repeat("é", 2000), Outcome: TestFailed, Duration: 100 * 24 * time.Hour})
	if err := db.RecordJobResults(ctx, id, res); err != nil {
		t.Fatal(err)
	}
	cases, err := db.JobTestCases(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	fails, passes := 0, 0
	for _, c := range cases {
		if len(c.Name) > maxTestName || !strings.HasPrefix(c.Name, "t::") && !strings.HasPrefix(c.Name, "é") {
			t.Fatalf("kept a name of %d bytes: %.40q", len(c.Name), c.Name)
		}
		if c.Duration > maxTestDuration {
			t.Errorf("kept a duration of %s", c.Duration)
		}
		if c.Outcome == TestPassed {
			passes++
			if c.Duration < 4980*time.Millisecond {
				t.Errorf("kept %s (%s), not among the slowest", c.Name, c.Duration)
			}
		} else {
			fails++
		}
	}
	if fails != MaxFailedTests || passes != MaxSlowTests {
		t.Errorf("kept %d failures and %d passes, want %d and %d", fails, passes, MaxFailedTests, MaxSlowTests)
	}
	tools, err := db.JobTools(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != maxTools {
		t.Errorf("kept %d tools, want %d", len(tools), maxTools)
	}
	for n, v := range tools {
		if len(v) > maxToolVersion {
			t.Errorf("tool %s kept a version of %d bytes", n, len(v))
		}
	}
}
