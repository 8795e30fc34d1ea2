package logs

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

const (
	// redrawEvery bounds how often the job block is repainted.
	redrawEvery = 100 * time.Millisecond
	// tailLines is how much of a failing step's output is shown.
	tailLines = 30
	// maxBlockLines keeps the job block shorter than a small terminal: a
	// block taller than the screen cannot be redrawn in place.
	maxBlockLines = 20
	// maxFollowed bounds the followed output kept between two redraws; a
	// job printing faster than that loses lines from the live view only
	// (its log file has them all).
	maxFollowed = 2000
)

// spinnerFrames are the running-job symbols, one per tick.
const spinnerFrames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

// ttySink is the live terminal view: a block with one line per job (running,
// done, or waiting for the jobs it needs), redrawn in place, with notices,
// annotations, the output of failed steps and, when followed, every line of
// a job's output printed above it.
//
// The block is redrawn by moving the cursor up to its first line and
// overwriting each line, erasing what is left of it ("\x1b[K"), never by
// erasing the screen below: tmux (scroll-on-clear) and some terminals save
// a screen cleared from its top-left corner to the scrollback, which left
// every spinner frame there.
type ttySink struct {
	w       io.Writer
	width   func() int
	height  func() int // rows; nil or <= 0: unknown
	verbose bool
	follow  string // "" none, "*" every job, else one job's name
	now     func() time.Time
	// ticker starts the redraw clock; nil means the owner calls tick itself
	// (tests), so no goroutine is started.
	ticker func() (<-chan time.Time, func())

	mu       sync.Mutex
	jobs     []*ttyJob
	byName   map[string]*ttyJob
	drawn    int    // rows of the job block now on screen, above the cursor
	shown    string // the block as last drawn, to skip redrawing an unchanged one
	followed []string
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
	waiting    string // what a job that has not started waits for; "" once it started
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

// withHeight tells the view the terminal's rows.
func withHeight(rows func() int) ttyOption { return func(t *ttySink) { t.height = rows } }

// withFollow prints the output of job ("*": every job) above the block.
func withFollow(job string) ttyOption { return func(t *ttySink) { t.follow = job } }

// TTYConfig describes the terminal a live view draws on.
type TTYConfig struct {
	// Width and Height report the terminal's columns and rows (0 or less:
	// unknown); job lines are cut to the width and the block to the height
	// so that redrawing in place works.
	Width, Height func() int
	// Verbose shows ::debug:: lines.
	Verbose bool
	// Follow streams a job's output lines above the live view: a job's
	// name, "*" for every job, "" for none.
	Follow string
}

// NewTTY returns a Sink for an interactive terminal. width reports the
// terminal's columns (0 or less: unknown); job lines are cut to fit so that
// redrawing in place works. Debug lines are shown only when verbose.
func NewTTY(w io.Writer, width func() int, verbose bool) Sink {
	return newTTY(w, width, verbose)
}

// NewTTYWith is NewTTY with the terminal's height and a job to follow.
func NewTTYWith(w io.Writer, c TTYConfig) Sink {
	return newTTY(w, c.Width, c.Verbose, withHeight(c.Height), withFollow(c.Follow))
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
	if e.Kind == JobWaiting {
		if e.Job != "" && t.byName[e.Job] == nil {
			j := &ttyJob{name: e.Job, waiting: e.Text}
			t.byName[e.Job] = j
			t.jobs = append(t.jobs, j)
		}
		return // drawn at the next tick
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
		if t.following(e.Job) {
			t.followLine(prefix(e.Job, "") + "step started: " + e.Step)
		}
	case Line:
		j.addTail(e.Text)
		if t.following(e.Job) {
			t.followLine(prefix(e.Job, e.Step) + e.Text)
		}
	case GroupStart:
		j.addTail("> " + e.Text)
		if t.following(e.Job) {
			t.followLine(prefix(e.Job, e.Step) + "> " + e.Text)
		}
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

// following reports whether job's output is streamed.
func (t *ttySink) following(job string) bool {
	return t.follow == "*" || (t.follow != "" && (job == t.follow || strings.HasPrefix(job, t.follow+" (")))
}

// followLine queues a followed output line for the next redraw, so a chatty
// job costs one repaint per tick rather than one per line.
func (t *ttySink) followLine(s string) {
	if len(t.followed) >= maxFollowed {
		t.followed = append(t.followed[:0:0], t.followed[len(t.followed)-maxFollowed/2:]...)
	}
	t.followed = append(t.followed, s)
}

// job returns the state of e's job, creating it on first sight. A job
// listed as waiting (its matrix not yet expanded) stops waiting when it, or
// one of its legs, starts.
func (t *ttySink) job(e Event) *ttyJob {
	if e.Job == "" {
		return &ttyJob{} // run-level events touch no job line
	}
	j := t.byName[e.Job]
	if j != nil && j.waiting != "" {
		// It starts: it moves from the waiting jobs to the end of the
		// others, as if first seen now.
		j.waiting = ""
		j.start = e.Time
		if j.start.IsZero() {
			j.start = t.now()
		}
		t.drop(j)
		t.byName[e.Job] = j
		t.jobs = append(t.jobs, j)
	}
	if j == nil {
		if base, _, ok := strings.Cut(e.Job, " ("); ok {
			if w := t.byName[base]; w != nil && w.waiting != "" {
				t.drop(w)
			}
		}
		j = &ttyJob{name: e.Job, start: e.Time}
		if j.start.IsZero() {
			j.start = t.now()
		}
		t.byName[e.Job] = j
		t.jobs = append(t.jobs, j)
	}
	return j
}

// drop forgets a waiting placeholder replaced by the legs of its matrix.
func (t *ttySink) drop(w *ttyJob) {
	delete(t.byName, w.name)
	for i, j := range t.jobs {
		if j == w {
			t.jobs = append(t.jobs[:i], t.jobs[i+1:]...)
			return
		}
	}
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
	if len(t.followed) == 0 && strings.Join(t.block(), "\n") == t.shown {
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
	var final []string
	for _, j := range t.jobs {
		if j.waiting == "" {
			final = append(final, t.jobLine(j))
		}
	}
	t.paint2(t.takeFollowed(), final)
	t.drawn = 0 // the final lines stay
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
	t.redraw(text)
}

// takeFollowed returns and forgets the queued followed lines.
func (t *ttySink) takeFollowed() []string {
	out := t.followed
	t.followed = nil
	return out
}

// redraw writes the queued followed lines and above (if any) where the block
// was and paints the block again under them.
func (t *ttySink) redraw(above string) {
	lines := t.takeFollowed()
	if above != "" {
		lines = append(lines, strings.Split(above, "\n")...)
	}
	block := t.block()
	t.paint2(lines, block)
	t.shown = strings.Join(block, "\n")
}

// paint2 moves to the block's first row, writes above and block one line
// each over what was there (erasing each line's rest), erases the rows of
// the old block left below, and leaves the cursor under the new block, in
// one write so the terminal never shows a half-drawn frame.
func (t *ttySink) paint2(above, block []string) {
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", t.drawn)
	}
	rows := 0
	for _, l := range above {
		b.WriteString(l + "\x1b[K\n")
		rows += t.rowsOf(l)
	}
	for _, l := range block {
		b.WriteString(l + "\x1b[K\n")
		rows++ // job lines are cut to the width: one row each
	}
	if left := t.drawn - rows; left > 0 {
		// The old block was taller: blank its remaining rows, then come
		// back to the row under the new block.
		for i := range left {
			if i > 0 {
				b.WriteString("\x1b[1B")
			}
			b.WriteString("\x1b[2K")
		}
		if left > 1 {
			fmt.Fprintf(&b, "\x1b[%dA", left-1)
		}
		b.WriteString("\r")
	}
	t.drawn = len(block)
	t.write(b.String())
}

var ansiCodes = lazyre.New(`\x1b\[[0-9;?]*[A-Za-z]`)

// rowsOf is how many terminal rows line takes, wrapped at the width.
func (t *ttySink) rowsOf(line string) int {
	w := 0
	if t.width != nil {
		w = t.width()
	}
	if w <= 0 {
		return 1
	}
	n := utf8.RuneCountInString(ansiCodes.ReplaceAllString(line, ""))
	if n <= w {
		return 1
	}
	return (n + w - 1) / w
}

// maxRows is how many lines the block may take: fewer than the terminal's
// rows, so that moving up to its first line never hits the top.
func (t *ttySink) maxRows() int {
	n := maxBlockLines
	if t.height != nil {
		if h := t.height(); h > 1 && h-1 < n {
			n = h - 1
		}
	}
	return max(n, 1)
}

// block is the job block's lines: every job, or when there are too many,
// the running ones first, then the finished, then the waiting, and a count
// of the rest.
func (t *ttySink) block() []string {
	jobs := t.jobs
	more := 0
	limit := t.maxRows()
	if len(jobs) > limit {
		var running, done, waiting []*ttyJob
		for _, j := range jobs {
			switch {
			case j.waiting != "":
				waiting = append(waiting, j)
			case j.result == "":
				running = append(running, j)
			default:
				done = append(done, j)
			}
		}
		jobs = append(append(running, done...), waiting...)[:max(limit-1, 0)]
		more = len(t.jobs) - len(jobs)
	}
	lines := make([]string, 0, len(jobs)+1)
	for _, j := range jobs {
		lines = append(lines, t.jobLine(j))
	}
	if more > 0 {
		lines = append(lines, t.fit(fmt.Sprintf("  … %d more jobs", more)))
	}
	return lines
}

// jobLine is "SYMBOL NAME  STEP  ELAPSED", cut to the terminal width.
func (t *ttySink) jobLine(j *ttyJob) string {
	var sym, style, state, took string
	switch {
	case j.waiting != "":
		sym, style = "·", ansiGrey
		state = "waiting for " + j.waiting
	case j.result == "":
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
	rest := pad(j.name, nameW) + "  " + state
	if took != "" {
		rest += "  " + took
	}
	return t.paint(style, sym) + " " + t.fit(rest)
}

// fit cuts s to the terminal width, less the symbol column and the last
// column (writing into it makes some terminals wrap, which would break
// moving up by line count).
func (t *ttySink) fit(s string) string {
	if t.width != nil {
		if w := t.width(); w > 2 {
			return truncateRunes(s, w-3)
		}
	}
	return s
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
