package logs

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	// redrawEvery bounds how often the job block is repainted.
	redrawEvery = 100 * time.Millisecond
	// tailLines is how much of a failing step's output is shown.
	tailLines = 30
	// maxBlockLines keeps the job block shorter than a small terminal: a
	// block taller than the screen cannot be redrawn in place.
	maxBlockLines = 20
)

// spinnerFrames are the running-job symbols, one per tick.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// ttySink is the live terminal view: a block with one line per job, redrawn
// in place, with notices, annotations and the output of failed steps printed
// above it.
type ttySink struct {
	w       io.Writer
	width   func() int
	verbose bool
	now     func() time.Time
	// ticker starts the redraw clock; nil means the owner calls tick itself
	// (tests), so no goroutine is started.
	ticker func() (<-chan time.Time, func())

	mu       sync.Mutex
	jobs     []*ttyJob
	byName   map[string]*ttyJob
	drawn    int    // lines of the job block now on screen, above the cursor
	shown    string // the block as last drawn, to skip redrawing an unchanged one
	frame    int
	running  bool // the redraw goroutine was started
	finished bool
	stop     chan struct{}
	done     chan struct{}
}

type ttyJob struct {
	name       string
	step       string
	start      time.Time
	result     Result // empty while running
	duration   time.Duration
	tail       []string // last lines of the current step
	failedStep string
	failedTail []string
}

type ttyOption func(*ttySink)

// withClock makes the view read time from now instead of the wall clock.
func withClock(now func() time.Time) ttyOption { return func(t *ttySink) { t.now = now } }

// withTicker replaces the redraw clock; nil means no clock at all.
func withTicker(ticker func() (<-chan time.Time, func())) ttyOption {
	return func(t *ttySink) { t.ticker = ticker }
}

// NewTTY returns a Sink for an interactive terminal. width reports the
// terminal's columns (0 or less: unknown); job lines are cut to fit so that
// redrawing in place works. Debug lines are shown only when verbose.
func NewTTY(w io.Writer, width func() int, verbose bool) Sink {
	return newTTY(w, width, verbose)
}

func newTTY(w io.Writer, width func() int, verbose bool, opts ...ttyOption) *ttySink {
	t := &ttySink{
		w:       w,
		width:   width,
		verbose: verbose,
		now:     time.Now,
		ticker: func() (<-chan time.Time, func()) {
			tk := time.NewTicker(redrawEvery)
			return tk.C, tk.Stop
		},
		byName: map[string]*ttyJob{},
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

func (t *ttySink) Emit(e Event) {
	if e.Kind == RunFinished {
		t.finish(e)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		// Stragglers after the summary: print them plainly, never redraw.
		if line, ok := plainLine(e, t.verbose); ok {
			t.write(line + "\n")
		}
		return
	}
	t.startClock()
	j := t.job(e)
	switch e.Kind {
	case JobStarted:
		if !e.Time.IsZero() {
			j.start = e.Time
		}
	case StepStarted:
		j.step, j.tail = e.Step, nil
	case Line:
		j.addTail(e.Text)
	case GroupStart:
		j.addTail("> " + e.Text)
	case Debug:
		if t.verbose {
			j.addTail("debug: " + e.Text)
			t.printAbove(prefix(e.Job, e.Step) + "debug: " + e.Text)
		}
	case Notice:
		t.printAbove(prefix(e.Job, e.Step) + "sluice: " + e.Text)
	case AnnotationAdded:
		a := eventAnnotation(e)
		t.printAbove(prefix(e.Job, e.Step) + t.paint(levelColor(a.Level), a.Level) +
			strings.TrimPrefix(annotationLine(a), a.Level))
	case StepFinished:
		if e.Result == Failure && !e.ContinueOnError {
			j.failedStep = e.Step
			j.failedTail = j.tail
		}
	case JobFinished:
		j.result, j.duration = e.Result, e.Duration
		if e.Result == Failure {
			t.printFailure(j, e.Text)
		}
	}
}

// job returns the state of e's job, creating it on first sight.
func (t *ttySink) job(e Event) *ttyJob {
	if e.Job == "" {
		return &ttyJob{} // run-level events touch no job line
	}
	j := t.byName[e.Job]
	if j == nil {
		j = &ttyJob{name: e.Job, start: e.Time}
		if j.start.IsZero() {
			j.start = t.now()
		}
		t.byName[e.Job] = j
		t.jobs = append(t.jobs, j)
	}
	return j
}

func (j *ttyJob) addTail(line string) {
	j.tail = append(j.tail, line)
	if len(j.tail) > tailLines {
		// Copy rather than reslice so the backing array stays bounded.
		j.tail = append([]string(nil), j.tail[len(j.tail)-tailLines:]...)
	}
}

// startClock starts the redraw goroutine on the first event, so a sink that
// is never used costs nothing. Called with mu held.
func (t *ttySink) startClock() {
	if t.running || t.ticker == nil {
		return
	}
	t.running = true
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	ticks, stopTicks := t.ticker()
	go func(stop <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		defer stopTicks()
		for {
			select {
			case <-stop:
				return
			case <-ticks:
				t.tick()
			}
		}
	}(t.stop, t.done)
}

// tick advances the spinner and repaints the job block.
func (t *ttySink) tick() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished {
		return
	}
	t.frame++
	if strings.Join(t.block(), "\n") == t.shown {
		return // e.g. every job finished and others not started yet
	}
	t.redraw("")
}

// finish stops the clock, then prints the final job lines and the summary.
func (t *ttySink) finish(e Event) {
	t.mu.Lock()
	if t.finished {
		t.mu.Unlock()
		return
	}
	t.finished = true
	stop, done := t.stop, t.done
	t.mu.Unlock()
	// Wait outside the lock: the goroutine may be inside tick, which needs it.
	if stop != nil {
		close(stop)
		<-done
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	b.WriteString(t.clearBlock())
	for _, j := range t.jobs {
		b.WriteString(t.jobLine(j) + "\n")
	}
	t.drawn = 0
	t.write(b.String())
	if e.Summary != nil {
		WriteSummary(t.w, *e.Summary, true)
	}
}

// printFailure shows the tail of the step that failed job j.
func (t *ttySink) printFailure(j *ttyJob, reason string) {
	step, tail := j.failedStep, j.failedTail
	if step == "" {
		step, tail = j.step, j.tail
	}
	head := fmt.Sprintf("%s %s failed", t.paint(ansiRed, "✗"), j.name)
	if step != "" {
		head += " at " + step
	}
	if reason != "" {
		head += " - " + reason
	}
	lines := []string{head}
	if len(tail) > 0 {
		unit := "lines"
		if len(tail) == 1 {
			unit = "line"
		}
		lines[0] += fmt.Sprintf(" (last %d %s):", len(tail), unit)
		for _, l := range tail {
			lines = append(lines, t.paint(ansiGrey, "  │ ")+l)
		}
	}
	t.printAbove(strings.Join(lines, "\n"))
}

// printAbove writes text above the job block and repaints the block under it.
func (t *ttySink) printAbove(text string) {
	t.redraw(text + "\n")
}

// redraw clears the block, writes above (if any) and paints the block again,
// in one write so the terminal never shows a half-drawn frame.
func (t *ttySink) redraw(above string) {
	var b strings.Builder
	b.WriteString(t.clearBlock())
	b.WriteString(above)
	block := t.block()
	for _, l := range block {
		b.WriteString(l + "\n")
	}
	t.drawn = len(block)
	t.shown = strings.Join(block, "\n")
	t.write(b.String())
}

// block is the job block's lines: every job, or when there are too many,
// the running ones first and a count of the rest.
func (t *ttySink) block() []string {
	jobs := t.jobs
	more := 0
	if len(jobs) > maxBlockLines {
		var running, done []*ttyJob
		for _, j := range jobs {
			if j.result == "" {
				running = append(running, j)
			} else {
				done = append(done, j)
			}
		}
		jobs = append(running, done...)[:maxBlockLines-1]
		more = len(t.jobs) - len(jobs)
	}
	lines := make([]string, 0, len(jobs)+1)
	for _, j := range jobs {
		lines = append(lines, t.jobLine(j))
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf("  … %d more jobs", more))
	}
	return lines
}

// clearBlock returns the escapes that move to the block's first line and
// erase it and everything below.
func (t *ttySink) clearBlock() string {
	if t.drawn == 0 {
		return ""
	}
	return fmt.Sprintf("\r\x1b[%dA\x1b[J", t.drawn)
}

// jobLine is "SYMBOL NAME  STEP  ELAPSED", cut to the terminal width.
func (t *ttySink) jobLine(j *ttyJob) string {
	var sym, style, state, took string
	switch j.result {
	case "":
		frames := []rune(spinnerFrames)
		sym = string(frames[t.frame%len(frames)])
		style = ansiBold
		state = j.step
		if state == "" {
			state = "starting"
		}
		took = FormatDuration(t.now().Sub(j.start))
	default:
		style = resultColor(j.result)
		sym = resultSymbol(j.result)
		state = string(j.result)
		if j.result == Failure && j.failedStep != "" {
			state += " at " + j.failedStep
		}
		took = FormatDuration(j.duration)
	}
	nameW := 0
	for _, o := range t.jobs {
		nameW = max(nameW, utf8.RuneCountInString(o.name))
	}
	rest := pad(j.name, nameW) + "  " + state + "  " + took
	if t.width != nil {
		if w := t.width(); w > 2 {
			// Leave the last column free: writing into it makes some
			// terminals wrap, which would break moving up by line count.
			rest = truncateRunes(rest, w-3)
		}
	}
	return t.paint(style, sym) + " " + rest
}

func (t *ttySink) paint(style, text string) string {
	if style == "" {
		return text
	}
	return style + text + ansiReset
}

func (t *ttySink) write(s string) {
	if s != "" {
		_, _ = io.WriteString(t.w, s)
	}
}

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func resultSymbol(r Result) string {
	switch r {
	case Success:
		return "✓"
	case Failure:
		return "✗"
	case Cancelled:
		return "⊘"
	case Skipped:
		return "-"
	}
	return "?"
}
