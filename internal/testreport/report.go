// Package testreport reads JUnit XML test results (pytest's --junitxml and
// the many tools that write the same shape) into a summary for run pages and
// step summaries.
package testreport

import (
	"fmt"
	"strings"
	"time"
)

// Statuses of a Case.
const (
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusError   = "error"
	StatusSkipped = "skipped"
)

// Case is one test case (one <testcase> element).
type Case struct {
	Suite, Class, Name string
	Status             string // passed|failed|error|skipped
	// Message is the failure/error/skip message; Output the details (a
	// traceback) followed by captured stdout/stderr.
	Message, Output string
	Duration        time.Duration
	// File and Line locate the test (1-based line), or, when the report
	// does not say, where the failure's traceback ends.
	File string
	Line int
}

// ID names the case the way pytest does where it can
// ("tests/test_x.py::TestC::test_m"), else "Class::Name".
func (c Case) ID() string {
	if c.File != "" && strings.HasSuffix(c.File, ".py") {
		module := strings.ReplaceAll(strings.TrimSuffix(c.File, ".py"), "/", ".")
		if c.Class == module {
			return c.File + "::" + c.Name
		}
		if rest, ok := strings.CutPrefix(c.Class, module+"."); ok {
			return c.File + "::" + strings.ReplaceAll(rest, ".", "::") + "::" + c.Name
		}
	}
	if c.Class == "" {
		return c.Name
	}
	if p, classes, ok := pytestPath(c.Class); ok {
		// pytest's JUnit classnames are dotted ("tests.test_calc.TestCalc");
		// the file a failure ends in may be a helper, so the id is built
		// from the classname: pasted into pytest, it runs the test.
		return strings.Join(append(append([]string{p}, classes...), c.Name), "::")
	}
	return c.Class + "::" + c.Name
}

// pytestPath reads a pytest JUnit classname as a test file and the classes
// in it: the module path runs up to the first segment that starts with an
// upper-case letter (a class), and its last segment must be a name pytest
// collects by default (test_*.py or *_test.py). Other classnames (Java's
// com.example.CalcTest) are not paths.
func pytestPath(class string) (string, []string, bool) {
	parts := strings.Split(class, ".")
	i := 0
	for i < len(parts) && parts[i] != "" && !(parts[i][0] >= 'A' && parts[i][0] <= 'Z') {
		i++
	}
	if i == 0 {
		return "", nil, false
	}
	mod := parts[i-1]
	if !strings.HasPrefix(mod, "test_") && !strings.HasSuffix(mod, "_test") && mod != "test" && mod != "tests" {
		return "", nil, false
	}
	if mod == "test" || mod == "tests" {
		return "", nil, false // a package, not a module
	}
	return strings.Join(parts[:i], "/") + ".py", parts[i:], true
}

// Report is a set of cases with their counts.
type Report struct {
	Cases                           []Case
	Passed, Failed, Errors, Skipped int
	Duration                        time.Duration
}

func (r *Report) add(c Case) {
	r.Cases = append(r.Cases, c)
	switch c.Status {
	case StatusPassed:
		r.Passed++
	case StatusFailed:
		r.Failed++
	case StatusError:
		r.Errors++
	case StatusSkipped:
		r.Skipped++
	}
}

// Merge combines reports (several jobs, several junit files) into one; nil
// reports are ignored. Durations add up, as the runs are counted as work done.
func Merge(rs ...*Report) *Report {
	out := &Report{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		for _, c := range r.Cases {
			out.add(c)
		}
		out.Duration += r.Duration
	}
	return out
}

// Summary is one line in pytest's manner: "12 passed, 1 failed, 2 skipped in 1.3s".
func (r *Report) Summary() string {
	var parts []string
	for _, p := range []struct {
		n                int
		singular, plural string
	}{
		{r.Passed, "passed", "passed"},
		{r.Failed, "failed", "failed"},
		{r.Errors, "error", "errors"},
		{r.Skipped, "skipped", "skipped"},
	} {
		if p.n == 0 {
			continue
		}
		word := p.plural
		if p.n == 1 {
			word = p.singular
		}
		parts = append(parts, fmt.Sprintf("%d %s", p.n, word))
	}
	if len(parts) == 0 {
		parts = []string{"no tests ran"}
	}
	return strings.Join(parts, ", ") + " in " + formatDuration(r.Duration)
}

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// Failures returns the failed and errored cases, in report order.
func (r *Report) Failures() []Case {
	var out []Case
	for _, c := range r.Cases {
		if c.Status == StatusFailed || c.Status == StatusError {
			out = append(out, c)
		}
	}
	return out
}
