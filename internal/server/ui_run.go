package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testreport"
)

const (
	// uiTestFailuresShown bounds the failures listed per job and in the run's panel.
	uiTestFailuresShown = 50
	// uiAnnotationsShown bounds the annotations the run's panel lists.
	uiAnnotationsShown = 100
	// uiSummariesOpen is how many step summaries the panel shows unfolded.
	uiSummariesOpen = 2
)

// uiStateRejected is how a run, job or promotion a reviewer rejected reads:
// a decision, not a breakage, so not red.
const uiStateRejected = "rejected"

type uiStepView struct {
	store.Step
	State    string
	Duration string
}

type uiJobDetail struct {
	Box      uiJobBox
	Job      store.Job
	Steps    []uiStepView
	Tests    *testreport.Report
	Failures []uiTestFailure
	// StepsJSON feeds the log viewer's step headers (name, state, duration by number).
	StepsJSON string
	Failed    bool
	summary   string // the step summary's markdown, shown in the run's panel
}

// uiTestFailure is one failing test as the pages show it: its pytest id,
// ready to paste.
type uiTestFailure struct {
	ID      string
	Message string
	Output  string
	Job     string
	JobID   int64
}

// uiAnnotation is an ::error, ::warning or ::notice line, with its file and
// line when it names them.
type uiAnnotation struct {
	Level   string
	File    string
	Line    int
	Message string
	Job     string
	JobID   int64
	Seq     int64
	Source  string // the file on the forge at the run's commit, when the repository's URL says where
}

type uiSummaryView struct {
	Job   string
	JobID int64
	HTML  template.HTML
	Open  bool
}

type uiFailedJob struct {
	Box  uiJobBox
	Step string // the first step that failed
}

// uiRunPanel is the run-level roll-up: what failed, why, and what the jobs
// reported.
type uiRunPanel struct {
	FailedJobs  []uiFailedJob
	Tests       []uiTestFailure
	TestsMore   int
	PytestArgs  string // the failing ids, for `pytest ...`
	Annotations []uiAnnotation
	Summaries   []uiSummaryView
}

func (p *uiRunPanel) Empty() bool {
	return p == nil || len(p.FailedJobs)+len(p.Tests)+len(p.Annotations)+len(p.Summaries) == 0
}

type uiRunData struct {
	Run       store.Run
	Repo      store.Repo
	State     string
	Columns   [][]uiGraphNode
	Jobs      []uiJobDetail
	Artifacts []artifacts.Artifact
	Failed    bool // some job failed: "re-run failed jobs" makes sense
	Done      bool
	// Open is the job the page opens on: the first failing job, else the
	// first running one, else the first. Focus "error" opens it at its
	// first error line.
	Open    int64
	Focus   string
	Panel   *uiRunPanel
	Deploys []uiDeployBanner // deployments of this run waiting for reviewers
	// Attempts are the run's attempts (a re-run is the next attempt of the same run, as on
	// GitHub), first to latest; Attempt is the one shown, Earlier when it is not the latest
	// (then the page is that attempt's record: no live updates, no cancel or re-run).
	Attempts []uiAttemptView
	Attempt  int
	Earlier  bool
}

// uiAttemptView is one attempt of a run in the run page's list.
type uiAttemptView struct {
	N       int
	State   string
	Trigger string
	Actor   string
	Latest  bool
	Viewed  bool
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
	attempts, err := ui.s.cfg.DB.ListRunAttempts(ctx, run.ID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	latest := max(run.Attempt, 1)
	n := latest
	if q := r.URL.Query().Get("attempt"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > latest {
			ui.notFound(w, r, sess, fmt.Sprintf("attempt %s of run %d (it has %d)", q, run.ID, latest))
			return
		}
		n = v
	}
	shown := run
	var jobs []store.Job
	if n != latest {
		// An earlier attempt: the run as that attempt ended, with that attempt's jobs.
		var a store.RunAttempt
		for _, x := range attempts {
			if x.Attempt == n {
				a = x
			}
		}
		old := *run
		old.Attempt, old.Status, old.Conclusion, old.Trigger, old.Actor = a.Attempt, a.Status, a.Conclusion, a.Trigger, a.Actor
		old.QueuedAt, old.StartedAt, old.FinishedAt = a.QueuedAt, a.StartedAt, a.FinishedAt
		shown = &old
		if jobs, err = ui.s.cfg.DB.ListAttemptJobs(ctx, run.ID, n); err != nil {
			ui.fail(w, r, err)
			return
		}
	}
	d, err := ui.runData(ctx, shown, repo, sess, jobs)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	d.Attempt, d.Earlier = n, n != latest
	if d.Earlier {
		d.Done = true // a finished attempt's record: nothing to follow live
	}
	for _, a := range attempts {
		d.Attempts = append(d.Attempts, uiAttemptView{N: a.Attempt, State: uiState(a.Status, a.Conclusion), Trigger: a.Trigger,
			Actor: a.Actor, Latest: a.Attempt == latest, Viewed: a.Attempt == n})
	}
	title := fmt.Sprintf("%s #%d · %s", uiWorkflowLabel(*run), run.Number, repo.Name)
	if latest > 1 {
		title = fmt.Sprintf("%s #%d (attempt %d) · %s", uiWorkflowLabel(*run), run.Number, n, repo.Name)
	}
	ui.render(w, r, "run.html", http.StatusOK, uiView{Title: title, Nav: "repos", Session: sess, Data: d})
}

// runData is what the run page shows of run: its latest attempt's jobs, or the given jobs
// (an earlier attempt's) when not nil.
func (ui *uiApp) runData(ctx context.Context, run *store.Run, repo *store.Repo, sess *uiSession, all []store.Job) (*uiRunData, error) {
	db := ui.s.cfg.DB
	if all == nil {
		var err error
		if all, err = db.ListJobStates(ctx, run.ID); err != nil {
			return nil, err
		}
	}
	promos, err := db.PromotionsOfRun(ctx, run.ID)
	if err != nil {
		return nil, fmt.Errorf("listing the deployments of run %d: %w", run.ID, err)
	}
	jobs, groupNames := uiShownJobs(all)
	rejected := uiRejectedJobs(jobs, promos)
	d := &uiRunData{Run: *run, Repo: *repo, State: uiRunDisplayState(run, jobs, rejected), Done: run.Status == store.StatusCompleted}
	boxes := make([]store.Job, len(jobs))
	copy(boxes, jobs)
	for i := range boxes {
		if rejected[boxes[i].ID] {
			boxes[i].Conclusion = uiStateRejected
		}
	}
	d.Columns = uiGraphColumns(boxes, groupNames)
	panel := &uiRunPanel{}
	var annotationJobs []int64
	names := map[int64]string{}
	for _, col := range d.Columns {
		for _, n := range col {
			for _, b := range n.Legs {
				names[b.ID] = b.Name
			}
		}
	}
	byID := map[int64]store.Job{}
	for _, j := range boxes {
		byID[j.ID] = j
	}
	// Jobs in graph order, so "first failing" means what the eye reads first.
	for _, col := range d.Columns {
		for _, n := range col {
			for _, b := range n.Legs {
				jd, err := ui.jobDetail(ctx, byID[b.ID], b)
				if err != nil {
					return nil, err
				}
				if jd.Failed {
					d.Failed = true
					if d.Open == 0 {
						d.Open, d.Focus = b.ID, "error"
					}
					fj := uiFailedJob{Box: b}
					for _, st := range jd.Steps {
						if st.Conclusion == store.ConclusionFailure {
							fj.Step = st.Name
							break
						}
					}
					panel.FailedJobs = append(panel.FailedJobs, fj)
				}
				for _, f := range jd.Failures {
					if len(panel.Tests) < uiTestFailuresShown {
						panel.Tests = append(panel.Tests, f)
					} else {
						panel.TestsMore++
					}
				}
				if jd.Tests != nil && len(jd.Tests.Failures()) > len(jd.Failures) {
					panel.TestsMore += len(jd.Tests.Failures()) - len(jd.Failures)
				}
				annotationJobs = append(annotationJobs, b.ID)
				if strings.TrimSpace(jd.summary) != "" {
					panel.Summaries = append(panel.Summaries, uiSummaryView{Job: b.Name, JobID: b.ID, HTML: ui.md.Render(jd.summary)})
				}
				d.Jobs = append(d.Jobs, jd)
			}
		}
	}
	if d.Open == 0 {
		for _, jd := range d.Jobs {
			if jd.Box.State == store.StatusInProgress {
				d.Open = jd.Box.ID
				break
			}
		}
	}
	if d.Open == 0 && len(d.Jobs) > 0 {
		d.Open = d.Jobs[0].Box.ID
	}
	for i := range panel.Summaries {
		panel.Summaries[i].Open = len(panel.Summaries) <= uiSummariesOpen
	}
	var ids []string
	seen := map[string]bool{}
	for _, t := range panel.Tests {
		if strings.HasSuffix(strings.SplitN(t.ID, "::", 2)[0], ".py") && !seen[t.ID] {
			seen[t.ID] = true
			ids = append(ids, uiShellQuote(t.ID))
		}
	}
	panel.PytestArgs = strings.Join(ids, " ")
	lines, err := db.LogsOfKinds(ctx, annotationJobs, []string{"error", "warning", "notice"}, uiAnnotationsShown)
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		a := uiParseAnnotation(l.Kind, l.Text)
		a.Job, a.JobID, a.Seq = names[l.JobID], l.JobID, l.Seq
		if a.File != "" {
			a.Source = uiSourceURL(repo.URL, run.SHA, a.File, a.Line)
		}
		panel.Annotations = append(panel.Annotations, a)
	}
	d.Panel = panel
	if ui.s.cfg.Artifacts != nil {
		if d.Artifacts, err = ui.s.cfg.Artifacts.List(uiArtifactRun(run.ID)); err != nil {
			return nil, err
		}
	}
	back := fmt.Sprintf("/runs/%d", run.ID)
	if d.Deploys, err = ui.deployBanners(ctx, repo, promos, sess, back); err != nil {
		return nil, err
	}
	return d, nil
}

// jobDetail reads a job's steps and test report for its panel.
func (ui *uiApp) jobDetail(ctx context.Context, j store.Job, box uiJobBox) (uiJobDetail, error) {
	steps, err := ui.s.cfg.DB.ListSteps(ctx, j.ID)
	if err != nil {
		return uiJobDetail{}, err
	}
	jd := uiJobDetail{Box: box, Job: j, Failed: box.State == store.ConclusionFailure}
	type stepInfo struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Duration string `json:"duration"`
	}
	info := map[int]stepInfo{}
	for _, st := range steps {
		v := uiStepView{Step: st, State: uiState(st.Status, st.Conclusion), Duration: uiDuration(st.StartedAt, st.FinishedAt)}
		jd.Steps = append(jd.Steps, v)
		info[st.Number] = stepInfo{Name: st.Name, State: v.State, Duration: v.Duration}
	}
	b, _ := json.Marshal(info)
	jd.StepsJSON = string(b)
	jd.summary, jd.Tests = ui.jobReports(j.ID)
	if jd.Tests != nil {
		for _, c := range jd.Tests.Failures() {
			if len(jd.Failures) == uiTestFailuresShown {
				break
			}
			jd.Failures = append(jd.Failures, uiTestFailure{ID: c.ID(), Message: c.Message, Output: c.Output, Job: box.Name, JobID: j.ID})
		}
	}
	return jd, nil
}

// uiRejectedJobs are the jobs that failed because a reviewer rejected their
// deployment: they never started, and their run carries a rejected
// promotion.
func uiRejectedJobs(jobs []store.Job, promos []cd.Promotion) map[int64]bool {
	anyRejected := false
	for _, p := range promos {
		if cd.Rejected(p) {
			anyRejected = true
		}
	}
	out := map[int64]bool{}
	if !anyRejected {
		return out
	}
	for _, j := range jobs {
		if j.Conclusion == store.ConclusionFailure && j.StartedAt == nil {
			out[j.ID] = true
		}
	}
	return out
}

// uiRunDisplayState is the run's one word: "rejected" when its only failures are
// rejected deployments.
func uiRunDisplayState(run *store.Run, jobs []store.Job, rejected map[int64]bool) string {
	st := uiState(run.Status, run.Conclusion)
	if st != store.ConclusionFailure || len(rejected) == 0 {
		return st
	}
	for _, j := range jobs {
		if j.Conclusion == store.ConclusionFailure && !rejected[j.ID] {
			return st
		}
	}
	return uiStateRejected
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
	ctx := r.Context()
	run, err := ui.s.cfg.DB.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	all, err := ui.s.cfg.DB.ListJobStates(ctx, runID)
	if err != nil {
		return nil, err
	}
	jobs, _ := uiShownJobs(all)
	var rejected map[int64]bool
	if run.Status == store.StatusCompleted && run.Conclusion == store.ConclusionFailure {
		promos, err := ui.s.cfg.DB.PromotionsOfRun(ctx, runID)
		if err != nil {
			return nil, err
		}
		rejected = uiRejectedJobs(jobs, promos)
	}
	st := &uiRunState{State: uiRunDisplayState(run, jobs, rejected), Duration: uiDuration(run.StartedAt, run.FinishedAt),
		Done: run.Status == store.StatusCompleted, Jobs: []uiJobBox{}}
	for _, j := range jobs {
		b := uiBox(j)
		if rejected[j.ID] {
			b.State = uiStateRejected
		}
		st.Jobs = append(st.Jobs, b)
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
