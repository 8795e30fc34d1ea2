// Package scheduler plans runs and moves them along: a trigger becomes one
// run per workflow it starts, with a job row per job; a job is queued (or
// skipped) once the jobs it needs have finished, its matrix expanded then,
// and a run ends when its last job does. It implements server.Scheduler.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/delivery"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Config is what a scheduler needs.
type Config struct {
	DB      Store // *store.DB in the server
	DataDir string
	// GitURL is how agents fetch a repository's mirror: fmt with the repo ID,
	// e.g. "http://127.0.0.1:8080/git/%d.git".
	GitURL string
	// CloneURL returns the URL to fetch a repository from (credentials
	// included); nil means repo.URL.
	CloneURL func(*store.Repo) string
	// Status reports a run's state to its forge; nil reports nothing.
	Status func(ctx context.Context, run *store.Run)
	// Artifacts holds the runs' uploaded artifacts, of which releases are made.
	Artifacts *artifacts.Store
	// BuilderID names this server in provenance statements (its base URL).
	BuilderID string
	// Deployment reports a promotion's state to the repository's forge (a
	// GitHub deployment status); nil reports nothing.
	Deployment func(ctx context.Context, repo *store.Repo, p *cd.Promotion)
	// Workflows loads reusable workflows from other repositories
	// (owner/repo/path@ref); nil fails the jobs calling one, saying why.
	Workflows plan.Loader
	Log       *slog.Logger
	// Now is the clock the cron duty reads; nil is time.Now.
	Now func() time.Time
}

// Scheduler implements server.Scheduler.
type Scheduler struct {
	cfg    Config
	mirror mirror
	// bg runs the goroutines the scheduler starts itself (see Run); passes coalesces
	// concurrent requests to advance one run. Graph decisions are made under the run's
	// lock in the database, promotion decisions under the deployments lock, concurrency
	// group decisions under the groups lock (background.go), so any replica may make them.
	bg     background
	passes passes
	// finished holds the ended jobs whose runs are advanced off the agent's path (later.go).
	finished finishedLater
	// infos caches what planning reads of job specs (rowInfo by job ID),
	// plans each unfinished run's plan (by run ID and attempt).
	infos, plans sync.Map
	// timers re-check promotions whose gates open with time, by promotion ID.
	timers sync.Map
	// woken marks the ended jobs whose concurrency group was let move on, by job ID.
	woken sync.Map
	// wfRun: whether the default branch's workflows mention workflow_run, at the latest
	// commit looked at, by repository ID (workflowrun.go).
	wfRun sync.Map
}

// New makes a scheduler.
func New(cfg Config) *Scheduler {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Scheduler{cfg: cfg, mirror: mirror{dir: filepath.Join(cfg.DataDir, "repos"), locks: &sync.Map{}}}
}

var _ server.Scheduler = (*Scheduler)(nil)

func (s *Scheduler) cloneURL(r *store.Repo) string {
	if s.cfg.CloneURL != nil {
		return s.cfg.CloneURL(r)
	}
	return r.URL
}

// Trigger fetches the repository, loads its workflows at the commit and
// creates a run for each workflow the event starts.
func (s *Scheduler) Trigger(ctx context.Context, repo *store.Repo, t server.Trigger) ([]store.Run, error) {
	if t.SHA != "" && !commitID(t.SHA) {
		// It reaches git's argv (fetch, log, archive): "--output=..." there would be an option.
		return nil, fmt.Errorf("triggering %s: %q is not a commit id (4 to 64 hex digits)", t.Event, t.SHA)
	}
	extra := []string{}
	if t.SHA != "" {
		extra = append(extra, t.SHA)
	}
	if strings.HasPrefix(t.Ref, "refs/pull/") {
		extra = append(extra, strings.TrimSuffix(t.Ref, "/merge")+"/head")
	}
	if _, err := s.mirror.fetch(ctx, repo.ID, s.cloneURL(repo), extra...); err != nil {
		return nil, err
	}
	if t.SHA == "" {
		ref := t.Ref
		if ref == "" {
			ref = "refs/heads/" + firstNonEmpty(repo.DefaultBranch, "main")
		}
		if !strings.HasPrefix(ref, "refs/") {
			if _, err := s.mirror.resolve(ctx, repo.ID, "refs/heads/"+ref); err == nil {
				ref = "refs/heads/" + ref
			} else {
				ref = "refs/tags/" + ref
			}
		}
		sha, err := s.mirror.resolve(ctx, repo.ID, ref)
		if err != nil {
			return nil, err
		}
		t.SHA, t.Ref = sha, ref
	}
	var target []store.Run
	if t.Event == "pull_request" && t.BaseRef != "" && t.Workflow == "" {
		// The same pull request activity starts the base branch's pull_request_target
		// workflows, whatever its head commit says.
		var err error
		if target, err = s.pullRequestTarget(ctx, repo, t); err != nil {
			return target, err
		}
	}
	runs, err := s.triggerAt(ctx, repo, t)
	return append(runs, target...), err
}

// pullRequestTarget starts the pull_request_target workflows of pull request trigger t as
// GitHub does: from the base branch's workflow files at its tip (never the head's, which the
// pull request may have changed), with github.sha and github.ref the base branch's, its paths
// filters seeing the pull request's whole (three-dot) diff, and secrets, since what runs is
// the base branch's own code (a fork's head is not checked out unless a step does so).
func (s *Scheduler) pullRequestTarget(ctx context.Context, repo *store.Repo, t server.Trigger) ([]store.Run, error) {
	base := "refs/heads/" + strings.TrimPrefix(t.BaseRef, "refs/heads/")
	sha, err := s.mirror.resolve(ctx, repo.ID, base)
	if err != nil {
		// The pull request's own runs go ahead; only its base's workflows cannot be read.
		s.cfg.Log.Warn("pull_request_target: the base branch is not in the repository: no pull_request_target runs",
			"repo", repo.Name, "base", t.BaseRef, "err", err)
		return nil, nil
	}
	tt := t
	tt.Event, tt.Ref, tt.SHA, tt.Before, tt.Fork = "pull_request_target", base, sha, "", false
	// tt keeps the delivery: a replay finds these runs by (delivery, file, event), so a file on
	// both pull_request and pull_request_target has one run of each, never two of either.
	if files, ok := s.mirror.pullChangedFiles(ctx, repo.ID, t.BaseRef, t.SHA); ok {
		tt.ChangedFiles = files
	} else if tt.ChangedFiles == nil {
		tt.ChangedFiles = s.mirror.changedFiles(ctx, repo.ID, t.Before, t.SHA)
	}
	// The payload is the pull request's (head, base, number), completed from the head.
	tt.Payload = maps.Clone(s.completePayload(ctx, repo, t))
	return s.triggerAt(ctx, repo, tt)
}

// triggerAt is Trigger once the mirror has t's commit: it loads the workflows at t.SHA and
// creates a run for each one t starts.
func (s *Scheduler) triggerAt(ctx context.Context, repo *store.Repo, t server.Trigger) ([]store.Run, error) {
	if plan.SkipsCI(t.Event, s.mirror.fullMessage(ctx, repo.ID, t.SHA)) {
		// GitHub runs no push or pull_request workflow for a head commit that says
		// [skip ci] (or a variant, or a skip-checks: true trailer).
		s.cfg.Log.Info("the head commit asks to skip CI: no runs", "repo", repo.Name, "event", t.Event, "sha", t.SHA)
		return nil, nil
	}
	tree, err := os.MkdirTemp(s.cfg.DataDir, "plan-")
	if err != nil {
		return nil, fmt.Errorf("preparing to read workflows: %w", err)
	}
	defer os.RemoveAll(tree)
	if err := s.mirror.export(ctx, repo.ID, t.SHA, tree); err != nil {
		return nil, err
	}
	wfDir := filepath.Join(tree, ".github", "workflows")
	if _, err := os.Stat(wfDir); err != nil {
		return nil, nil // no workflows at that commit: nothing to run
	}
	envCfg, envErr := readEnvironments(tree)
	s.recordEnvironments(ctx, repo, t.Ref, envCfg)
	deploy := deployInfo{cfg: envCfg, err: envErr, lockHash: delivery.LockHash(tree)}
	wfs, invalid, lerr := workflow.LoadAll(ctx, tree, wfDir)
	if lerr != nil {
		return nil, lerr
	}
	for _, wf := range wfs {
		if len(wf.Warnings) > 0 {
			s.cfg.Log.Info("workflow warnings (the workflow runs, as on GitHub)", "repo", repo.Name, "sha", t.SHA, "workflow", wf.Path, "warnings", wf.Warnings.Error())
		}
	}
	if t.Event == "pull_request" && t.BaseRef != "" {
		// paths: of a pull request look at everything it changes against its base branch
		// (the three-dot diff), not at its newest commits.
		if files, ok := s.mirror.pullChangedFiles(ctx, repo.ID, t.BaseRef, t.SHA); ok {
			t.ChangedFiles = files
		}
	}
	if t.ChangedFiles == nil && (t.Event == "push" || t.Event == "pull_request") {
		t.ChangedFiles = s.mirror.changedFiles(ctx, repo.ID, t.Before, t.SHA)
	}
	names := statusNames(wfs)
	ev := workflow.Event{Name: t.Event, Action: t.Action, Ref: t.Ref, BaseRef: t.BaseRef, ChangedFiles: t.ChangedFiles}
	if t.Event == "workflow_run" {
		ev.Workflow, ev.Ref = workflow.WorkflowRunFilter(t.Payload)
	}
	t.Payload = s.completePayload(ctx, repo, t)
	var runs []store.Run
	for _, wf := range wfs {
		if t.Workflow != "" && wf.Path != t.Workflow && filepath.Base(wf.Path) != t.Workflow {
			continue
		}
		if ok, _ := wf.Triggered(ev); !ok {
			continue
		}
		if t.Event == "workflow_dispatch" {
			if _, err := workflow.DispatchInputs(wf, t.Inputs); err != nil {
				return runs, fmt.Errorf("%s: %w", wf.Path, err)
			}
		}
		called, callErrs := plan.Resolve(ctx, wf, s.loader(tree))
		run, err := s.createRun(ctx, repo, t, wf, names[wf.Path], deploy, called, callErrs)
		if err != nil {
			return runs, err
		}
		runs = append(runs, *run)
	}
	// A file GitHub would refuse fails as its own run; the push's other workflows still run.
	var failed []store.Run
	for _, inv := range invalid {
		if t.Workflow != "" && inv.Path != t.Workflow && filepath.Base(inv.Path) != t.Workflow {
			continue
		}
		run, err := s.invalidRun(ctx, repo, t, inv.Errors)
		if err != nil {
			return runs, err
		}
		failed = append(failed, *run)
	}
	if t.Workflow != "" && len(runs)+len(failed) == 0 {
		return nil, fmt.Errorf("workflow %q does not exist at %s or is not triggered by %s", t.Workflow, t.SHA[:min(12, len(t.SHA))], t.Event)
	}
	for i := range runs {
		if err := s.advance(ctx, runs[i].ID); err != nil {
			return runs, err
		}
	}
	return append(runs, failed...), nil
}

// deployInfo is what a commit says about deployments: its environments
// file and lockfile hash.
type deployInfo struct {
	cfg      *cd.Config
	err      string
	lockHash string
}

func (s *Scheduler) createRun(ctx context.Context, repo *store.Repo, t server.Trigger, wf *workflow.Workflow, statusName string, d deployInfo,
	called map[string]*workflow.Workflow, callErrs map[string]string) (*store.Run, error) {
	if t.DeliveryID != 0 {
		// A delivery replayed after a replica died part-way: its runs made then stand.
		if r, err := s.cfg.DB.RunOfDelivery(ctx, t.DeliveryID, wf.Path, t.Event); err == nil {
			return r, nil
		}
	}
	payload, _ := json.Marshal(t.Payload)
	run := store.Run{
		RepoID: repo.ID, Workflow: wf.Path, WorkflowName: wf.Name(), Event: t.Event, Ref: t.Ref, SHA: t.SHA,
		Title: firstNonEmpty(s.mirror.message(ctx, repo.ID, t.SHA), t.Event), Trigger: firstNonEmpty(t.Source, store.TriggerManual),
		Actor: t.Actor, Inputs: t.Inputs, Payload: payload, DeliveryID: t.DeliveryID, StatusName: statusName,
	}
	base := Spec{Environments: d.cfg, EnvironmentsError: d.err, LockHash: d.lockHash, CallErrors: callErrs}
	base.Run = jobspec.Run{RepoURL: fmt.Sprintf(s.cfg.GitURL, repo.ID), Repository: repoFullName(repo), RepoID: repo.ID, DefaultBranch: repo.DefaultBranch,
		SHA: t.SHA, Ref: t.Ref, Event: t.Event, Payload: t.Payload, WorkflowPath: wf.Path, WorkflowName: wf.Name(), Inputs: t.Inputs, Actor: t.Actor, Fork: t.Fork}
	// The repository's variables are the run's vars context from its planning on (job
	// conditions, runs-on and concurrency groups read them as steps do); an environment's
	// variables join them on the agent, for a deployment whose gates passed.
	vars, err := s.cfg.DB.RepoVars(ctx, repo.ID)
	if err != nil {
		return nil, err
	}
	base.Run.Vars = vars
	if len(called) > 0 {
		base.Called = map[string]Source{}
		for k, cw := range called {
			base.Called[k] = Source{Path: cw.Path, Source: string(cw.Source)}
		}
	}
	// A pull request from a fork runs someone else's code: it waits for a
	// maintainer, unless the repository says otherwise (and never gets
	// secrets either way).
	if t.Fork && !repo.ForkRunsWithoutApproval {
		run.HoldReason = "waiting for a maintainer's approval: a pull request from a fork (sluice approve-run RUN)"
	}
	p, err := plan.New(plan.Input{Run: base.Run, Workflow: wf, Called: called, CallErrors: callErrs, OtherOS: plan.WaitForAgent})
	if err != nil {
		return nil, err
	}
	r, _, err := s.cfg.DB.CreateRun(ctx, run, s.placeholders(base, p, p.Rows()))
	if errors.Is(err, store.ErrConflict) && t.DeliveryID != 0 {
		// Another replica made it meanwhile (it replayed the same delivery).
		return s.cfg.DB.RunOfDelivery(ctx, t.DeliveryID, wf.Path, t.Event)
	}
	if err != nil {
		return nil, fmt.Errorf("recording the run of %s: %w", wf.Path, err)
	}
	// The group is evaluated once the run exists: it may read github.run_id and
	// github.run_number, as on GitHub.
	pr, err := planOf(r, &Spec{Spec: jobspec.Spec{Run: base.Run, Job: jobspec.Job{WorkflowSource: string(wf.Source)}}})
	if err != nil {
		return nil, err
	}
	if err := s.enterRunGroup(ctx, r, pr); err != nil {
		return nil, err
	}
	s.report(ctx, r)
	return r, nil
}

// statusNames names each workflow in its runs' commit status contexts: its name, or
// "name (file)" when another workflow file of the commit has the same name, so that two
// workflows called "CI" do not overwrite each other's statuses. It is decided from every
// workflow of the commit, triggered or not, so a run's statuses keep one name whichever
// of the workflows an event starts.
func statusNames(wfs []*workflow.Workflow) map[string]string {
	count := map[string]int{}
	for _, wf := range wfs {
		count[wf.Name()]++
	}
	out := make(map[string]string, len(wfs))
	for _, wf := range wfs {
		out[wf.Path] = wf.Name()
		if count[wf.Name()] > 1 {
			out[wf.Path] = fmt.Sprintf("%s (%s)", wf.Name(), filepath.Base(wf.Path))
		}
	}
	return out
}

// loader reads called workflows: ./ paths from the commit's tree, others through
// Config.Workflows.
func (s *Scheduler) loader(tree string) plan.Loader {
	return plan.RepoLoader(tree, s.cfg.Workflows)
}

// invalidRun records a run that failed before any job: its workflows do
// not validate. The errors are the job's reason, shown where logs are.
func (s *Scheduler) invalidRun(ctx context.Context, repo *store.Repo, t server.Trigger, errs workflow.Errors) (*store.Run, error) {
	path := errs[0].File
	if t.DeliveryID != 0 {
		// A delivery replayed after a replica died part-way: the invalid file's run made then stands.
		if r, err := s.cfg.DB.RunOfDelivery(ctx, t.DeliveryID, path, t.Event); err == nil {
			return r, nil
		}
	}
	run := store.Run{RepoID: repo.ID, Workflow: path, WorkflowName: path, Event: t.Event, Ref: t.Ref, SHA: t.SHA,
		Title: "invalid workflow", Trigger: firstNonEmpty(t.Source, store.TriggerManual), Actor: t.Actor, DeliveryID: t.DeliveryID}
	r, jobs, err := s.cfg.DB.CreateRun(ctx, run, []store.Job{{Key: "lint", Name: "lint"}})
	if errors.Is(err, store.ErrConflict) && t.DeliveryID != 0 {
		return s.cfg.DB.RunOfDelivery(ctx, t.DeliveryID, path, t.Event)
	}
	if err != nil {
		return nil, fmt.Errorf("recording the run of invalid %s: %w", path, err)
	}
	completed, failure, reason := store.StatusCompleted, store.ConclusionFailure, errs.Error()
	if _, err := s.cfg.DB.UpdateJob(ctx, jobs[0].ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &reason}); err != nil {
		return nil, err
	}
	r, _, err = s.cfg.DB.FinishRunIfDone(ctx, r.ID)
	return r, err
}

// literalLabels are a job's runs-on labels as written, shown while the job waits; the
// plan evaluates them when it starts the job.
func literalLabels(j *actionlint.Job) []string {
	if j == nil || j.RunsOn == nil {
		return nil
	}
	var out []string
	for _, l := range j.RunsOn.Labels {
		out = append(out, l.Value)
	}
	return out
}

func repoFullName(r *store.Repo) string {
	u := strings.TrimSuffix(strings.TrimSuffix(r.URL, "/"), ".git")
	parts := strings.Split(strings.ReplaceAll(u, ":", "/"), "/")
	if len(parts) >= 2 {
		return parts[len(parts)-2] + "/" + parts[len(parts)-1]
	}
	return "local/" + r.Name
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (s *Scheduler) report(ctx context.Context, r *store.Run) {
	if s.cfg.Status != nil && r != nil {
		s.cfg.Status(ctx, r)
	}
}

// commitID says whether s is a full or abbreviated commit id (SHA-1 or SHA-256, hex).
func commitID(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
