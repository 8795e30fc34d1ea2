package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/lines"
)

const (
	flushEvery = 200 * time.Millisecond
	flushLines = 500  // a batch this big is sent without waiting for the tick
	maxBatch   = 1000 // lines per request
)

type pendingStep struct {
	s   jobspec.Step
	ver uint64
}

// shipper sends a job's log lines and step states to the server in order, at least once: a line
// is kept until the server acknowledged it (the server drops repeats by seq), so lines survive
// a server restart.
type shipper struct {
	c     *Client
	jobID int64
	log   *slog.Logger

	sendMu sync.Mutex // one send at a time keeps step states and acks in order

	mu      sync.Mutex
	lines   []jobspec.LogLine // not yet acknowledged, by seq
	seq     int64
	steps   []pendingStep // not yet sent, in report order, one per number
	ver     uint64
	dropped bool // the server refused the job's reports for good (lease lost)
	// batch is how many lines a request carries: halved while the server
	// refuses a batch as too large, so that no line is lost to its size.
	batch int
	// lost counts lines and step states that never reached the server.
	lost int

	wake chan struct{}
}

func newShipper(c *Client, jobID int64, log *slog.Logger) *shipper {
	return &shipper{c: c, jobID: jobID, log: log, wake: make(chan struct{}, 1), batch: maxBatch}
}

func (s *shipper) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *shipper) emit(l jobspec.LogLine) {
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	s.mu.Lock()
	if s.dropped {
		s.lost++
		s.mu.Unlock()
		return
	}
	s.seq++
	l.Seq, l.Time, l.Text = s.seq, l.Time.UTC(), lines.Cut(l.Text)
	s.lines = append(s.lines, l)
	n := len(s.lines)
	s.mu.Unlock()
	if n >= flushLines {
		s.poke()
	}
}

func (s *shipper) step(w jobspec.Step) {
	st := w
	s.mu.Lock()
	s.ver++
	replaced := false
	for i := range s.steps {
		if s.steps[i].s.Number == st.Number {
			s.steps[i] = pendingStep{w, s.ver}
			replaced = true
		}
	}
	if !replaced {
		s.steps = append(s.steps, pendingStep{w, s.ver})
	}
	s.mu.Unlock()
	// Step changes are few and show progress: send them now rather than on the next tick.
	s.poke()
}

func (s *shipper) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.dropped && (len(s.lines) > 0 || len(s.steps) > 0)
}

// run sends every tick (or sooner when poked) until ctx ends.
func (s *shipper) run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	var b backoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		for s.pending() {
			if err := s.send(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Debug("sending logs failed; retrying", "err", err)
				sleep(ctx, b.next())
				break
			}
			b.reset()
			if !s.bigBacklog() {
				break
			}
		}
	}
}

func (s *shipper) bigBacklog() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines) >= flushLines
}

// flush sends until everything reported so far is acknowledged, retrying until ctx ends.
func (s *shipper) flush(ctx context.Context) error {
	var b backoff
	for s.pending() {
		if err := s.send(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("sending the last log lines of job %d: %w", s.jobID, err)
			}
			s.log.Debug("sending logs failed; retrying", "err", err)
			sleep(ctx, b.next())
			continue
		}
		b.reset()
	}
	return nil
}

// send makes one round: pending step states, then up to maxBatch lines.
func (s *shipper) send(ctx context.Context) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	steps := append([]pendingStep(nil), s.steps...)
	batch := append([]jobspec.LogLine(nil), s.lines[:min(len(s.lines), s.batch)]...)
	s.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if len(steps) > 0 {
		body := make([]jobspec.Step, len(steps))
		for i, p := range steps {
			body[i] = p.s
		}
		_, err := s.c.call(cctx, http.MethodPost, fmt.Sprintf("/api/v1/agent/jobs/%d/steps", s.jobID), body, nil)
		if s.refused(err) {
			return nil
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.steps = unsent(s.steps, steps)
		s.mu.Unlock()
	}
	if len(batch) == 0 {
		return nil
	}
	var out struct {
		Ack int64 `json:"ack"`
	}
	_, err := s.c.call(cctx, http.MethodPost, fmt.Sprintf("/api/v1/agent/jobs/%d/logs", s.jobID), batch, &out)
	if isStatus(err, http.StatusRequestEntityTooLarge) {
		s.shrink(batch)
		return nil
	}
	if s.refused(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	i := 0
	for i < len(s.lines) && s.lines[i].Seq <= out.Ack {
		i++
	}
	s.lines = s.lines[i:]
	s.mu.Unlock()
	return nil
}

// refused reports whether err means the server will never take these reports (the job is not
// this agent's, or the request is bad); they are then dropped rather than retried forever.
func (s *shipper) refused(err error) bool {
	var se *StatusError
	permanent := errors.Is(err, ErrLeaseLost) ||
		errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout && se.Code != http.StatusTooManyRequests
	if !permanent {
		return false
	}
	s.log.Warn("the server refused the job's logs; dropping them", "err", err)
	s.mu.Lock()
	s.dropped = true
	s.lost += len(s.lines) + len(s.steps)
	s.lines, s.steps = nil, nil
	s.mu.Unlock()
	return true
}

// shrink answers a batch the server found too large: the next one carries
// half as many lines; a single line still too large is dropped and counted,
// and the lines after it go on.
func (s *shipper) shrink(batch []jobspec.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(batch) > 1 {
		s.batch = max(1, len(batch)/2)
		s.log.Info("the server refused a log batch as too large; sending smaller ones", "lines", s.batch)
		return
	}
	if len(s.lines) > 0 && s.lines[0].Seq == batch[0].Seq {
		s.log.Warn("the server refused a log line as too large; dropping it", "seq", batch[0].Seq)
		s.lines[0].Text = fmt.Sprintf("[sluice: a log line of %d bytes was refused by the server and lost]", len(batch[0].Text))
		if len(batch[0].Text) < 200 {
			s.lines = s.lines[1:]
		}
		s.lost++
	}
}

// lostCount is how many lines and step states never reached the server.
func (s *shipper) lostCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// unsent keeps the pending steps that changed since sent was taken.
func unsent(pending, sent []pendingStep) []pendingStep {
	done := map[uint64]bool{}
	for _, p := range sent {
		done[p.ver] = true
	}
	var out []pendingStep
	for _, p := range pending {
		if !done[p.ver] {
			out = append(out, p)
		}
	}
	return out
}
