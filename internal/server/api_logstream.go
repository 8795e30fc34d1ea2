package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// sseKeepalive is how often an idle stream sends a comment, so that proxies
// and browsers keep the connection open.
const sseKeepalive = 15 * time.Second

// sseBatch is how many lines one read of the store sends at most.
const sseBatch = 1000

// apiJobLogStream streams a job's log as server-sent events: "id: <seq>" and
// "data: <store.LogLine JSON>" per line, resuming after Last-Event-ID (or
// ?after=), and "event: end" once the job is completed and every line is
// sent. While the job runs only the contiguous prefix of lines is sent, so a
// line that arrives late (out of order) is never skipped.
func (s *Server) apiJobLogStream(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	last, ok := apiQueryInt(w, r, "after", 0, 0)
	if !ok {
		return
	}
	if v := strings.TrimSpace(r.Header.Get("Last-Event-ID")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid Last-Event-ID %q", v))
			return
		}
		last = n
	}
	if _, err := s.cfg.DB.GetJob(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("job %d", id))
		return
	}
	fl, canFlush := w.(http.Flusher)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flush := func() {
		if canFlush {
			fl.Flush()
		} else {
			rc.Flush()
		}
	}
	flush()

	ctx := r.Context()
	keep := time.NewTicker(sseKeepalive)
	defer keep.Stop()
	var buf []byte
	for {
		// Watch before reading, so that a change between the read and
		// the wait still wakes us.
		ch, stop := s.cfg.DB.Watch(store.TopicJob(id))
		job, err := s.cfg.DB.GetJob(ctx, id)
		if err != nil {
			stop()
			fmt.Fprintf(w, "event: error\ndata: %s\n\n", mustJSON(map[string]string{"error": "job gone"}))
			flush()
			return
		}
		done := job.Status == store.StatusCompleted
		lines, err := s.cfg.DB.Logs(ctx, id, last, sseBatch)
		if err != nil {
			stop()
			if ctx.Err() == nil {
				s.cfg.Log.Error("api: streaming logs", "job", id, "err", err)
			}
			return
		}
		sent := 0
		for _, l := range lines {
			if !done && l.Seq != last+1 {
				break // a gap: wait for the missing line
			}
			buf = buf[:0]
			buf = fmt.Appendf(buf, "id: %d\ndata: ", l.Seq)
			js, _ := json.Marshal(l)
			buf = append(buf, js...)
			buf = append(buf, "\n\n"...)
			if _, err := w.Write(buf); err != nil {
				stop()
				return
			}
			last = l.Seq
			sent++
		}
		if sent > 0 {
			flush()
			stop()
			continue
		}
		if done {
			stop()
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", mustJSON(map[string]any{"status": job.Status, "conclusion": job.Conclusion, "last": last}))
			flush()
			return
		}
		select {
		case <-ch:
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				stop()
				return
			}
			flush()
		case <-ctx.Done():
			stop()
			return
		}
		stop()
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}
