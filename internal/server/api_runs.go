package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sluice-ci/sluice/internal/store"
)

// RunView is a run as the API lists it, with its repository's name.
type RunView struct {
	store.Run
	Repo string `json:"repo"`
}

// JobView is a job with its steps; the spec is left out (it is the agent's).
type JobView struct {
	store.Job
	Steps []store.Step `json:"steps"`
}

// RunDetail is GET /api/v1/runs/{id}: the run and the latest attempt of each
// of its jobs.
type RunDetail struct {
	Run  RunView   `json:"run"`
	Jobs []JobView `json:"jobs"`
	// Approval is set when the run needed one (a pull request from a fork).
	Approval *store.RunApproval `json:"approval,omitempty"`
	// Attempts are the run's attempts, first to current (a re-run is the run's next
	// attempt, as on GitHub); Jobs are the current attempt's, or ?attempt=N's.
	Attempts []store.RunAttempt `json:"attempts"`
}

func apiRunViews(runs []store.Run, repo string) []RunView {
	out := make([]RunView, 0, len(runs))
	for _, r := range runs {
		r.Payload = nil
		out = append(out, RunView{Run: r, Repo: repo})
	}
	return out
}

func (s *Server) apiListRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RunFilter{Status: q.Get("status"), Workflow: q.Get("workflow"), Ref: q.Get("ref")}
	switch f.Status {
	case "", store.StatusQueued, store.StatusInProgress, store.StatusCompleted:
	default:
		apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid status %q: want queued, in_progress or completed", f.Status))
		return
	}
	limit, ok := apiQueryInt(w, r, "limit", 50, 500)
	if !ok {
		return
	}
	before, ok := apiQueryInt(w, r, "before", 0, 0)
	if !ok {
		return
	}
	f.Limit, f.Before = int(limit), before
	names := map[int64]string{}
	repos, err := s.cfg.DB.ListRepos(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "repositories")
		return
	}
	for _, rp := range repos {
		names[rp.ID] = rp.Name
		if rp.Name == q.Get("repo") {
			f.RepoID = rp.ID
		}
	}
	if q.Get("repo") != "" && f.RepoID == 0 {
		apiError(w, http.StatusNotFound, "repository "+q.Get("repo")+" not found")
		return
	}
	runs, err := s.cfg.DB.ListRuns(r.Context(), f)
	if err != nil {
		s.apiStoreError(w, err, "runs")
		return
	}
	out := make([]RunView, 0, len(runs))
	for _, rn := range runs {
		rn.Payload = nil
		out = append(out, RunView{Run: rn, Repo: names[rn.RepoID]})
	}
	apiJSON(w, http.StatusOK, map[string]any{"runs": out})
}

// RunDetail loads run id with its latest jobs and their steps.
func (s *Server) RunDetail(ctx context.Context, id int64) (*RunDetail, error) {
	return s.runAttemptDetail(ctx, id, 0)
}

// runAttemptDetail is RunDetail with the jobs of attempt n (0: the current one).
func (s *Server) runAttemptDetail(ctx context.Context, id int64, n int) (*RunDetail, error) {
	run, err := s.cfg.DB.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	repo, err := s.cfg.DB.GetRepo(ctx, run.RepoID)
	if err != nil {
		return nil, err
	}
	var jobs []store.Job
	switch {
	case n == 0 || n == max(run.Attempt, 1):
		jobs, err = s.cfg.DB.ListLatestJobs(ctx, id)
	case n < max(run.Attempt, 1):
		jobs, err = s.cfg.DB.ListAttemptJobs(ctx, id, n)
	default:
		return nil, fmt.Errorf("run %d has %d attempts, not %d: %w", id, max(run.Attempt, 1), n, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	attempts, err := s.cfg.DB.ListRunAttempts(ctx, id)
	if err != nil {
		return nil, err
	}
	// A matrix job's own row and a reusable workflow call's are the scheduler's
	// bookkeeping: the legs and the called jobs are the jobs.
	jobs = store.Shown(jobs)
	d := &RunDetail{Run: RunView{Run: *run, Repo: repo.Name}, Jobs: make([]JobView, 0, len(jobs)), Attempts: attempts}
	if a, err := s.cfg.DB.GetRunApproval(ctx, id); err == nil {
		d.Approval = a
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, j := range jobs {
		steps, err := s.cfg.DB.ListSteps(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		if steps == nil {
			steps = []store.Step{}
		}
		j.Spec = nil
		d.Jobs = append(d.Jobs, JobView{Job: j, Steps: steps})
	}
	return d, nil
}

func (s *Server) apiGetRun(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	attempt, ok := apiQueryInt(w, r, "attempt", 0, 1<<20)
	if !ok {
		return
	}
	d, err := s.runAttemptDetail(r.Context(), id, int(attempt))
	if err != nil {
		what := fmt.Sprintf("run %d", id)
		if attempt != 0 {
			what = fmt.Sprintf("attempt %d of run %d", attempt, id)
		}
		s.apiStoreError(w, err, what)
		return
	}
	apiJSON(w, http.StatusOK, d)
}

// apiApproveRun lets a held run (a pull request from a fork) start: a
// maintainer (write scope) has looked at what it runs.
func (s *Server) apiApproveRun(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	err := s.cfg.DB.ApproveRun(r.Context(), id, apiActor(r))
	switch {
	case errors.Is(err, store.ErrAlreadyDecided):
		apiError(w, http.StatusConflict, fmt.Sprintf("run %d was already approved", id))
		return
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, fmt.Sprintf("run %d does not wait for an approval", id))
		return
	case err != nil:
		s.apiStoreError(w, err, fmt.Sprintf("approving run %d", id))
		return
	}
	s.cfg.Log.Info("run approved", "run", id, "by", apiActor(r))
	d, err := s.RunDetail(r.Context(), id)
	if err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("run %d", id))
		return
	}
	apiJSON(w, http.StatusOK, d)
}

func (s *Server) apiCancelRun(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	if _, err := s.cfg.DB.GetRun(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("run %d", id))
		return
	}
	if err := s.cfg.Scheduler.Cancel(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("cancelling run %d", id))
		return
	}
	run, err := s.cfg.DB.GetRun(r.Context(), id)
	if err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("run %d", id))
		return
	}
	run.Payload = nil
	apiJSON(w, http.StatusAccepted, map[string]any{"run": run})
}

func (s *Server) apiRerun(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	failed := false
	if v := r.URL.Query().Get("failed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid failed %q: want true or false", v))
			return
		}
		failed = b
	}
	old, err := s.cfg.DB.GetRun(r.Context(), id)
	if err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("run %d", id))
		return
	}
	if old.Status != store.StatusCompleted {
		apiError(w, http.StatusConflict, fmt.Sprintf("run %d is %s: only a completed run can be re-run", id, old.Status))
		return
	}
	run, err := s.cfg.Scheduler.Rerun(r.Context(), id, failed)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			s.apiStoreError(w, err, fmt.Sprintf("run %d", id))
			return
		}
		apiError(w, http.StatusUnprocessableEntity, "re-run failed: "+err.Error())
		return
	}
	run.Payload = nil
	apiJSON(w, http.StatusCreated, map[string]any{"run": run})
}

func (s *Server) apiRunEvents(w http.ResponseWriter, r *http.Request) {
	id, after, limit, ok := apiPage(w, r)
	if !ok {
		return
	}
	if _, err := s.cfg.DB.GetRun(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("run %d", id))
		return
	}
	evs, err := s.cfg.DB.ListEvents(r.Context(), store.EventFilter{RunID: id, After: after, Limit: int(limit)})
	if err != nil {
		s.apiStoreError(w, err, "events")
		return
	}
	if evs == nil {
		evs = []store.Event{}
	}
	apiJSON(w, http.StatusOK, map[string]any{"events": evs})
}

// apiJobLogs answers JSON lines: one store.LogLine per line, in seq order.
func (s *Server) apiJobLogs(w http.ResponseWriter, r *http.Request) {
	id, after, limit, ok := apiPage(w, r)
	if !ok {
		return
	}
	if _, err := s.cfg.DB.GetJob(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("job %d", id))
		return
	}
	lines, err := s.cfg.DB.Logs(r.Context(), id, after, int(limit))
	if err != nil {
		s.apiStoreError(w, err, "logs")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return
		}
	}
}

// apiPage reads the {id} of a paged listing and its ?after= and ?limit=
// (default 1000, at most 10000).
func apiPage(w http.ResponseWriter, r *http.Request) (id, after, limit int64, ok bool) {
	if id, ok = apiPathID(w, r, "id"); !ok {
		return 0, 0, 0, false
	}
	if after, ok = apiQueryInt(w, r, "after", 0, 0); !ok {
		return 0, 0, 0, false
	}
	limit, ok = apiQueryInt(w, r, "limit", 1000, 10000)
	return id, after, limit, ok
}
