package server

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// uiRecentRuns bounds how many runs the repositories page reads per repo to
// find each workflow's latest.
const uiRecentRuns = 100

// uiRunsPerPage is the page size of a repository's run list.
const uiRunsPerPage = 25

// uiAgentOnline matches the store's default online window.
const uiAgentOnline = time.Minute

type uiRepoRow struct {
	Repo   store.Repo
	Latest []store.Run // newest run of each workflow, by workflow name
}

func (ui *uiApp) reposPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	repos, err := ui.s.cfg.DB.ListRepos(ctx)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	rows := make([]uiRepoRow, 0, len(repos))
	for _, repo := range repos {
		runs, err := ui.s.cfg.DB.ListRuns(ctx, store.RunFilter{RepoID: repo.ID, Limit: uiRecentRuns})
		if err != nil {
			ui.fail(w, r, err)
			return
		}
		row := uiRepoRow{Repo: repo}
		seen := map[string]bool{}
		for _, run := range runs {
			if !seen[run.Workflow] {
				seen[run.Workflow] = true
				row.Latest = append(row.Latest, run)
			}
		}
		sort.Slice(row.Latest, func(i, j int) bool { return uiWorkflowLabel(row.Latest[i]) < uiWorkflowLabel(row.Latest[j]) })
		rows = append(rows, row)
	}
	ui.render(w, r, "repos.html", http.StatusOK, uiView{Title: "Repositories", Nav: "repos", Session: sess, Data: rows})
}

func uiWorkflowLabel(r store.Run) string {
	if r.WorkflowName != "" {
		return r.WorkflowName
	}
	return r.Workflow
}

type uiRunsData struct {
	Repo store.Repo
	Runs []store.Run
	Next int64 // Before value of the next (older) page, 0 when none
	// Dispatch is the "Run workflow" form (ui_repos.go), nil for read-only sessions.
	Dispatch *uiDispatchForm
}

func (ui *uiApp) runsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	repo, err := ui.s.cfg.DB.GetRepoByName(ctx, r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		ui.notFound(w, r, sess, "repository "+r.PathValue("name"))
		return
	}
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	// One more than a page tells whether an older page exists.
	runs, err := ui.s.cfg.DB.ListRuns(ctx, store.RunFilter{RepoID: repo.ID, Before: before, Limit: uiRunsPerPage + 1})
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	d := uiRunsData{Repo: *repo, Runs: runs, Dispatch: ui.dispatchForm(ctx, repo, sess)}
	if len(runs) > uiRunsPerPage {
		d.Runs = runs[:uiRunsPerPage]
		d.Next = d.Runs[uiRunsPerPage-1].ID
	}
	ui.render(w, r, "runs.html", http.StatusOK, uiView{Title: repo.Name, Nav: "repos", Session: sess, Data: d})
}

type uiPendingRow struct {
	store.PendingJob
	Repo string
}

type uiAgentRow struct {
	Agent  store.Agent
	Online bool
	Jobs   []store.Job
}

type uiQueueData struct {
	Pending []uiPendingRow
	Agents  []uiAgentRow
}

func (ui *uiApp) queuePage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	db := ui.s.cfg.DB
	pending, err := db.PendingJobs(ctx)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	repoNames, err := ui.repoNames(r)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	runRepo := map[int64]string{}
	var d uiQueueData
	for _, p := range pending {
		name, ok := runRepo[p.Job.RunID]
		if !ok {
			if run, err := db.GetRun(ctx, p.Job.RunID); err == nil {
				name = repoNames[run.RepoID]
			}
			runRepo[p.Job.RunID] = name
		}
		d.Pending = append(d.Pending, uiPendingRow{PendingJob: p, Repo: name})
	}
	agents, err := db.ListAgents(ctx)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	running, err := ui.runningJobs(r)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	for _, a := range agents {
		row := uiAgentRow{Agent: a, Jobs: running[a.ID]}
		// The store's own online window is a minute; the page uses the same.
		row.Online = a.LastSeen != nil && time.Since(*a.LastSeen) < uiAgentOnline
		d.Agents = append(d.Agents, row)
	}
	ui.render(w, r, "queue.html", http.StatusOK, uiView{Title: "Queue", Nav: "queue", Session: sess, Data: d})
}

func (ui *uiApp) repoNames(r *http.Request) (map[int64]string, error) {
	repos, err := ui.s.cfg.DB.ListRepos(r.Context())
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(repos))
	for _, repo := range repos {
		names[repo.ID] = repo.Name
	}
	return names, nil
}

// runningJobs maps agent IDs to the jobs they hold, from the runs in progress.
func (ui *uiApp) runningJobs(r *http.Request) (map[int64][]store.Job, error) {
	ctx := r.Context()
	runs, err := ui.s.cfg.DB.ListRuns(ctx, store.RunFilter{Status: store.StatusInProgress, Limit: 500})
	if err != nil {
		return nil, err
	}
	out := map[int64][]store.Job{}
	for _, run := range runs {
		jobs, err := ui.s.cfg.DB.ListLatestJobs(ctx, run.ID)
		if err != nil {
			return nil, fmt.Errorf("listing jobs of run %d: %w", run.ID, err)
		}
		for _, j := range jobs {
			if j.Status == store.StatusInProgress && j.AgentID != nil {
				out[*j.AgentID] = append(out[*j.AgentID], j)
			}
		}
	}
	return out, nil
}
