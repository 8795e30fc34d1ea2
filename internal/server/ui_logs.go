package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

const (
	// uiLogPage is how many lines one logs.json answer or one SSE event holds.
	uiLogPage = 5000
	// uiKeepalive is how often an idle SSE stream sends a comment, so proxies
	// and browsers keep it open.
	uiKeepalive = 15 * time.Second
)

// uiLogsPage is the answer of GET /ui/jobs/{id}/logs.json?after=SEQ.
type uiLogsPage struct {
	Lines []store.LogLine `json:"lines"`
	Last  int64           `json:"last"` // seq of the last line returned (or after, when none)
	More  bool            `json:"more"` // a full page: ask again from Last
	Done  bool            `json:"done"` // the job completed: no line will follow the ones stored
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
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > uiLogPage {
		limit = uiLogPage
	}
	// Status first: lines stored before the job completed are all there once it has.
	done := j.Status == store.StatusCompleted
	lines, err := ui.s.cfg.DB.Logs(r.Context(), j.ID, after, limit)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	p := uiLogsPage{Lines: lines, Last: after, More: len(lines) == limit}
	if p.Lines == nil {
		p.Lines = []store.LogLine{}
	}
	if n := len(lines); n > 0 {
		p.Last = lines[n-1].Seq
	}
	p.Done = done && !p.More
	uiWriteJSON(w, p)
}

// logStream follows a job's log over SSE from ?after=SEQ (or Last-Event-ID on
// reconnect): event "lines" carries a JSON array of store.LogLine with the
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
			b, _ := json.Marshal(lines)
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
