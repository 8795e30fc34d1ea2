package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testreport"
)

// uiTestFailuresShown bounds the failures listed per job.
const uiTestFailuresShown = 50

type uiJobDetail struct {
	Box      uiJobBox
	Job      store.Job
	Steps    []store.Step
	Summary  string
	Tests    *testreport.Report
	Failures []testreport.Case
}

type uiRunData struct {
	Run       store.Run
	Repo      store.Repo
	State     string
	Columns   [][]uiJobBox
	Jobs      []uiJobDetail
	Artifacts []artifacts.Artifact
	Failed    bool // some job failed: "re-run failed jobs" makes sense
	Done      bool
}

func (ui *uiApp) runPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	run, ok := ui.pathRun(w, r, sess)
	if !ok {
		return
	}
	repo, err := ui.s.cfg.DB.GetRepo(ctx, run.RepoID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	jobs, err := ui.s.cfg.DB.ListLatestJobs(ctx, run.ID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	d := uiRunData{Run: *run, Repo: *repo, State: uiState(run.Status, run.Conclusion), Columns: uiGraphColumns(jobs),
		Done: run.Status == store.StatusCompleted}
	for _, j := range store.Shown(jobs) {
		steps, err := ui.s.cfg.DB.ListSteps(ctx, j.ID)
		if err != nil {
			ui.fail(w, r, err)
			return
		}
		jd := uiJobDetail{Box: uiBox(j), Job: j, Steps: steps}
		jd.Summary, jd.Tests = ui.jobReports(j.ID)
		if jd.Tests != nil {
			jd.Failures = jd.Tests.Failures()
			if len(jd.Failures) > uiTestFailuresShown {
				jd.Failures = jd.Failures[:uiTestFailuresShown]
			}
		}
		if j.Conclusion == store.ConclusionFailure || j.Conclusion == store.ConclusionCancelled {
			d.Failed = true
		}
		d.Jobs = append(d.Jobs, jd)
	}
	if ui.s.cfg.Artifacts != nil {
		if d.Artifacts, err = ui.s.cfg.Artifacts.List(uiArtifactRun(run.ID)); err != nil {
			ui.fail(w, r, err)
			return
		}
	}
	title := fmt.Sprintf("%s #%d · %s", uiWorkflowLabel(*run), run.Number, repo.Name)
	ui.render(w, r, "run.html", http.StatusOK, uiView{Title: title, Nav: "repos", Session: sess, Data: d})
}

// uiArtifactRun is the run key of the artifact store for a server run.
func uiArtifactRun(runID int64) string { return strconv.FormatInt(runID, 10) }

// jobReports reads the step summary and test report (testreport.Report JSON)
// the agent reported (agentapi_results.go). A report that cannot be read is
// left out rather than failing the page.
func (ui *uiApp) jobReports(jobID int64) (string, *testreport.Report) {
	summary, err := ui.s.jobSummary(jobID)
	if err != nil {
		ui.s.cfg.Log.Warn("ui: unreadable step summary", "job", jobID, "err", err)
	}
	var rep *testreport.Report
	if b, err := ui.s.jobTests(jobID); err == nil && len(b) > 0 {
		rep = &testreport.Report{}
		if err := json.Unmarshal(b, rep); err != nil {
			ui.s.cfg.Log.Warn("ui: unreadable test report", "job", jobID, "err", err)
			rep = nil
		}
	}
	return summary, rep
}

// pathRun loads the run named by the {id} path value, answering 404 itself.
func (ui *uiApp) pathRun(w http.ResponseWriter, r *http.Request, sess *uiSession) (*store.Run, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		ui.notFound(w, r, sess, "run "+r.PathValue("id"))
		return nil, false
	}
	run, err := ui.s.cfg.DB.GetRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		ui.notFound(w, r, sess, fmt.Sprintf("run %d", id))
		return nil, false
	}
	if err != nil {
		ui.fail(w, r, err)
		return nil, false
	}
	return run, true
}

// uiRunState is what the run page's script refreshes without a reload.
type uiRunState struct {
	State    string     `json:"state"`
	Duration string     `json:"duration"`
	Done     bool       `json:"done"`
	Jobs     []uiJobBox `json:"jobs"`
}

func (ui *uiApp) runState(r *http.Request, runID int64) (*uiRunState, error) {
	run, err := ui.s.cfg.DB.GetRun(r.Context(), runID)
	if err != nil {
		return nil, err
	}
	jobs, err := ui.s.cfg.DB.ListLatestJobs(r.Context(), runID)
	if err != nil {
		return nil, err
	}
	st := &uiRunState{State: uiState(run.Status, run.Conclusion), Duration: uiDuration(run.StartedAt, run.FinishedAt),
		Done: run.Status == store.StatusCompleted, Jobs: []uiJobBox{}}
	for _, j := range store.Shown(jobs) {
		st.Jobs = append(st.Jobs, uiBox(j))
	}
	return st, nil
}

func (ui *uiApp) runStateJSON(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	run, ok := ui.pathRun(w, r, sess)
	if !ok {
		return
	}
	st, err := ui.runState(r, run.ID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	uiWriteJSON(w, st)
}

// runEvents streams the run's state (event "state") each time the run or one
// of its jobs changes, until the run is done and the client has seen it.
func (ui *uiApp) runEvents(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	run, ok := ui.pathRun(w, r, sess)
	if !ok {
		return
	}
	sse, ok := uiStartSSE(w)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	keepalive := time.NewTicker(uiKeepalive)
	defer keepalive.Stop()
	last := ""
	for {
		changed, stop := ui.s.cfg.DB.Watch(store.TopicRun(run.ID))
		st, err := ui.runState(r, run.ID)
		if err != nil {
			stop()
			ui.s.cfg.Log.Warn("ui: run state", "run", run.ID, "err", err)
			return
		}
		b, _ := json.Marshal(st)
		if string(b) != last {
			last = string(b)
			if sse.send("state", "", b) != nil {
				stop()
				return
			}
		}
		if st.Done {
			stop()
			sse.send("end", "", []byte("{}"))
			return
		}
		if !uiWait(r, changed, keepalive, sse) {
			stop()
			return
		}
		stop()
	}
}

func (ui *uiApp) cancelRun(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	run, ok := ui.pathRun(w, r, sess)
	if !ok {
		return
	}
	if ui.s.cfg.Scheduler == nil {
		http.Error(w, "no scheduler", http.StatusServiceUnavailable)
		return
	}
	if err := ui.s.cfg.Scheduler.Cancel(r.Context(), run.ID); err != nil {
		ui.fail(w, r, fmt.Errorf("cancelling run %d: %w", run.ID, err))
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/runs/%d?flash=%s", run.ID, url.QueryEscape("Cancel requested.")), http.StatusSeeOther)
}

func (ui *uiApp) rerunRun(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	run, ok := ui.pathRun(w, r, sess)
	if !ok {
		return
	}
	if ui.s.cfg.Scheduler == nil {
		http.Error(w, "no scheduler", http.StatusServiceUnavailable)
		return
	}
	failedOnly := r.PostFormValue("failed") == "1"
	next, err := ui.s.cfg.Scheduler.Rerun(r.Context(), run.ID, failedOnly)
	if err != nil {
		ui.fail(w, r, fmt.Errorf("re-running run %d: %w", run.ID, err))
		return
	}
	to := run.ID
	if next != nil {
		to = next.ID
	}
	http.Redirect(w, r, fmt.Sprintf("/runs/%d?flash=%s", to, url.QueryEscape("Re-run started.")), http.StatusSeeOther)
}

func (ui *uiApp) artifactDownload(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	run, ok := ui.pathRun(w, r, sess)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("artifact"), 10, 64)
	if err != nil || ui.s.cfg.Artifacts == nil {
		ui.notFound(w, r, sess, "artifact")
		return
	}
	list, err := ui.s.cfg.Artifacts.List(uiArtifactRun(run.ID))
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var found *artifacts.Artifact
	for i := range list {
		if list[i].ID == id {
			found = &list[i]
		}
	}
	if found == nil {
		ui.notFound(w, r, sess, fmt.Sprintf("artifact %d of run %d", id, run.ID))
		return
	}
	rc, err := ui.s.cfg.Artifacts.Open(uiArtifactRun(run.ID), id)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", found.Name+".zip"))
	w.Header().Set("Content-Length", strconv.FormatInt(found.Size, 10))
	if _, err := io.Copy(w, rc); err != nil {
		ui.s.cfg.Log.Warn("ui: artifact download cut short", "run", run.ID, "artifact", id, "err", err)
	}
}

func uiWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
