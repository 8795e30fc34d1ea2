package testreport

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummary(t *testing.T) {
	tests := []struct {
		r    Report
		want string
	}{
		{Report{Passed: 12, Failed: 1, Skipped: 2, Duration: 1300 * time.Millisecond}, "12 passed, 1 failed, 2 skipped in 1.3s"},
		{Report{Passed: 1, Errors: 1, Duration: 50 * time.Millisecond}, "1 passed, 1 error in 0.05s"},
		{Report{Failed: 3, Errors: 2, Duration: 83 * time.Second}, "3 failed, 2 errors in 1m23s"},
		{Report{}, "no tests ran in 0.00s"},
	}
	for _, tt := range tests {
		if got := tt.r.Summary(); got != tt.want {
			t.Errorf("Summary() = %q, want %q", got, tt.want)
		}
	}
}

func TestCaseID(t *testing.T) {
	tests := []struct {
		c    Case
		want string
	}{
		{Case{Class: "tests.test_x.TestA", Name: "test_m[1]", File: "tests/test_x.py"}, "tests/test_x.py::TestA::test_m[1]"},
		{Case{Class: "tests.test_x", Name: "test_f", File: "tests/test_x.py"}, "tests/test_x.py::test_f"},
		// The failure ended in a helper: the id still names the test's file.
		{Case{Class: "tests.test_x", Name: "test_f", File: "src/helper.py"}, "tests/test_x.py::test_f"},
		{Case{Class: "tests.test_calc.TestCalc", Name: "test_add"}, "tests/test_calc.py::TestCalc::test_add"},
		{Case{Class: "tests.unit.test_calc.TestCalc.TestNested", Name: "test_add[1-2]"}, "tests/unit/test_calc.py::TestCalc::TestNested::test_add[1-2]"},
		{Case{Class: "pkg.calc_test", Name: "test_sub"}, "pkg/calc_test.py::test_sub"},
		{Case{Class: "com.example.CalcTest", Name: "adds"}, "com.example.CalcTest::adds"},
		{Case{Name: "lonely"}, "lonely"},
	}
	for _, tt := range tests {
		if got := tt.c.ID(); got != tt.want {
			t.Errorf("%+v.ID() = %q, want %q", tt.c, got, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
	a := &Report{Duration: time.Second}
	a.add(Case{Name: "a1", Status: StatusPassed})
	a.add(Case{Name: "a2", Status: StatusFailed})
	b := &Report{Duration: 2 * time.Second}
	b.add(Case{Name: "b1", Status: StatusSkipped})
	b.add(Case{Name: "b2", Status: StatusError})
	b.add(Case{Name: "b3", Status: StatusPassed})
	got := Merge(a, nil, b)
	want := &Report{
		Cases: []Case{
			{Name: "a1", Status: "passed"}, {Name: "a2", Status: "failed"},
			{Name: "b1", Status: "skipped"}, {Name: "b2", Status: "error"}, {Name: "b3", Status: "passed"},
		},
		Passed: 2, Failed: 1, Errors: 1, Skipped: 1, Duration: 3 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Merge (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&Report{}, Merge()); diff != "" {
		t.Errorf("Merge() (-want +got):\n%s", diff)
	}
}

func TestMarkdown(t *testing.T) {
	r := &Report{Duration: 1500 * time.Millisecond}
	r.add(Case{Class: "tests.test_a", Name: "test_ok", Status: StatusPassed})
	r.add(Case{Class: "tests.test_a", Name: "test_bad", File: "tests/test_a.py", Line: 7, Status: StatusFailed,
		Message: "AssertionError: math is broken\nassert (1 + 1) == 3"})
	r.add(Case{Class: "tests.test_a", Name: "test_fixture", Status: StatusError,
		Output: "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8"})
	r.add(Case{Class: "tests.test_b", Name: "test_md", Status: StatusFailed, Message: "got ```code``` in output"})
	r.add(Case{Class: "tests.test_b", Name: "test_more", Status: StatusFailed, Message: "x"})
	r.add(Case{Class: "tests.test_b", Name: "test_skip", Status: StatusSkipped, Message: "later"})

	want := "❌ **1 passed, 3 failed, 1 error, 1 skipped in 1.5s**\n" +
		"\n" +
		"- failed `tests/test_a.py::test_bad` (tests/test_a.py:7)\n" +
		"  ```\n" +
		"  AssertionError: math is broken\n" +
		"  assert (1 + 1) == 3\n" +
		"  ```\n" +
		"- error `tests/test_a.py::test_fixture`\n" +
		"  ```\n" +
		"  line 1\n  line 2\n  line 3\n  line 4\n  line 5\n  line 6\n  …\n" +
		"  ```\n" +
		"- failed `tests/test_b.py::test_md`\n" +
		"  ````\n" +
		"  got ```code``` in output\n" +
		"  ````\n" +
		"\n" +
		"…and 1 more\n"
	if diff := cmp.Diff(want, r.Markdown(3)); diff != "" {
		t.Errorf("Markdown(3) (-want +got):\n%s", diff)
	}

	green := &Report{Duration: 200 * time.Millisecond}
	green.add(Case{Name: "t", Status: StatusPassed})
	if diff := cmp.Diff("✅ **1 passed in 0.20s**\n", green.Markdown(5)); diff != "" {
		t.Errorf("Markdown of a green report (-want +got):\n%s", diff)
	}

	// maxFailures 0 keeps only the headline and the count.
	got := r.Markdown(0)
	if !strings.HasSuffix(got, fmt.Sprintf("…and %d more\n", 4)) || strings.Contains(got, "test_bad") {
		t.Errorf("Markdown(0) = %q", got)
	}
}
