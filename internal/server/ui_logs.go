package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/store"
)

const (
	// uiLogPage is the default (and, while a job runs, the largest) number
	// of lines one logs.json answer or one SSE event holds.
	uiLogPage = 5000
	// uiLogPageDone is the largest page of a completed job's log: its lines
	// no longer change, so the browser loads them in a few large answers.
	uiLogPageDone = 25000
	// uiLogContext is how many lines around a focus line logs.json?around=
	// returns by default, and at most.
	uiLogContext, uiLogContextMax = 200, 2000
	// uiKeepalive is how often an idle SSE stream sends a comment, so proxies
	// and browsers keep it open.
	uiKeepalive = 15 * time.Second
	// uiErrorScanPage is how many lines of a failed step the error finder
	// reads at a time.
	uiErrorScanPage = 5000
	// uiErrorCacheMax bounds the first-error cache (completed jobs only).
	uiErrorCacheMax = 4096
)

// uiLogLine is one log line as the browser gets it: short keys, as a
// 100,000-line log is sent whole.
type uiLogLine struct {
	Seq  int64  `json:"s"`
	Time int64  `json:"t"` // Unix milliseconds
	Step int    `json:"p,omitempty"`
	Kind string `json:"k,omitempty"`
	Text string `json:"x"`
}

func uiLogLines(lines []store.LogLine) []uiLogLine {
	out := make([]uiLogLine, len(lines))
	for i, l := range lines {
		out[i] = uiLogLine{Seq: l.Seq, Time: l.Time.UnixMilli(), Step: l.Step, Kind: l.Kind, Text: l.Text}
	}
	return out
}

// uiLogsPage is the answer of GET /ui/jobs/{id}/logs.json?after=SEQ, or of
// ?around=error|SEQ (a window of lines around Focus).
type uiLogsPage struct {
	Lines []uiLogLine `json:"lines"`
	Last  int64       `json:"last"` // seq of the last line returned (or after, when none)
	More  bool        `json:"more"` // a full page: ask again from Last
	Done  bool        `json:"done"` // the job completed: no line will follow the ones stored
	// Focus is the line ?around= asked for (its first error when
	// around=error; 0 when the job has none), Total the job's last seq.
	Focus int64 `json:"focus,omitempty"`
	Total int64 `json:"total,omitempty"`
}

func (ui *uiApp) pathJob(w http.ResponseWriter, r *http.Request) (*store.Job, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad job id", http.StatusNotFound)
		return nil, false
	}
	j, err := ui.s.cfg.DB.GetJob(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, fmt.Sprintf("job %d not found", id), http.StatusNotFound)
		return nil, false
	}
	if err != nil {
		ui.fail(w, r, err)
		return nil, false
	}
	return j, true
}

func (ui *uiApp) logsJSON(w http.ResponseWriter, r *http.Request, _ *uiSession) {
	j, ok := ui.pathJob(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	// Status first: lines stored before the job completed are all there once it has.
	done := j.Status == store.StatusCompleted
	if around := q.Get("around"); around != "" {
		ui.logsAround(w, r, j, around, done)
		return
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	maxPage := uiLogPage
	if done {
		maxPage = uiLogPageDone
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > maxPage {
		limit = maxPage
	}
	lines, err := ui.s.cfg.DB.Logs(r.Context(), j.ID, after, limit)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	p := uiLogsPage{Lines: uiLogLines(lines), Last: after, More: len(lines) == limit}
	if n := len(lines); n > 0 {
		p.Last = lines[n-1].Seq
	}
	p.Done = done && !p.More
	uiWriteJSON(w, p)
}

// logsAround answers ?around=error (the job's first error line) or
// ?around=SEQ with the lines around it, so a page can show the line that
// matters before the rest of a long log has loaded.
func (ui *uiApp) logsAround(w http.ResponseWriter, r *http.Request, j *store.Job, around string, done bool) {
	ctx := r.Context()
	var focus int64
	if around == "error" {
		var err error
		if focus, err = ui.firstError(ctx, j); err != nil {
			ui.fail(w, r, err)
			return
		}
	} else {
		n, err := strconv.ParseInt(around, 10, 64)
		if err != nil || n < 1 {
			http.Error(w, "around: want error or a line number", http.StatusBadRequest)
			return
		}
		focus = n
	}
	total, err := ui.s.cfg.DB.LastLogSeq(ctx, j.ID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	p := uiLogsPage{Lines: []uiLogLine{}, Focus: focus, Total: total, Done: done}
	if focus == 0 || focus > total {
		p.Focus = 0
		uiWriteJSON(w, p)
		return
	}
	n, _ := strconv.ParseInt(r.URL.Query().Get("context"), 10, 64)
	if n <= 0 || n > uiLogContextMax {
		n = uiLogContext
	}
	lines, err := ui.s.cfg.DB.LogWindow(ctx, j.ID, max(1, focus-n), focus+n)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	p.Lines = uiLogLines(lines)
	if len(lines) > 0 {
		p.Last = lines[len(lines)-1].Seq
	}
	uiWriteJSON(w, p)
}

// uiErrorLine matches lines that say what went wrong, in the forms the
// tools of a Python pipeline print them: pytest's "E   " details and
// FAILED/ERROR summary lines, tracebacks, "file:line: error:" (mypy, gcc),
// ruff/flake8 codes, and plain "Error:"/"error:" prefixes.
var uiErrorLine = lazyre.New(`^(E {2,}\S|\s*Traceback \(most recent call last\)|(FAILED|ERROR)[ :]|` +
	`(Error|error|ERROR|fatal|FATAL)(\[[\w.-]+\])?: |\S+:\d+(:\d+)?: (error|[A-Z]{1,3}\d{2,4})\b|[\w.]*(Error|Exception): )`)

var uiANSI = lazyre.New(`\x1b\[[0-9;?]*[A-Za-z]`)

// uiErrorCache remembers the first error line of completed jobs, whose
// logs no longer change.
type uiErrorCache struct {
	mu sync.Mutex
	m  map[int64]int64
}

func (c *uiErrorCache) get(id int64) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[id]
	return v, ok
}

func (c *uiErrorCache) put(id, seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= uiErrorCacheMax {
		c.m = map[int64]int64{}
	}
	c.m[id] = seq
}

// firstError is the line a failed job's page opens at: its first ::error
// annotation; else, in its first failed step, the first line that reads as
// an error; else that step's last line; else the log's last line. 0 when
// the log is empty.
func (ui *uiApp) firstError(ctx context.Context, j *store.Job) (int64, error) {
	done := j.Status == store.StatusCompleted
	if done {
		if seq, ok := ui.errors.get(j.ID); ok {
			return seq, nil
		}
	}
	seq, err := ui.findFirstError(ctx, j.ID)
	if err == nil && done {
		ui.errors.put(j.ID, seq)
	}
	return seq, err
}

func (ui *uiApp) findFirstError(ctx context.Context, jobID int64) (int64, error) {
	db := ui.s.cfg.DB
	if seq, err := db.FirstLogOfKind(ctx, jobID, 0, "error"); err != nil || seq > 0 {
		return seq, err
	}
	steps, err := db.ListSteps(ctx, jobID)
	if err != nil {
		return 0, err
	}
	for _, st := range steps {
		if st.Conclusion != store.ConclusionFailure {
			continue
		}
		var last int64
		for after := int64(0); ; {
			lines, err := db.StepLogs(ctx, jobID, st.Number, after, uiErrorScanPage)
			if err != nil {
				return 0, err
			}
			for _, l := range lines {
				if l.Kind == "" || l.Kind == "line" {
					text := l.Text
					if strings.Contains(text, "\x1b") {
						text = uiANSI.ReplaceAllString(text, "")
					}
					if uiErrorLine.MatchString(text) {
						return l.Seq, nil
					}
				}
				last = l.Seq
			}
			if len(lines) < uiErrorScanPage {
				break
			}
			after = lines[len(lines)-1].Seq
		}
		if last > 0 {
			return last, nil
		}
		break
	}
	return db.LastLogSeq(ctx, jobID)
}

// logsText is the raw log: one line per stored line, with its time when
// ?timestamps=1, group and annotation lines marked as GitHub marks them.
func (ui *uiApp) logsText(w http.ResponseWriter, r *http.Request, _ *uiSession) {
	j, ok := ui.pathJob(w, r)
	if !ok {
		return
	}
	stamps := r.URL.Query().Get("timestamps") == "1"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"job-%d.log\"", j.ID))
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	for after := int64(0); ; {
		lines, err := ui.s.cfg.DB.Logs(r.Context(), j.ID, after, uiLogPageDone)
		if err != nil {
			ui.s.cfg.Log.Warn("ui: raw log cut short", "job", j.ID, "err", err)
			return
		}
		for _, l := range lines {
			if stamps {
				bw.WriteString(l.Time.UTC().Format("2006-01-02T15:04:05.000Z") + " ")
			}
			switch l.Kind {
			case "group":
				bw.WriteString("##[group]")
			case "endgroup":
				bw.WriteString("##[endgroup]")
			case "error", "warning", "notice", "debug", "command":
				bw.WriteString("##[" + l.Kind + "]")
			}
			bw.WriteString(l.Text)
			bw.WriteByte('\n')
		}
		if len(lines) < uiLogPageDone {
			return
		}
		after = lines[len(lines)-1].Seq
	}
}

// logStream follows a job's log over SSE from ?after=SEQ (or Last-Event-ID on
// reconnect): event "lines" carries a JSON array of uiLogLine with the
// last seq as the event id; event "end" says the job completed and every line
// was sent.
func (ui *uiApp) logStream(w http.ResponseWriter, r *http.Request, _ *uiSession) {
	j, ok := ui.pathJob(w, r)
	if !ok {
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil && id > after {
		after = id
	}
	sse, ok := uiStartSSE(w)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	keepalive := time.NewTicker(uiKeepalive)
	defer keepalive.Stop()
	db := ui.s.cfg.DB
	for {
		changed, stop := db.Watch(store.TopicJob(j.ID))
		job, err := db.GetJob(r.Context(), j.ID)
		if err != nil {
			stop()
			return
		}
		done := job.Status == store.StatusCompleted
		lines, err := db.Logs(r.Context(), j.ID, after, uiLogPage)
		if err != nil {
			stop()
			ui.s.cfg.Log.Warn("ui: reading logs", "job", j.ID, "err", err)
			return
		}
		if len(lines) > 0 {
			after = lines[len(lines)-1].Seq
			b, _ := json.Marshal(uiLogLines(lines))
			if sse.send("lines", strconv.FormatInt(after, 10), b) != nil {
				stop()
				return
			}
			stop()
			continue // there may be more right away
		}
		if done {
			stop()
			sse.send("end", strconv.FormatInt(after, 10), []byte("{}"))
			return
		}
		waited := uiWait(r, changed, keepalive, sse)
		stop()
		if !waited {
			return
		}
	}
}

type uiSSE struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func uiStartSSE(w http.ResponseWriter) (*uiSSE, bool) {
	rc := http.NewResponseController(w)
	// A server-wide write timeout must not cut a stream that is meant to last.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, false
	}
	return &uiSSE{w: w, rc: rc}, true
}

// send writes one event; data must be a single line (JSON is).
func (s *uiSSE) send(event, id string, data []byte) error {
	msg := "event: " + event + "\n"
	if id != "" {
		msg += "id: " + id + "\n"
	}
	if _, err := fmt.Fprintf(s.w, "%sdata: %s\n\n", msg, data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// uiWait blocks until changed fires (true) or the client goes away (false),
// sending keepalive comments meanwhile.
func uiWait(r *http.Request, changed <-chan struct{}, keepalive *time.Ticker, sse *uiSSE) bool {
	for {
		select {
		case <-changed:
			return true
		case <-r.Context().Done():
			return false
		case <-keepalive.C:
			if _, err := fmt.Fprint(sse.w, ": keepalive\n\n"); err != nil {
				return false
			}
			if sse.rc.Flush() != nil {
				return false
			}
		}
	}
}
