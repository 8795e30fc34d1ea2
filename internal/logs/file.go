package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// timestampLayout is RFC 3339 with milliseconds, always in UTC so logs from
// agents in different zones sort and compare.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// FileSink saves each job's full log, and the run's summary, under a
// directory. It is safe for concurrent use.
type FileSink struct {
	dir string
	now func() time.Time // for events that carry no time

	mu    sync.Mutex
	jobs  map[string]*jobFile
	order int
	err   error // the first write error, returned by Close
}

type jobFile struct {
	path string
	f    *os.File // nil once the job finished
	w    *bufio.Writer
}

// NewFileSink creates dir (0700) and returns a sink that writes
// dir/<n>-<job>.log per job, and dir/summary.json and dir/summary.txt when
// the run finishes.
func NewFileSink(dir string) (*FileSink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating log directory %s: %w", dir, err)
	}
	return &FileSink{dir: dir, now: time.Now, jobs: map[string]*jobFile{}}, nil
}

// Path returns where job's log is saved, or "" if nothing was logged for it.
func (s *FileSink) Path(job string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[job]; j != nil {
		return j.path
	}
	return ""
}

// Emit records e in its job's log; RunFinished writes the summaries.
func (s *FileSink) Emit(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Kind == RunFinished {
		if e.Summary != nil {
			s.fail(s.writeSummary(*e.Summary))
		}
		s.fail(s.closeAll())
		return
	}
	text, ok := fileLine(e)
	if !ok || e.Job == "" {
		return
	}
	j, err := s.open(e.Job)
	if err != nil {
		s.fail(err)
		return
	}
	t := e.Time
	if t.IsZero() {
		t = s.now()
	}
	stamp := t.UTC().Format(timestampLayout) + " "
	// A Line may hold several lines; stamp each so the file stays one
	// record per line.
	for _, l := range strings.Split(text, "\n") {
		if _, err := j.w.WriteString(stamp + l + "\n"); err != nil {
			s.fail(fmt.Errorf("writing %s: %w", j.path, err))
			return
		}
	}
	switch e.Kind {
	case StepFinished:
		s.fail(j.flush())
	case JobFinished:
		s.fail(j.close())
	}
}

// Close flushes and closes every open log and returns the first error met
// while writing, if any.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail(s.closeAll())
	return s.err
}

func (s *FileSink) fail(err error) {
	if err != nil && s.err == nil {
		s.err = err
	}
}

// open returns job's log, creating it on first use and reopening it for
// append when events arrive after the job finished.
func (s *FileSink) open(job string) (*jobFile, error) {
	j := s.jobs[job]
	if j != nil && j.f != nil {
		return j, nil
	}
	flags := os.O_WRONLY | os.O_APPEND
	if j == nil {
		s.order++
		j = &jobFile{path: filepath.Join(s.dir, strconv.Itoa(s.order)+"-"+sanitizeName(job)+".log")}
		s.jobs[job] = j
		flags |= os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(j.path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening job log %s: %w", j.path, err)
	}
	j.f, j.w = f, bufio.NewWriter(f)
	return j, nil
}

func (j *jobFile) flush() error {
	if j.w == nil {
		return nil
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", j.path, err)
	}
	return nil
}

func (j *jobFile) close() error {
	if j.f == nil {
		return nil
	}
	err := j.flush()
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing %s: %w", j.path, cerr)
	}
	j.f, j.w = nil, nil
	return err
}

func (s *FileSink) closeAll() error {
	var errs []error
	for _, j := range s.jobs {
		errs = append(errs, j.close())
	}
	return errors.Join(errs...)
}

// writeSummary saves summary.json (with each job's LogFile) and summary.txt.
func (s *FileSink) writeSummary(sum RunSummary) error {
	// Copy the jobs: the same summary goes to the other sinks.
	jobs := make([]JobSummary, len(sum.Jobs))
	copy(jobs, sum.Jobs)
	for i := range jobs {
		if j := s.jobs[jobs[i].Job]; j != nil && jobs[i].LogFile == "" {
			jobs[i].LogFile = j.path
		}
	}
	sum.Jobs = jobs
	if sum.LogDir == "" {
		sum.LogDir = s.dir
	}
	data, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding run summary: %w", err)
	}
	if err := writeFile(filepath.Join(s.dir, "summary.json"), append(data, '\n')); err != nil {
		return err
	}
	var txt bytes.Buffer
	WriteSummary(&txt, sum, false)
	return writeFile(filepath.Join(s.dir, "summary.txt"), txt.Bytes())
}

func writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// fileLine is what a job's log records for e, without timestamp.
func fileLine(e Event) (string, bool) {
	switch e.Kind {
	case JobStarted:
		return "job started: " + e.Job, true
	case StepStarted:
		return "step started: " + e.Step, true
	case Line:
		return e.Text, true
	case GroupStart:
		return "##[group]" + e.Text, true
	case GroupEnd:
		return "##[endgroup]", true
	case Debug:
		return "##[debug]" + e.Text, true
	case Notice:
		return "sluice: " + e.Text, true
	case AnnotationAdded:
		a := eventAnnotation(e)
		text := a.body()
		if loc := a.location(); loc != "" {
			text = loc + ": " + text
		}
		return "##[" + a.Level + "]" + text, true
	case StepFinished:
		return "step finished: " + e.Step + ": " + strings.TrimPrefix(stepFinishedText(e), "step "), true
	case JobFinished:
		return "job finished: " + strings.TrimPrefix(jobFinishedText(e), "job "), true
	}
	return "", false
}

// sanitizeName makes a job's display name safe as a file name: runs of
// anything but letters, digits, '.', '-' and '_' become one '_'.
func sanitizeName(name string) string {
	var b strings.Builder
	under := false
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if ok {
			b.WriteRune(r)
			under = r == '_'
			continue
		}
		if !under {
			b.WriteByte('_')
			under = true
		}
	}
	out := strings.Trim(b.String(), "_.")
	if len(out) > 100 {
		out = out[:100]
	}
	if out == "" {
		return "job"
	}
	return out
}
