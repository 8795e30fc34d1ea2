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
// few controls it uses (\r, \n, cursor up, erase below), and returns the
// visible lines. Colors are dropped.
func screen(t *testing.T, out string) []string {
	t.Helper()
	out = regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(out, "")
	var lines []string
	row := 0
	put := func(s string) {
		for len(lines) <= row {
			lines = append(lines, "")
		}
		lines[row] += s
	}
	ctl := regexp.MustCompile(`^\x1b\[([0-9]*)([AJ])`)
	for len(out) > 0 {
		switch {
		case out[0] == '\n':
			put("")
			row++
			out = out[1:]
		case out[0] == '\r':
			out = out[1:]
		case out[0] == '\x1b':
			m := ctl.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("unexpected escape in %q", out[:min(len(out), 10)])
			}
			switch m[2] {
			case "A":
				n, _ := strconv.Atoi(m[1])
				row -= n
				if row < 0 {
					t.Fatalf("cursor moved above the first line")
				}
			case "J":
				lines = lines[:min(row, len(lines))]
			}
			out = out[len(m[0]):]
		default:
			i := strings.IndexAny(out, "\r\n\x1b")
			if i < 0 {
				i = len(out)
			}
			put(out[:i])
			out = out[i:]
		}
	}
	if len(lines) > 0 && lines[len(lines)-1] == "" && row == len(lines)-1 {
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
