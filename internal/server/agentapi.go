package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/jobspec"
	loglines "github.com/sluice-ci/sluice/internal/lines"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// The agent protocol (see /api/v1/agent/*): agents only ever call out, so every exchange is a
// request from the agent; the server answers with work (claim), orders (cancel in a heartbeat
// answer) or acknowledgements (log acks, 409 when a lease is gone).
const (
	// agentLease is how long a claim or heartbeat keeps a job leased to its agent.
	agentLease = 30 * time.Second
	// agentClaimWait bounds a claim long-poll, below common proxy idle timeouts.
	agentClaimWait = 25 * time.Second
	// agentMaxJSON bounds the JSON bodies agents send (a log batch is the largest).
	agentMaxJSON = 64 << 20
)

// agentRoutes registers the agent protocol.
func (s *Server) agentRoutes() {
	s.mux.Handle("POST /api/v1/agent/register", s.requireRegister(s.agentRegister))
	s.mux.Handle("POST /api/v1/agent/claim", s.agentAuth(s.agentClaim))
	s.mux.Handle("POST /api/v1/agent/jobs/{id}/heartbeat", s.agentAuth(s.agentHeartbeat))
	s.mux.Handle("POST /api/v1/agent/jobs/{id}/logs", s.agentAuth(s.agentLogs))
	s.mux.Handle("POST /api/v1/agent/jobs/{id}/steps", s.agentAuth(s.agentSteps))
	s.mux.Handle("POST /api/v1/agent/jobs/{id}/complete", s.agentAuth(s.agentComplete))
	s.mux.Handle("POST /api/v1/agent/runs/{run}/artifacts", s.agentAuth(s.agentUploadArtifact))
	s.mux.Handle("GET /api/v1/agent/runs/{run}/artifacts", s.agentAuth(s.agentListArtifacts))
	s.mux.Handle("GET /api/v1/agent/runs/{run}/artifacts/{id}", s.agentAuth(s.agentDownloadArtifact))
	s.agentCacheRoutes() // agentapi_cache.go
}

// agentAuth admits requests carrying an agent's token and records that the agent was seen.
func (s *Server) agentAuth(h func(w http.ResponseWriter, r *http.Request, a *store.Agent)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := agentBearer(r)
		if !ok || !secrets.ValidTokenFormat(tok) {
			agentError(w, http.StatusUnauthorized, "missing or malformed agent token")
			return
		}
		a, err := s.cfg.DB.GetAgentByTokenHash(r.Context(), secrets.HashToken(tok))
		if errors.Is(err, store.ErrNotFound) {
			agentError(w, http.StatusUnauthorized, "unknown agent token")
			return
		}
		if err != nil {
			s.agentFail(w, r, "looking up agent", err)
			return
		}
		if err := s.cfg.DB.TouchAgent(r.Context(), a.ID); err != nil {
			s.agentFail(w, r, "recording agent activity", err)
			return
		}
		h(w, r, a)
	})
}

func agentBearer(r *http.Request) (string, bool) {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

type agentRegisterRequest struct {
	Name     string   `json:"name"`
	Labels   []string `json:"labels"`
	Parallel int      `json:"parallel"`
	Version  string   `json:"version"`
}

type agentRegisterResponse struct {
	AgentID int64  `json:"agent_id"`
	Token   string `json:"token"`
}

// requireRegister serves h only to a registration token (scope register):
// an agent must never be handed an admin token to join.
func (s *Server) requireRegister(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.apiPrincipalOf(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			agentError(w, http.StatusUnauthorized, "registering an agent needs a registration token: create one with `sluice token create NAME --scope register`")
		case p.Scope != store.ScopeRegister:
			agentError(w, http.StatusForbidden, fmt.Sprintf("registering an agent needs a registration token (scope register), not a %s token: an agent must not hold one; create it with `sluice token create NAME --scope register`", p.Scope))
		default:
			h(w, r.WithContext(context.WithValue(r.Context(), apiPrincipalKey{}, p)))
		}
	}
}

// agentReclaimAfter is how long an agent must have been silent before a new
// registration may take its name (and its jobs' routing) over.
const agentReclaimAfter = 2 * time.Minute

func (s *Server) agentRegister(w http.ResponseWriter, r *http.Request) {
	var req agentRegisterRequest
	if !agentDecode(w, r, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		agentError(w, http.StatusBadRequest, "an agent needs a name of at most 100 characters")
		return
	}
	// A registration token must not let its holder take the place of a
	// live agent (and receive its jobs and their secrets).
	if agents, err := s.cfg.DB.ListAgents(r.Context()); err == nil {
		for _, a := range agents {
			if a.Name != req.Name {
				continue
			}
			if a.Name == "embedded" || a.LastSeen != nil && time.Since(*a.LastSeen) < agentReclaimAfter {
				agentError(w, http.StatusConflict, fmt.Sprintf("an agent named %q is registered and was online within %s: pick another --name, or stop it first", a.Name, agentReclaimAfter))
				return
			}
		}
	}
	tok, hash, err := secrets.NewToken()
	if err != nil {
		s.agentFail(w, r, "registering agent", err)
		return
	}
	a, err := s.cfg.DB.RegisterAgent(r.Context(), store.Agent{Name: req.Name, Labels: req.Labels,
		Parallel: req.Parallel, Version: req.Version, TokenHash: hash})
	if err != nil {
		s.agentFail(w, r, "registering agent", err)
		return
	}
	s.cfg.Log.Info("agent registered", "agent", a.Name, "id", a.ID, "labels", a.Labels, "parallel", a.Parallel)
	agentJSON(w, http.StatusOK, agentRegisterResponse{AgentID: a.ID, Token: tok})
}

// agentJob returns the job named in the path when agent a holds it (now or last: a job that
// was declared lost still accepts the logs of the agent that ran it).
func (s *Server) agentJob(w http.ResponseWriter, r *http.Request, a *store.Agent) (*store.Job, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		agentError(w, http.StatusBadRequest, "bad job id "+r.PathValue("id"))
		return nil, false
	}
	j, err := s.cfg.DB.GetJob(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		agentError(w, http.StatusNotFound, fmt.Sprintf("job %d not found", id))
		return nil, false
	}
	if err != nil {
		s.agentFail(w, r, "reading job", err)
		return nil, false
	}
	if j.AgentID == nil || *j.AgentID != a.ID {
		// The job is not this agent's: answer like a lost lease so the agent lets it go.
		agentError(w, http.StatusConflict, fmt.Sprintf("job %d is not leased to agent %s", id, a.Name))
		return nil, false
	}
	return j, true
}

func (s *Server) agentHeartbeat(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		agentError(w, http.StatusBadRequest, "bad job id "+r.PathValue("id"))
		return
	}
	j, err := s.cfg.DB.Heartbeat(r.Context(), id, a.ID, agentLease)
	if errors.Is(err, store.ErrLeaseLost) {
		agentError(w, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		s.agentFail(w, r, "extending lease", err)
		return
	}
	agentJSON(w, http.StatusOK, jobspec.Heartbeat{Cancel: j.CancelRequested})
}

type agentLogsResponse struct {
	Ack int64 `json:"ack"`
}

func (s *Server) agentLogs(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	j, ok := s.agentJob(w, r, a)
	if !ok {
		return
	}
	var in []jobspec.LogLine
	if !agentDecode(w, r, &in) {
		return
	}
	lines := make([]store.LogLine, len(in))
	for i, l := range in {
		if l.Seq < 1 {
			agentError(w, http.StatusBadRequest, fmt.Sprintf("log line seq %d: seqs start at 1", l.Seq))
			return
		}
		lines[i] = store.LogLine{JobID: j.ID, Seq: l.Seq, Time: l.Time, Step: l.Step, Kind: l.Kind, Text: loglines.Cut(l.Text)}
	}
	ack, err := s.cfg.DB.AppendLogs(r.Context(), j.ID, lines)
	if err != nil {
		s.agentFail(w, r, "storing log lines", err)
		return
	}
	agentJSON(w, http.StatusOK, agentLogsResponse{Ack: ack})
}

func (s *Server) agentSteps(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	j, ok := s.agentJob(w, r, a)
	if !ok {
		return
	}
	var in []jobspec.Step
	if !agentDecode(w, r, &in) {
		return
	}
	for _, st := range in {
		switch st.Status {
		case store.StatusQueued, store.StatusInProgress, store.StatusCompleted:
		default:
			agentError(w, http.StatusBadRequest, fmt.Sprintf("step %d: unknown status %q", st.Number, st.Status))
			return
		}
		if _, err := s.cfg.DB.SetStep(r.Context(), store.Step{JobID: j.ID, Number: st.Number, Name: st.Name,
			Status: st.Status, Conclusion: st.Conclusion, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt}); err != nil {
			s.agentFail(w, r, "recording step", err)
			return
		}
	}
	agentJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) agentComplete(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		agentError(w, http.StatusBadRequest, "bad job id "+r.PathValue("id"))
		return
	}
	var req jobspec.Completion
	if !agentDecode(w, r, &req) {
		return
	}
	switch req.Conclusion {
	case store.ConclusionSuccess, store.ConclusionFailure, store.ConclusionCancelled, store.ConclusionSkipped:
	default:
		agentError(w, http.StatusBadRequest, fmt.Sprintf("unknown conclusion %q", req.Conclusion))
		return
	}
	// Results are written before the job completes so that whoever sees it completed finds them.
	// A complete that then fails with 409 leaves them on a job the agent no longer owns, which
	// only ever happens to the agent that ran it.
	if j, err := s.cfg.DB.GetJob(r.Context(), id); err == nil && j.AgentID != nil && *j.AgentID == a.ID &&
		j.Status == store.StatusInProgress {
		if err := s.saveJobResults(id, req.Summary, req.Tests); err != nil {
			s.agentFail(w, r, "saving job results", err)
			return
		}
		if err := s.cfg.DB.RecordJobResults(r.Context(), id, jobResults(req.Versions, req.Tests)); err != nil {
			s.agentFail(w, r, "recording job results", err)
			return
		}
	}
	j, err := s.cfg.DB.Complete(r.Context(), id, a.ID, req.Conclusion, req.Outputs)
	if errors.Is(err, store.ErrLeaseLost) {
		agentError(w, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		s.agentFail(w, r, "completing job", err)
		return
	}
	s.cfg.Log.Info("job completed", "job", j.ID, "run", j.RunID, "key", j.Key, "agent", a.Name, "conclusion", j.Conclusion)
	if u, ok := s.cfg.Deployer.(EnvironmentURLRecorder); ok && req.EnvironmentURL != "" {
		if err := u.RecordEnvironmentURL(r.Context(), j.ID, req.EnvironmentURL); err != nil {
			s.cfg.Log.Warn("recording the environment URL", "job", j.ID, "err", err)
		}
	}
	// The job is recorded; moving the run along is the scheduler's, and its failure must not
	// make the agent retry a completion that already landed.
	s.agentJobFinished(r, j.RunID, j.ID)
	agentJSON(w, http.StatusOK, struct{}{})
}

// LaterFinisher is a Scheduler that advances a run after a job's end off the caller's path
// (internal/scheduler's does): JobFinishedLater returns at once, and the run moves on, and is
// reported to its forge, in the scheduler's background. A run whose advance the process did not
// live to make is still open in the database, for the scheduler's reconciliation to move.
type LaterFinisher interface {
	JobFinishedLater(ctx context.Context, runID, jobID int64)
}

// agentJobFinished tells the scheduler a job ended, then the forge how the run stands. Errors
// are logged: the job itself is recorded, and the scheduler reconciles runs on its own after a
// restart. A scheduler that advances runs in its background is not waited for: the agent's
// answer would wait for the run's lock, which the passes of the run's other jobs hold.
func (s *Server) agentJobFinished(r *http.Request, runID, jobID int64) {
	// Not cut short when the agent hangs up: the job is recorded, and its run must move on.
	ctx := context.WithoutCancel(r.Context())
	if l, ok := s.cfg.Scheduler.(LaterFinisher); ok {
		l.JobFinishedLater(ctx, runID, jobID)
		return
	}
	if s.cfg.Scheduler != nil {
		if err := s.cfg.Scheduler.JobFinished(ctx, jobID); err != nil {
			s.cfg.Log.Error("advancing run after job finished", "job", jobID, "err", err)
		}
	}
	s.agentReportRun(runID)
}

// agentReportRun sends run runID's commit status in the background: a slow forge must not hold
// up the agent, whose job is recorded already.
func (s *Server) agentReportRun(runID int64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		run, err := s.cfg.DB.GetRun(ctx, runID)
		if err == nil {
			err = s.ReportStatus(ctx, run)
		}
		if err != nil {
			s.cfg.Log.Warn("reporting commit status", "run", runID, "err", err)
		}
	}()
}

func agentDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, agentMaxJSON))
	if err := dec.Decode(v); err != nil {
		// Too large is its own answer: the agent sends less, not nothing.
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			agentError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is over %d bytes: send fewer log lines at once", agentMaxJSON))
			return false
		}
		agentError(w, http.StatusBadRequest, "decoding request body: "+err.Error())
		return false
	}
	return true
}

func agentJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func agentError(w http.ResponseWriter, code int, msg string) {
	agentJSON(w, code, map[string]string{"error": msg})
}

// agentFail answers 500 for a failure of the server itself and logs it.
func (s *Server) agentFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.cfg.Log.Error("agent API: "+what, "path", r.URL.Path, "err", err)
	agentError(w, http.StatusInternalServerError, what+": "+err.Error())
}
