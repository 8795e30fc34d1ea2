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
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/delivery"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Config is what a scheduler needs.
type Config struct {
	DB      *store.DB
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
	Log        *slog.Logger
}

// Scheduler implements server.Scheduler.
type Scheduler struct {
	cfg    Config
	mirror mirror
	// bg runs the goroutines the scheduler starts itself (see Run); passes coalesces
	// concurrent requests to advance one run.
	bg     background
	passes passes
	// infos and limits cache what planning reads of job specs (specInfo by
	// job ID, max-parallel by "run/job").
	infos, limits sync.Map
	// timers re-check promotions whose gates open with time, by promotion ID.
	timers sync.Map
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
	wfs, lerr := workflow.LoadAll(ctx, tree, wfDir)
	if lerr != nil {
		var errs workflow.Errors
		if !errors.As(lerr, &errs) {
			return nil, lerr
		}
		run, err := s.invalidRun(ctx, repo, t, errs)
		if err != nil {
			return nil, err
		}
		return []store.Run{*run}, nil
	}
	if t.ChangedFiles == nil && (t.Event == "push" || strings.HasPrefix(t.Event, "pull_request")) {
		t.ChangedFiles = s.mirror.changedFiles(ctx, repo.ID, t.Before, t.SHA)
	}
	ev := workflow.Event{Name: t.Event, Action: t.Action, Ref: t.Ref, BaseRef: t.BaseRef, ChangedFiles: t.ChangedFiles}
	if t.Payload == nil {
		t.Payload = map[string]any{}
	}
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
		run, err := s.createRun(ctx, repo, t, wf, deploy)
		if err != nil {
			return runs, err
		}
		runs = append(runs, *run)
	}
	if t.Workflow != "" && len(runs) == 0 {
		return nil, fmt.Errorf("workflow %q does not exist at %s or is not triggered by %s", t.Workflow, t.SHA[:min(12, len(t.SHA))], t.Event)
	}
	for i := range runs {
		if err := s.advance(ctx, runs[i].ID); err != nil {
			return runs, err
		}
	}
	return runs, nil
}

// deployInfo is what a commit says about deployments: its environments
// file and lockfile hash.
type deployInfo struct {
	cfg      *cd.Config
	err      string
	lockHash string
}

func (s *Scheduler) createRun(ctx context.Context, repo *store.Repo, t server.Trigger, wf *workflow.Workflow, d deployInfo) (*store.Run, error) {
	if t.DeliveryID != 0 {
		// A delivery replayed after a replica died part-way: its runs made then stand.
		if r, err := s.cfg.DB.RunOfDelivery(ctx, t.DeliveryID, wf.Path); err == nil {
			return r, nil
		}
	}
	payload, _ := json.Marshal(t.Payload)
	run := store.Run{
		RepoID: repo.ID, Workflow: wf.Path, WorkflowName: wf.Name(), Event: t.Event, Ref: t.Ref, SHA: t.SHA,
		Title: firstNonEmpty(s.mirror.message(ctx, repo.ID, t.SHA), t.Event), Trigger: firstNonEmpty(t.Source, store.TriggerManual),
		Actor: t.Actor, Inputs: t.Inputs, Payload: payload, DeliveryID: t.DeliveryID,
	}
	base := Spec{RepoURL: fmt.Sprintf(s.cfg.GitURL, repo.ID), Repository: repoFullName(repo), RepoID: repo.ID, DefaultBranch: repo.DefaultBranch, SHA: t.SHA, Ref: t.Ref,
		Event: t.Event, Payload: t.Payload, WorkflowPath: wf.Path, WorkflowSource: string(wf.Source),
		Inputs: t.Inputs, Actor: t.Actor, Fork: t.Fork,
		Environments: d.cfg, EnvironmentsError: d.err, LockHash: d.lockHash}
	if c := wf.AST.Concurrency; c != nil && c.Group != nil {
		run.ConcurrencyGroup = c.Group.Value
		if c.Group.ContainsExpression() {
			ev := s.evaluator(base)
			if g, err := ev.Interpolate(c.Group.Value); err == nil {
				run.ConcurrencyGroup = g
			}
		}
	}
	// A pull request from a fork runs someone else's code: it waits for a
	// maintainer, unless the repository says otherwise (and never gets
	// secrets either way).
	if t.Fork && !repo.ForkRunsWithoutApproval {
		run.HoldReason = "waiting for a maintainer's approval: a pull request from a fork (sluice approve-run RUN)"
	}
	var jobs []store.Job
	for _, id := range wf.JobIDs() {
		j := wf.Job(id)
		spec := base
		spec.JobID = id
		var needs []string
		for _, n := range j.Needs {
			needs = append(needs, n.Value)
		}
		jobs = append(jobs, store.Job{Key: id, Name: jobName(j, id), Needs: needs, Labels: labels(j), Spec: spec.encode()})
	}
	r, _, err := s.cfg.DB.CreateRun(ctx, run, jobs)
	if errors.Is(err, store.ErrConflict) && t.DeliveryID != 0 {
		// Another replica made it meanwhile (it replayed the same delivery).
		return s.cfg.DB.RunOfDelivery(ctx, t.DeliveryID, wf.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("recording the run of %s: %w", wf.Path, err)
	}
	if c := wf.AST.Concurrency; c != nil && c.CancelInProgress != nil && c.CancelInProgress.Value && r.ConcurrencyGroup != "" {
		s.cancelGroup(ctx, r)
	}
	s.report(ctx, r)
	return r, nil
}

// invalidRun records a run that failed before any job: its workflows do
// not validate. The errors are the job's reason, shown where logs are.
func (s *Scheduler) invalidRun(ctx context.Context, repo *store.Repo, t server.Trigger, errs workflow.Errors) (*store.Run, error) {
	run := store.Run{RepoID: repo.ID, Workflow: errs[0].File, WorkflowName: errs[0].File, Event: t.Event, Ref: t.Ref, SHA: t.SHA,
		Title: "invalid workflow", Trigger: firstNonEmpty(t.Source, store.TriggerManual), Actor: t.Actor}
	r, jobs, err := s.cfg.DB.CreateRun(ctx, run, []store.Job{{Key: "lint", Name: "lint"}})
	if err != nil {
		return nil, err
	}
	completed, failure, reason := store.StatusCompleted, store.ConclusionFailure, errs.Error()
	if _, err := s.cfg.DB.UpdateJob(ctx, jobs[0].ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &reason}); err != nil {
		return nil, err
	}
	r, _, err = s.cfg.DB.FinishRunIfDone(ctx, r.ID)
	return r, err
}

func jobName(j *actionlint.Job, id string) string {
	if j.Name != nil && !j.Name.ContainsExpression() {
		return j.Name.Value
	}
	return id
}

func labels(j *actionlint.Job) []string {
	if j.RunsOn == nil {
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
