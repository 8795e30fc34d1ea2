package logs

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// script is a small run: a passing build with a group, a debug line, an
// annotation and a tolerated failure, and a failing matrix leg.
func script() []Event {
	sum := &RunSummary{
		RunID:    "42",
		Result:   Failure,
		Duration: 1500 * time.Millisecond,
		Jobs: []JobSummary{
			{Job: "build", Result: Success, Duration: 15 * time.Millisecond, StepSummary: "## Build\n\nok\n"},
			{Job: "test (3.11)", Result: Failure, Duration: 1200 * time.Millisecond},
		},
		Annotations: []Annotation{
			{Level: "error", Message: "m", Title: "T", File: "a.py", Line: 3, Col: 5, Job: "test (3.11)", Step: "Run x"},
		},
	}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []Event{
		{Time: at(0), Kind: RunStarted},
		{Time: at(1), Kind: JobStarted, Job: "build"},
		{Time: at(2), Kind: StepStarted, Job: "build", Step: "Run x"},
		{Time: at(3), Kind: GroupStart, Job: "build", Step: "Run x", Text: "Install"},
		{Time: at(4), Kind: Line, Job: "build", Step: "Run x", Text: "collected 3 items"},
		{Time: at(5), Kind: GroupEnd, Job: "build", Step: "Run x"},
		{Time: at(6), Kind: Debug, Job: "build", Step: "Run x", Text: "cache miss"},
		{Time: at(7), Kind: Notice, Job: "build", Step: "Run x", Text: "set-output is deprecated"},
		{Time: at(8), Kind: AnnotationAdded, Job: "build", Step: "Run x", Annotation: &Annotation{Level: "error", Message: "boom"}},
		{Time: at(9), Kind: AnnotationAdded, Job: "build", Step: "Run x", Annotation: &Annotation{Level: "warning", Message: "careful", File: "a.py", Line: 3}},
		{Time: at(10), Kind: StepFinished, Job: "build", Step: "Run x", Result: Success, Duration: 8 * time.Millisecond},
		{Time: at(11), Kind: StepStarted, Job: "build", Step: "Lint"},
		{Time: at(12), Kind: StepFinished, Job: "build", Step: "Lint", Result: Failure, Duration: 2100 * time.Millisecond, Text: "exit code 1", ContinueOnError: true},
		{Time: at(13), Kind: StepFinished, Job: "build", Step: "Deploy", Result: Skipped},
		{Time: at(14), Kind: JobFinished, Job: "build", Result: Success, Duration: 15 * time.Millisecond},
		{Time: at(20), Kind: JobStarted, Job: "test (3.11)"},
		{Time: at(21), Kind: StepStarted, Job: "test (3.11)", Step: "Run x"},
		{Time: at(22), Kind: Line, Job: "test (3.11)", Step: "Run x", Text: "FAILED test_a.py::test_x"},
		{Time: at(23), Kind: AnnotationAdded, Job: "test (3.11)", Step: "Run x", Annotation: &Annotation{Level: "error", Message: "m", Title: "T", File: "a.py", Line: 3, Col: 5}},
		{Time: at(24), Kind: StepFinished, Job: "test (3.11)", Step: "Run x", Result: Failure, Duration: 123 * time.Second, Text: "exit code 1"},
		{Time: at(25), Kind: JobFinished, Job: "test (3.11)", Result: Failure, Duration: 1200 * time.Millisecond, Text: "step Run x failed"},
		{Time: at(30), Kind: RunFinished, Summary: sum},
	}
}

const wantSummary = `
JOB            RESULT     DURATION
build          success    15ms
test (3.11)    failure    1.2s

Annotations:
  error test (3.11)/Run x: a.py:3:5: T: m

Step summary (build):
  ## Build

  ok

Run 42: failure in 1.5s
`

func TestPlain(t *testing.T) {
	tests := []struct {
		verbose bool
		want    string
	}{
		{false, `[build] job started
[build] step started: Run x
[build/Run x] > Install
[build/Run x] collected 3 items
[build/Run x] sluice: set-output is deprecated
[build/Run x] error: boom
[build/Run x] warning a.py:3: careful
[build/Run x] step success (8ms)
[build] step started: Lint
[build/Lint] step failure (2.1s) - exit code 1 (continue-on-error)
[build/Deploy] step skipped
[build] job success (15ms)
[test (3.11)] job started
[test (3.11)] step started: Run x
[test (3.11)/Run x] FAILED test_a.py::test_x
[test (3.11)/Run x] error a.py:3:5: T: m
[test (3.11)/Run x] step failure (2m03s) - exit code 1
[test (3.11)] job failure (1.2s) - step Run x failed
` + wantSummary},
		{true, `[build] job started
[build] step started: Run x
[build/Run x] > Install
[build/Run x] collected 3 items
[build/Run x] debug: cache miss
[build/Run x] sluice: set-output is deprecated
`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("verbose=", tt.verbose), func(t *testing.T) {
			var buf bytes.Buffer
			s := NewPlain(&buf, tt.verbose)
			for _, e := range script() {
				s.Emit(e)
			}
			got := buf.String()
			if tt.verbose {
				got = strings.Join(strings.SplitAfter(got, "\n")[:6], "")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plain output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ms"},
		{-time.Second, "0ms"},
		{999 * time.Microsecond, "0ms"},
		{12 * time.Millisecond, "12ms"},
		{999 * time.Millisecond, "999ms"},
		{time.Second, "1.0s"},
		{1234 * time.Millisecond, "1.2s"},
		{59960 * time.Millisecond, "59.9s"},
		{time.Minute, "1m00s"},
		{123 * time.Second, "2m03s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h02m03s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestWriteSummary(t *testing.T) {
	tests := []struct {
		name  string
		sum   RunSummary
		color bool
		want  string
	}{
		{
			name: "minimal",
			sum:  RunSummary{Result: Success, Duration: 3 * time.Second},
			want: "\nRun: success in 3.0s\n",
		},
		{
			name: "aligned with wide result and logs",
			sum: RunSummary{
				RunID: "7", Result: Cancelled, Duration: 61 * time.Second, LogDir: "/tmp/l",
				Jobs: []JobSummary{
					{Job: "a", Result: Cancelled, Duration: 61 * time.Second},
					{Job: "lint-ünï", Result: Skipped},
				},
				Annotations: []Annotation{
					{Level: "warning", Message: "two\nlines", Job: "a"},
					{Level: "notice", Message: "n", File: "f.py", Job: "a", Step: "s"},
				},
			},
			want: `
JOB         RESULT       DURATION
a           cancelled    1m01s
lint-ünï    skipped      0ms

Annotations:
  warning a: two
    lines
  notice a/s: f.py: n

Logs: /tmp/l
Run 7: cancelled in 1m01s
`,
		},
		{
			name:  "color",
			sum:   RunSummary{RunID: "1", Result: Failure, Jobs: []JobSummary{{Job: "b", Result: Failure}}},
			color: true,
			want: "\n\x1b[1mJOB    RESULT     DURATION\x1b[0m\nb      \x1b[31mfailure\x1b[0m    0ms\n" +
				"\nRun 1: \x1b[31mfailure\x1b[0m in 0ms\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			WriteSummary(&buf, tt.sum, tt.color)
			if diff := cmp.Diff(tt.want, buf.String()); diff != "" {
				t.Errorf("summary mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMulti(t *testing.T) {
	var a, b bytes.Buffer
	s := Multi(NewPlain(&a, false), nil, NewPlain(&b, false))
	s.Emit(Event{Kind: JobStarted, Job: "j"})
	got := []string{a.String(), b.String()}
	if diff := cmp.Diff([]string{"[j] job started\n", "[j] job started\n"}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// TestSinksConcurrent emits from many goroutines at once; run with -race.
func TestSinksConcurrent(t *testing.T) {
	var plain, tty syncBuffer
	fs, err := NewFileSink(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan time.Time)
	tv := newTTY(&tty, func() int { return 80 }, true,
		withTicker(func() (<-chan time.Time, func()) { return ticks, func() {} }))
	s := Multi(NewPlain(&plain, true), tv, fs)
	const jobs, lines = 6, 50
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := fmt.Sprintf("job %d", i)
			s.Emit(Event{Kind: JobStarted, Job: job})
			s.Emit(Event{Kind: StepStarted, Job: job, Step: "s"})
			for n := range lines {
				s.Emit(Event{Kind: Line, Job: job, Step: "s", Text: fmt.Sprint("line ", n)})
				s.Emit(Event{Kind: Debug, Job: job, Step: "s", Text: "d"})
			}
			s.Emit(Event{Kind: StepFinished, Job: job, Step: "s", Result: Failure})
			s.Emit(Event{Kind: JobFinished, Job: job, Result: Failure})
		}()
	}
	for range 20 {
		ticks <- time.Now()
	}
	wg.Wait()
	s.Emit(Event{Kind: RunFinished, Summary: &RunSummary{Result: Failure}})
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(plain.String(), "] line "), jobs*lines; got != want {
		t.Errorf("plain has %d lines of output, want %d", got, want)
	}
	for i := range jobs {
		if !strings.Contains(stripANSI(tty.String()), fmt.Sprintf("✗ job %d failed at s", i)) {
			t.Errorf("tty output lacks the failure of job %d", i)
		}
	}
}

// syncBuffer is a bytes.Buffer that a test may read while sinks write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
