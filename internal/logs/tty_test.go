package logs

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// screen replays what the TTY sink wrote the way a terminal would, for the
// controls it uses (\r, \n, cursor up and down, erase line, erase to the
// end of line, erase below), and returns the visible lines. Colors are
// dropped.
func screen(t *testing.T, out string) []string {
	t.Helper()
	out = regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(out, "")
	var rows [][]rune
	row, col := 0, 0
	grow := func() {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
	}
	ctl := regexp.MustCompile(`^\x1b\[([0-9]*)([ABJK])`)
	for len(out) > 0 {
		switch {
		case out[0] == '\n':
			row++
			col = 0
			grow()
			out = out[1:]
		case out[0] == '\r':
			col = 0
			out = out[1:]
		case out[0] == '\x1b':
			m := ctl.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("unexpected escape in %q", out[:min(len(out), 10)])
			}
			n, _ := strconv.Atoi(m[1])
			grow()
			switch m[2] {
			case "A":
				row -= max(n, 1)
				if row < 0 {
					t.Fatalf("cursor moved above the first line")
				}
			case "B":
				row += max(n, 1)
				grow()
			case "J":
				rows[row] = rows[row][:min(col, len(rows[row]))]
				rows = rows[:row+1]
			case "K":
				if m[1] == "2" {
					rows[row] = nil
				} else {
					rows[row] = rows[row][:min(col, len(rows[row]))]
				}
			}
			out = out[len(m[0]):]
		default:
			i := strings.IndexAny(out, "\r\n\x1b")
			if i < 0 {
				i = len(out)
			}
			grow()
			for _, r := range out[:i] {
				for len(rows[row]) < col {
					rows[row] = append(rows[row], ' ')
				}
				if col < len(rows[row]) {
					rows[row][col] = r
				} else {
					rows[row] = append(rows[row], r)
				}
				col++
			}
			out = out[i:]
		}
	}
	var lines []string
	for _, r := range rows {
		lines = append(lines, string(r))
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestTTYScript(t *testing.T) {
	clock := &fakeClock{t: t0}
	var buf bytes.Buffer
	tv := newTTY(&buf, func() int { return 80 }, false, withClock(clock.now), withTicker(nil))
	events := script()

	// Part way: build is in its first step.
	for _, e := range events[:5] {
		tv.Emit(e)
	}
	clock.t = t0.Add(1500 * time.Millisecond)
	tv.tick()
	want := []string{"⠙ build  Run x  1.4s"}
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("mid-run screen mismatch (-want +got):\n%s", diff)
	}

	for _, e := range events[5:16] {
		tv.Emit(e)
	}
	tv.tick()
	want = []string{
		"[build/Run x] sluice: set-output is deprecated",
		"[build/Run x] error: boom",
		"[build/Run x] warning a.py:3: careful",
		"✓ build        success  15ms",
		"⠹ test (3.11)  starting  1.4s",
	}
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("second screen mismatch (-want +got):\n%s", diff)
	}

	for _, e := range events[16:] {
		tv.Emit(e)
	}
	want = []string{
		"[build/Run x] sluice: set-output is deprecated",
		"[build/Run x] error: boom",
		"[build/Run x] warning a.py:3: careful",
		"[test (3.11)/Run x] error a.py:3:5: T: m",
		"✗ test (3.11) failed at Run x - step Run x failed (last 1 line):",
		"  │ FAILED test_a.py::test_x",
		"✓ build        success  15ms",
		"✗ test (3.11)  failure at Run x  1.2s",
	}
	want = append(want, strings.Split(strings.TrimSuffix(wantSummary, "\n"), "\n")...)
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("final screen mismatch (-want +got):\n%s", diff)
	}
	if strings.Contains(buf.String(), "cache miss") {
		t.Error("debug line shown without verbose")
	}

	// Nothing is redrawn after the run finished.
	n := buf.Len()
	tv.tick()
	if buf.Len() != n {
		t.Errorf("tick after RunFinished wrote %q", buf.String()[n:])
	}
}

func TestTTYFailureTail(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, nil, true, withClock(func() time.Time { return t0 }), withTicker(nil))
	tv.Emit(Event{Kind: JobStarted, Job: "j"})
	tv.Emit(Event{Kind: StepStarted, Job: "j", Step: "ok"})
	tv.Emit(Event{Kind: Line, Job: "j", Step: "ok", Text: "from a passing step"})
	tv.Emit(Event{Kind: StepFinished, Job: "j", Step: "ok", Result: Success})
	tv.Emit(Event{Kind: StepStarted, Job: "j", Step: "bad"})
	for i := range 45 {
		tv.Emit(Event{Kind: Line, Job: "j", Step: "bad", Text: "out " + strconv.Itoa(i)})
	}
	tv.Emit(Event{Kind: Debug, Job: "j", Step: "bad", Text: "dbg"})
	tv.Emit(Event{Kind: StepFinished, Job: "j", Step: "bad", Result: Failure})
	// A later always() step must not replace the failing step's output.
	tv.Emit(Event{Kind: StepStarted, Job: "j", Step: "cleanup"})
	tv.Emit(Event{Kind: Line, Job: "j", Step: "cleanup", Text: "cleaning"})
	tv.Emit(Event{Kind: StepFinished, Job: "j", Step: "cleanup", Result: Success})
	tv.Emit(Event{Kind: JobFinished, Job: "j", Result: Failure})

	got := screen(t, buf.String())
	var tail []string
	for _, l := range got {
		if s, ok := strings.CutPrefix(l, "  │ "); ok {
			tail = append(tail, s)
		}
	}
	var want []string
	for i := 16; i < 45; i++ {
		want = append(want, "out "+strconv.Itoa(i))
	}
	want = append(want, "debug: dbg")
	if diff := cmp.Diff(want, tail); diff != "" {
		t.Errorf("failure tail mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(got, "\n"), "✗ j failed at bad (last 30 lines):") {
		t.Errorf("no failure header in:\n%s", strings.Join(got, "\n"))
	}
	if !strings.Contains(buf.String(), "[j/bad] debug: dbg") {
		t.Error("verbose view does not show the debug line")
	}
}

func TestTTYWidth(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, func() int { return 20 }, false, withClock(func() time.Time { return t0 }), withTicker(nil))
	tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "a-very-long-job-name"})
	tv.Emit(Event{Kind: StepStarted, Job: "a-very-long-job-name", Step: "step"})
	tv.tick()
	want := []string{"⠙ a-very-long-job-…"}
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestTTYManyJobs(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, nil, false, withClock(func() time.Time { return t0 }), withTicker(nil))
	for i := range 25 {
		job := "job" + strconv.Itoa(i)
		tv.Emit(Event{Time: t0, Kind: JobStarted, Job: job})
		if i < 10 {
			tv.Emit(Event{Kind: JobFinished, Job: job, Result: Success})
		}
	}
	tv.tick()
	got := screen(t, buf.String())
	if len(got) != maxBlockLines {
		t.Fatalf("block has %d lines, want %d:\n%s", len(got), maxBlockLines, strings.Join(got, "\n"))
	}
	if diff := cmp.Diff([]string{"⠙ job10  starting  0ms", "  … 6 more jobs"}, []string{got[0], got[len(got)-1]}); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// TestTTYStopsClock drives the real redraw goroutine with a fake ticker and
// checks that RunFinished stops both.
func TestTTYStopsClock(t *testing.T) {
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	var buf syncBuffer
	tv := newTTY(&buf, nil, false, withClock(func() time.Time { return t0 }),
		withTicker(func() (<-chan time.Time, func()) { return ticks, func() { close(stopped) } }))
	tv.Emit(Event{Kind: JobStarted, Job: "j"})
	ticks <- t0 // received by the goroutine: it is running
	ticks <- t0 // the first tick has been drawn once this one is taken
	if !strings.Contains(buf.String(), "j  starting") {
		t.Errorf("tick did not draw the job line: %q", buf.String())
	}
	tv.Emit(Event{Kind: RunFinished, Summary: &RunSummary{Result: Success}})
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("ticker not stopped after RunFinished")
	}
	select {
	case <-tv.done:
	case <-time.After(10 * time.Second):
		t.Fatal("redraw goroutine still running after RunFinished")
	}
	// A straggler is printed plainly.
	tv.Emit(Event{Kind: Notice, Job: "j", Text: "late"})
	if !strings.HasSuffix(buf.String(), "[j] sluice: late\n") {
		t.Errorf("straggler not printed plainly: %q", buf.String())
	}
}

func TestTTYSkipsUnchangedBlock(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, nil, false, withClock(func() time.Time { return t0 }), withTicker(nil))
	tv.Emit(Event{Kind: JobStarted, Job: "j"})
	tv.tick()
	running := buf.Len()
	tv.tick()
	if buf.Len() == running {
		t.Fatal("a running job's spinner was not advanced")
	}
	tv.Emit(Event{Kind: JobFinished, Job: "j", Result: Success})
	tv.tick()
	done := buf.Len()
	tv.tick()
	tv.tick()
	if buf.Len() != done {
		t.Errorf("an unchanged block was redrawn: %q", buf.String()[done:])
	}
}

// The view never erases the screen below the cursor: tmux (scroll-on-clear)
// saves a screen erased from its top-left corner to the scrollback, which
// filled it with spinner frames.
func TestTTYNeverErasesBelow(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, func() int { return 80 }, false, withClock(func() time.Time { return t0 }), withTicker(nil))
	for _, e := range script() {
		tv.Emit(e)
		tv.tick()
	}
	if strings.Contains(buf.String(), "\x1b[J") || strings.Contains(buf.String(), "\x1b[0J") {
		t.Error("the view erases below the cursor (ED), which tmux scrolls into its history")
	}
}

// Jobs waiting for others are listed before they start; a matrix's waiting
// line gives way to its legs; a job that never starts is not in the final
// lines.
func TestTTYWaitingJobs(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, func() int { return 80 }, false, withClock(func() time.Time { return t0 }), withTicker(nil))
	tv.Emit(Event{Kind: JobWaiting, Job: "test", Text: "lint"})
	tv.Emit(Event{Kind: JobWaiting, Job: "deploy", Text: "lint, test"})
	tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "lint"})
	tv.tick()
	want := []string{
		"· test    waiting for lint",
		"· deploy  waiting for lint, test",
		"⠙ lint    starting  0ms",
	}
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("waiting jobs (-want +got):\n%s", diff)
	}
	tv.Emit(Event{Kind: JobFinished, Job: "lint", Result: Success, Duration: time.Second})
	tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "test (3.11)"})
	tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "test (3.12)"})
	tv.tick()
	want = []string{
		"· deploy       waiting for lint, test",
		"✓ lint         success  1.0s",
		"⠹ test (3.11)  starting  0ms",
		"⠹ test (3.12)  starting  0ms",
	}
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("matrix legs replace their waiting line (-want +got):\n%s", diff)
	}
	tv.Emit(Event{Kind: JobFinished, Job: "test (3.11)", Result: Failure})
	tv.Emit(Event{Kind: JobFinished, Job: "test (3.12)", Result: Success})
	tv.Emit(Event{Kind: RunFinished})
	got := screen(t, buf.String())
	if strings.Contains(strings.Join(got, "\n"), "waiting") {
		t.Errorf("a job that never started is in the final lines:\n%s", strings.Join(got, "\n"))
	}
}

// A small pane: the block never takes more rows than the pane has less one,
// so moving up to its first line never stops at the top of the screen; and
// when the pane shrinks, the rows the taller block used are blanked.
func TestTTYHeight(t *testing.T) {
	var buf bytes.Buffer
	rows := 12
	tv := newTTY(&buf, func() int { return 80 }, false, withClock(func() time.Time { return t0 }), withTicker(nil),
		withHeight(func() int { return rows }))
	for i := range 15 {
		tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "job" + strconv.Itoa(i)})
	}
	tv.tick()
	if got := screen(t, buf.String()); len(got) != 11 || got[10] != "  … 5 more jobs" {
		t.Fatalf("block in a 12-row pane:\n%s", strings.Join(got, "\n"))
	}
	rows = 5
	tv.tick()
	got := screen(t, buf.String())
	if len(got) != 4 || got[3] != "  … 12 more jobs" {
		t.Errorf("block after the pane shrank to 5 rows:\n%s", strings.Join(got, "\n"))
	}
}

// --follow-output: a followed job's lines stream above the block, others'
// do not.
func TestTTYFollowOutput(t *testing.T) {
	var buf bytes.Buffer
	tv := newTTY(&buf, func() int { return 80 }, false, withClock(func() time.Time { return t0 }), withTicker(nil),
		withFollow("test"))
	tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "lint"})
	tv.Emit(Event{Time: t0, Kind: JobStarted, Job: "test (3.12)"})
	tv.Emit(Event{Kind: StepStarted, Job: "test (3.12)", Step: "pytest"})
	tv.Emit(Event{Kind: Line, Job: "test (3.12)", Step: "pytest", Text: "collected 3 items"})
	tv.Emit(Event{Kind: Line, Job: "lint", Step: "ruff", Text: "All checks passed!"})
	tv.Emit(Event{Kind: Line, Job: "test (3.12)", Step: "pytest", Text: "3 passed"})
	tv.tick()
	want := []string{
		"[test (3.12)] step started: pytest",
		"[test (3.12)/pytest] collected 3 items",
		"[test (3.12)/pytest] 3 passed",
		"⠙ lint         starting  0ms",
		"⠙ test (3.12)  pytest  0ms",
	}
	if diff := cmp.Diff(want, screen(t, buf.String())); diff != "" {
		t.Errorf("followed output (-want +got):\n%s", diff)
	}
}
