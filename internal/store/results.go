package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// EventJobResults is written when a job's tool versions and test cases are recorded.
const EventJobResults = "job.results"

// Test case outcomes, as internal/testreport names them.
const (
	TestPassed  = "passed"
	TestFailed  = "failed"
	TestError   = "error"
	TestSkipped = "skipped"
)

// Bounds on what one job's results may put in the database. A job's test report comes from the
// job (its JUnit XML), so it is untrusted: it may name a million tests or one very long name.
const (
	// MaxSlowTests is how many passing test cases a job keeps: its slowest, which is what the
	// slowest-tests figures read. Failures are all kept (up to MaxFailedTests): flaky-test
	// figures need them, and a failure is what someone looks for.
	MaxSlowTests   = 20
	MaxFailedTests = 1000
	maxTestName    = 1024
	maxTools       = 32
	maxToolVersion = 128
	// maxTestDuration caps a reported duration; a week is longer than any job may run.
	maxTestDuration = 7 * 24 * time.Hour
)

var toolNameRe = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// TestCase is one test of a job's report.
type TestCase struct {
	Name     string        `json:"name"` // pytest's node id where known
	Outcome  string        `json:"outcome"`
	Duration time.Duration `json:"duration"`
}

// JobResults is what a job reported besides its conclusion: the versions of the tools it ran with
// and its test cases.
type JobResults struct {
	Tools map[string]string
	Tests []TestCase
}

// RecordJobResults keeps res for job jobID, replacing what an earlier call kept (an agent may
// send a completion twice), and writes job.results with the counts. Tools with a name that is
// not a plain word are dropped and versions are cut to 128 bytes; of the tests, every failure
// and the MaxSlowTests slowest passes are kept, names cut to 1024 bytes; skipped tests are only
// counted. A job with neither tools nor tests records nothing.
func (db *DB) RecordJobResults(ctx context.Context, jobID int64, res JobResults) error {
	tools := cleanTools(res.Tools)
	kept, counts := keptTests(res.Tests)
	if len(tools) == 0 && len(res.Tests) == 0 {
		return nil
	}
	return db.write(ctx, fmt.Sprintf("recording the results of job %d", jobID), func(t *tx) error {
		var runID, repoID, queued int64
		if err := t.queryRow(ctx, `SELECT j.run_id, r.repo_id, r.queued_at FROM jobs j JOIN runs r ON r.id = j.run_id WHERE j.id = ?`, jobID).
			Scan(&runID, &repoID, &queued); err != nil {
			return notFound(err, "job", jobID)
		}
		for _, q := range []string{`DELETE FROM job_tools WHERE job_id = ?`, `DELETE FROM test_cases WHERE job_id = ?`} {
			if _, err := t.exec(ctx, q, jobID); err != nil {
				return fmt.Errorf("clearing earlier results: %w", err)
			}
		}
		names := make([]string, 0, len(tools))
		for n := range tools {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if _, err := t.exec(ctx, `INSERT INTO job_tools (job_id, name, version) VALUES (?, ?, ?)`, jobID, n, tools[n]); err != nil {
				return fmt.Errorf("recording tool %s: %w", n, err)
			}
		}
		for _, c := range kept {
			if _, err := t.exec(ctx, `INSERT INTO test_cases (job_id, name, outcome, duration, run_id, repo_id, queued)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, jobID, c.Name, c.Outcome, int64(c.Duration), runID, repoID, queued); err != nil {
				return fmt.Errorf("recording test %s: %w", c.Name, err)
			}
		}
		return t.event(ctx, EventJobResults, ids{repo: repoID, run: runID, job: jobID}, map[string]any{
			"tools": tools, "passed": counts[TestPassed], "failed": counts[TestFailed], "errors": counts[TestError],
			"skipped": counts[TestSkipped], "kept": len(kept),
		})
	})
}

// JobTools returns the tool versions recorded for job jobID (an empty map when none).
func (db *DB) JobTools(ctx context.Context, jobID int64) (map[string]string, error) {
	rows, err := db.rd().query(ctx, `SELECT name, version FROM job_tools WHERE job_id = ?`, jobID)
	if err != nil {
		return nil, fmt.Errorf("reading the tools of job %d: %w", jobID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("reading the tools of job %d: %w", jobID, err)
		}
		out[n] = v
	}
	return out, rows.Err()
}

// JobTestCases returns the test cases kept for job jobID, by name.
func (db *DB) JobTestCases(ctx context.Context, jobID int64) ([]TestCase, error) {
	rows, err := db.rd().query(ctx, `SELECT name, outcome, duration FROM test_cases WHERE job_id = ? ORDER BY name`, jobID)
	if err != nil {
		return nil, fmt.Errorf("reading the tests of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []TestCase
	for rows.Next() {
		var c TestCase
		var d int64
		if err := rows.Scan(&c.Name, &c.Outcome, &d); err != nil {
			return nil, fmt.Errorf("reading the tests of job %d: %w", jobID, err)
		}
		c.Duration = time.Duration(d)
		out = append(out, c)
	}
	return out, rows.Err()
}

func cleanTools(in map[string]string) map[string]string {
	names := make([]string, 0, len(in))
	for n := range in {
		if toolNameRe.MatchString(n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := map[string]string{}
	for _, n := range names[:min(len(names), maxTools)] {
		v := truncUTF8(strings.TrimSpace(in[n]), maxToolVersion)
		if v != "" {
			out[n] = v
		}
	}
	return out
}

// keptTests picks the cases a job keeps and counts every case by outcome. One name reported twice
// (a parametrised id repeated across invocations) keeps its worst outcome, then its longest time.
func keptTests(in []TestCase) ([]TestCase, map[string]int) {
	counts := map[string]int{}
	byName := map[string]TestCase{}
	for _, c := range in {
		switch c.Outcome {
		case TestPassed, TestFailed, TestError, TestSkipped:
		default:
			continue
		}
		counts[c.Outcome]++
		c.Name = truncUTF8(strings.TrimSpace(c.Name), maxTestName)
		if c.Name == "" || c.Outcome == TestSkipped {
			continue
		}
		c.Duration = min(max(c.Duration, 0), maxTestDuration)
		if old, ok := byName[c.Name]; ok && (failed(old) && !failed(c) || failed(old) == failed(c) && old.Duration >= c.Duration) {
			continue
		}
		byName[c.Name] = c
	}
	var fails, passes []TestCase
	for _, c := range byName {
		if failed(c) {
			fails = append(fails, c)
		} else {
			passes = append(passes, c)
		}
	}
	byName = nil
	order := func(a, b TestCase) int {
		if a.Duration != b.Duration {
			return compareDur(b.Duration, a.Duration)
		}
		return strings.Compare(a.Name, b.Name)
	}
	slices.SortFunc(fails, order)
	slices.SortFunc(passes, order)
	return append(fails[:min(len(fails), MaxFailedTests)], passes[:min(len(passes), MaxSlowTests)]...), counts
}

func failed(c TestCase) bool { return c.Outcome == TestFailed || c.Outcome == TestError }

func compareDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// truncUTF8 cuts s to at most n bytes without splitting a character.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
