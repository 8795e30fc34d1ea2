package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
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

// uiRunFilter is a runs list's filters, as they are in the URL.
type uiRunFilter struct {
	Branch, Workflow, Event, Status, Actor string
}

// Query is the filters as a URL query (with a leading "?" unless empty),
// plus before when not 0.
func (f uiRunFilter) Query(before int64) string {
	q := url.Values{}
	for k, v := range map[string]string{"branch": f.Branch, "workflow": f.Workflow, "event": f.Event, "status": f.Status, "actor": f.Actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if before != 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Active reports whether any filter is set.
func (f uiRunFilter) Active() bool { return f != uiRunFilter{} }

// uiRunStatuses are the choices of the status filter.
var uiRunStatuses = []string{store.ConclusionSuccess, store.ConclusionFailure, store.ConclusionCancelled,
	store.StatusInProgress, store.StatusQueued}

// storeFilter turns the URL's filters into the store's, with facets to map
// short names (main, ci.yml) to what runs record (refs/heads/main,
// .github/workflows/ci.yml).
func (f uiRunFilter) storeFilter(repoID int64, facets *store.RunFacets) store.RunFilter {
	sf := store.RunFilter{RepoID: repoID, Event: f.Event, Actor: f.Actor}
	if f.Branch != "" {
		sf.Ref = f.Branch
		if !strings.HasPrefix(f.Branch, "refs/") {
			sf.Ref = "refs/heads/" + f.Branch
			for _, r := range facets.Refs {
				if uiRefName(r) == f.Branch {
					sf.Ref = r
					break
				}
			}
		}
	}
	if f.Workflow != "" {
		sf.Workflow = f.Workflow
		for _, w := range facets.Workflows {
			if path.Base(w) == f.Workflow {
				sf.Workflow = w
				break
			}
		}
	}
	switch f.Status {
	case store.ConclusionSuccess, store.ConclusionFailure, store.ConclusionCancelled:
		sf.Status, sf.Conclusion = store.StatusCompleted, f.Status
	case "":
	default:
		sf.Status = f.Status
	}
	return sf
}

type uiOptionList struct {
	Name, Label string
	Options     []uiOption
}

// uiRunRow is a run in a list, with the one word its state reads as.
type uiRunRow struct {
	store.Run
	State string
}

// runRows gives each run its state as the run page shows it: a failed run
// whose failures are all rejected deployments reads "rejected".
func (ui *uiApp) runRows(ctx context.Context, runs []store.Run) ([]uiRunRow, error) {
	rows := make([]uiRunRow, len(runs))
	for i, r := range runs {
		rows[i] = uiRunRow{Run: r, State: uiState(r.Status, r.Conclusion)}
		if r.Conclusion != store.ConclusionFailure {
			continue
		}
		promos, err := ui.s.cfg.DB.PromotionsOfRun(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(promos, cd.Rejected) {
			continue
		}
		all, err := ui.s.cfg.DB.ListJobStates(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		jobs, _ := uiShownJobs(all)
		rows[i].State = uiRunDisplayState(&runs[i], jobs, uiRejectedJobs(jobs, promos))
	}
	return rows, nil
}

type uiRunsData struct {
	Repo    store.Repo
	Runs    []uiRunRow
	Filter  uiRunFilter
	Filters []uiOptionList
	Next    int64 // Before value of the next (older) page, 0 when none
	// Dispatch is the "Run workflow" form (ui_repos.go), nil for read-only sessions.
	Dispatch *uiDispatchForm
	Deploys  []uiDeployBanner
	Badges   []uiBadge
}

// uiBadge is a status badge a README can embed.
type uiBadge struct {
	Label    string
	Src      string // the SVG's path on this server, for the preview
	Markdown string // for a README: absolute URLs from the server's base URL
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
	q := r.URL.Query()
	f := uiRunFilter{Branch: q.Get("branch"), Workflow: q.Get("workflow"), Event: q.Get("event"), Status: q.Get("status"), Actor: q.Get("actor")}
	facets, err := ui.s.cfg.DB.ListRunFacets(ctx, repo.ID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	sf := f.storeFilter(repo.ID, facets)
	sf.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	// One more than a page tells whether an older page exists.
	sf.Limit = uiRunsPerPage + 1
	runs, err := ui.s.cfg.DB.ListRuns(ctx, sf)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	d := uiRunsData{Repo: *repo, Filter: f, Dispatch: ui.dispatchForm(ctx, repo, sess)}
	if len(runs) > uiRunsPerPage {
		runs = runs[:uiRunsPerPage]
		d.Next = runs[uiRunsPerPage-1].ID
	}
	if d.Runs, err = ui.runRows(ctx, runs); err != nil {
		ui.fail(w, r, err)
		return
	}
	d.Filters = uiRunFilterChoices(f, facets)
	active, err := ui.s.cfg.DB.ActivePromotions(ctx, repo.ID)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	if d.Deploys, err = ui.deployBanners(ctx, repo, active, sess, uiRepoPath(repo.Name)); err != nil {
		ui.fail(w, r, err)
		return
	}
	d.Badges = ui.badges(repo, facets)
	ui.render(w, r, "runs.html", http.StatusOK, uiView{Title: repo.Name, Nav: "repos", Session: sess, Data: d})
}

// uiRunFilterChoices are the filters' select boxes, from the values the
// repository's runs have (plus the one in the URL, if it is not among them).
func uiRunFilterChoices(f uiRunFilter, facets *store.RunFacets) []uiOptionList {
	list := func(name, label, cur string, values []string, show func(string) string) uiOptionList {
		l := uiOptionList{Name: name, Label: label, Options: []uiOption{{Value: "", Label: "any"}}}
		seen := map[string]bool{}
		for _, v := range values {
			short := show(v)
			if seen[short] {
				continue
			}
			seen[short] = true
			l.Options = append(l.Options, uiOption{Value: short, Label: short, Selected: short == cur})
		}
		if cur != "" && !seen[cur] {
			l.Options = append(l.Options, uiOption{Value: cur, Label: cur, Selected: true})
		}
		return l
	}
	same := func(s string) string { return s }
	return []uiOptionList{
		list("branch", "Branch", f.Branch, facets.Refs, uiRefName),
		list("workflow", "Workflow", f.Workflow, facets.Workflows, path.Base),
		list("event", "Event", f.Event, facets.Events, same),
		list("status", "Status", f.Status, uiRunStatuses, same),
		list("actor", "Actor", f.Actor, facets.Actors, same),
	}
}

// badges lists a repository's badges: its own (every workflow's latest
// completed run on the default branch) and one per workflow.
func (ui *uiApp) badges(repo *store.Repo, facets *store.RunFacets) []uiBadge {
	base := strings.TrimSuffix(ui.s.cfg.BaseURL, "/")
	src := "/badge/" + url.PathEscape(repo.Name) + ".svg"
	out := []uiBadge{{Label: repo.Name, Src: src}}
	for _, w := range facets.Workflows {
		out = append(out, uiBadge{Label: path.Base(w), Src: src + "?workflow=" + url.QueryEscape(path.Base(w))})
	}
	for i := range out {
		out[i].Markdown = fmt.Sprintf("[![%s](%s%s)](%s%s)", out[i].Label, base, out[i].Src, base, uiRepoPath(repo.Name))
	}
	return out
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
