package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

// A completion's tool versions and test report land in the store, where the delivery metrics
// read them; the report's case ids are pytest's node ids.
func TestAgentCompleteRecordsToolsAndTests(t *testing.T) {
	e := newAgentTestEnv(t)
	_, tok := e.register(t, "runner")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	report := `{"Cases": [
		{"Class": "tests.test_api", "Name": "test_ok", "File": "tests/test_api.py", "Status": "passed", "Duration": 1500000000},
		{"Class": "tests.test_api", "Name": "test_bad", "File": "tests/test_api.py", "Status": "failed", "Duration": 20000000},
		{"Class": "tests.test_api", "Name": "test_skip", "File": "tests/test_api.py", "Status": "skipped"}
	], "Passed": 1, "Failed": 1, "Skipped": 1}`
	body := fmt.Sprintf(`{"conclusion": "failure", "tests": %s, "versions": {"python": "3.12.3", "pip": "25.1", "$(rm -rf /)": "x"}}`, report)
	if code, b := e.do(t, "POST", fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.ID), tok, []byte(body)); code != http.StatusOK {
		t.Fatalf("complete: %d %s", code, b)
	}
	ctx := context.Background()
	tools, err := e.db.JobTools(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"python": "3.12.3", "pip": "25.1"}, tools); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	cases, err := e.db.JobTestCases(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.TestCase{
		{Name: "tests/test_api.py::test_bad", Outcome: store.TestFailed, Duration: 20e6},
		{Name: "tests/test_api.py::test_ok", Outcome: store.TestPassed, Duration: 15e8},
	}
	if diff := cmp.Diff(want, cases); diff != "" {
		t.Errorf("test cases (-want +got):\n%s", diff)
	}
}

// A report that is not a test report records no tests and does not fail the completion.
func TestAgentCompleteIgnoresAMalformedReport(t *testing.T) {
	e := newAgentTestEnv(t)
	_, tok := e.register(t, "runner")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	nested := strings.Repeat(`{"Cases":`, 100) + "1" + strings.Repeat("}", 100)
	body := fmt.Sprintf(`{"conclusion": "success", "tests": %s}`, nested)
	if code, b := e.do(t, "POST", fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.ID), tok, []byte(body)); code != http.StatusOK {
		t.Fatalf("complete: %d %s", code, b)
	}
	if cases, err := e.db.JobTestCases(context.Background(), j.ID); err != nil || len(cases) != 0 {
		t.Errorf("test cases %v, %v; want none", cases, err)
	}
}
