package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

var _ server.Deployer = (*Scheduler)(nil)
var _ server.EnvironmentURLRecorder = (*Scheduler)(nil)

type promoteReq struct {
	release, env, by string
	kind             cd.Kind
	auto             bool
	previous         int64
}

// Promote starts a promotion of an existing release: its environment's
// deployment job(s) run again from the release's own run definition, with
// the release's own artifacts, never rebuilding.
func (s *Scheduler) Promote(ctx context.Context, repo *store.Repo, req server.PromoteRequest) (*cd.Promotion, error) {
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.promote(ctx, repo, promoteReq{release: req.Release, env: req.Env, by: req.By, kind: req.Kind})
}

// Rollback promotes the release env ran before its current one, or the
// one promotion `to` deployed.
func (s *Scheduler) Rollback(ctx context.Context, repo *store.Repo, env string, to int64, by string) (*cd.Promotion, error) {
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.rollback(ctx, repo, env, to, by, false)
}

func (s *Scheduler) rollback(ctx context.Context, repo *store.Repo, env string, to int64, by string, auto bool) (*cd.Promotion, error) {
	history, err := s.cfg.DB.ListPromotions(ctx, repo.ID, env, 1000)
	if err != nil {
		return nil, err
	}
	target, err := cd.RollbackTarget(history, to)
	if err != nil {
		return nil, err
	}
	var current int64
	for _, h := range history { // newest first
		if h.State == cd.StateInProgress || h.State == cd.StateSuccess || h.State == cd.StateFailure {
			current = h.ID
			break
		}
	}
	return s.promote(ctx, repo, promoteReq{release: target.ReleaseID, env: env, by: by, kind: cd.KindRollback, auto: auto, previous: current})
}

// promote records a promotion and the run that carries it out. Refusals
// that no waiting can change (a tampered or rejected release, a ref the
// environment does not admit, an upstream the release never passed) are
// recorded as an errored promotion and returned. Called with deployMu held.
func (s *Scheduler) promote(ctx context.Context, repo *store.Repo, req promoteReq) (*cd.Promotion, error) {
	rel, err := s.cfg.DB.FindRelease(ctx, repo.ID, req.release)
	if err != nil {
		return nil, err
	}
	cfg, err := s.environments(ctx, repo.ID, nil)
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.Env(req.env); !ok && !s.releaseDeploysTo(ctx, rel, req.env) {
		return nil, fmt.Errorf("environment %q: neither %s nor the release's workflow declares it: %w", req.env, cd.DefaultPath, store.ErrNotFound)
	}
	env := environment(cfg, req.env)
	kind := req.kind
	if kind == "" {
		kind = cd.KindForward
		if env.Eligible(rel.Ref, cd.KindForward) != nil && env.Eligible(rel.Ref, cd.KindHotfix) == nil {
			kind = cd.KindHotfix
		}
	}
	p, err := s.cfg.DB.CreatePromotion(ctx, repo.ID, cd.Promotion{Env: req.env, ReleaseID: rel.ID, Kind: kind,
		StartedBy: req.by, Auto: req.auto, Previous: req.previous})
	if err != nil {
		return nil, err
	}
	history, err := s.cfg.DB.ListPromotions(ctx, repo.ID, "", 1000)
	if err != nil {
		return nil, err
	}
	res := cd.Gate(cd.GateInput{Env: env, Release: *rel, Promotion: *p, History: history, Now: time.Now(),
		DigestErr: s.verifyRelease(ctx, rel)})
	if res.Refused != nil && !s.upstreamActive(history, env, rel.ID) {
		if err := s.end(ctx, p, cd.EventError, res.Refused.Error()); err != nil {
			return nil, err
		}
		return p, fmt.Errorf("promoting %s to %s: %w", shortRelease(rel.ID), req.env, res.Refused)
	}
	runID, err := s.promotionRun(ctx, repo, rel, p)
	if err != nil {
		_ = s.end(ctx, p, cd.EventError, err.Error())
		return nil, err
	}
	if runID != 0 {
		if p, err = s.cfg.DB.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{RunID: &runID}); err != nil {
			return nil, err
		}
		// Planning the run holds its deployment jobs and gates them.
		s.later(ctx, runID)
		return p, nil
	}
	if err := s.regate(ctx, p.ID); err != nil {
		return nil, err
	}
	return s.cfg.DB.GetPromotion(ctx, p.ID)
}

func (s *Scheduler) upstreamActive(history []cd.Promotion, env cd.Environment, release string) bool {
	for _, h := range history {
		if h.ReleaseID == release && !h.State.Terminal() {
			for _, u := range env.Upstream {
				if h.Env == u {
					return true
				}
			}
		}
	}
	return false
}

// releaseDeploysTo reports whether the workflow that built rel has a job
// for env.
func (s *Scheduler) releaseDeploysTo(ctx context.Context, rel *cd.Release, env string) bool {
	return rel.RunID != 0 && s.runDeploysTo(ctx, rel.RunID, env)
}

func shortRelease(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	return h[:min(12, len(h))]
}

// promotionRun makes the run that deploys rel into p's environment: the
// jobs of the release's run that deploy there run again, and the jobs they
// need (directly or not) carry over as succeeded with their outputs, so
// nothing is built again. The release's artifacts, verified, are the new
// run's. It returns 0 when the release's workflow has no job for the
// environment.
func (s *Scheduler) promotionRun(ctx context.Context, repo *store.Repo, rel *cd.Release, p *cd.Promotion) (int64, error) {
	if rel.RunID == 0 {
		return 0, nil
	}
	src, err := s.cfg.DB.GetRun(ctx, rel.RunID)
	if err != nil {
		return 0, fmt.Errorf("reading the release's run: %w", err)
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, rel.RunID)
	if err != nil {
		return 0, err
	}
	// Only the release run's top-level jobs carry over; legs and called workflows' jobs
	// are planned again when their job is. A verification job is no job of the workflow
	// (its spec holds sluice's one-step workflow, not the release's).
	jobs = s.workflowJobs(ctx, jobs)
	rows := map[string]store.Job{}
	for _, j := range jobs {
		if j.Parent == "" {
			rows[strings.ToLower(j.Key)] = j
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	pl, base, err := s.planFor(ctx, src, jobs)
	if err != nil {
		return 0, err
	}
	wf := pl.Workflow(pl.Run().WorkflowPath)
	deploy := s.deployJobs(wf, Spec{Spec: jobspec.Spec{Run: pl.Run()}}, p.Env)
	if len(deploy) == 0 {
		return 0, nil
	}
	// Every job the deployment jobs need, at any depth, carries over.
	carry := map[string]bool{}
	var walk func(key string)
	walk = func(key string) {
		j, ok := rows[strings.ToLower(key)]
		if !ok {
			return
		}
		for _, n := range j.Needs {
			if !carry[strings.ToLower(n)] {
				carry[strings.ToLower(n)] = true
				walk(n)
			}
		}
	}
	isDeploy := map[string]bool{}
	for _, id := range deploy {
		isDeploy[strings.ToLower(id)] = true
		walk(id)
	}
	verb := map[cd.Kind]string{cd.KindRollback: "Roll back", cd.KindRedeploy: "Redeploy", cd.KindHotfix: "Hotfix"}[p.Kind]
	run := store.Run{RepoID: repo.ID, Workflow: src.Workflow, WorkflowName: src.WorkflowName, Event: src.Event, Ref: src.Ref,
		SHA: src.SHA, Title: fmt.Sprintf("%s %s to %s", firstNonEmpty(verb, "Promote"), firstNonEmpty(rel.Version, shortRelease(rel.ID)), p.Env),
		Trigger: store.TriggerPromotion, Actor: p.StartedBy, Inputs: src.Inputs, Payload: src.Payload}
	var keepRows []plan.Row
	for _, r := range pl.Rows() {
		key := strings.ToLower(r.Key)
		if carry[key] || isDeploy[key] {
			keepRows = append(keepRows, r)
		}
	}
	fresh := s.placeholders(base, pl, keepRows)
	for i := range fresh {
		key := strings.ToLower(fresh[i].Key)
		if isDeploy[key] && !carry[key] {
			sp, err := ParseSpec(fresh[i].Spec)
			if err != nil {
				return 0, err
			}
			sp.Promotion = p.ID
			fresh[i].Spec = sp.encode()
		}
	}
	r, created, err := s.cfg.DB.CreateRun(ctx, run, fresh)
	if err != nil {
		return 0, fmt.Errorf("recording the promotion run: %w", err)
	}
	completed, success := store.StatusCompleted, store.ConclusionSuccess
	for _, j := range created {
		key := strings.ToLower(j.Key)
		if !carry[key] {
			if isDeploy[key] {
				s.infos.Store(j.ID, rowInfo{JobID: rows[key].Key, Promotion: p.ID})
			}
			continue
		}
		reason := fmt.Sprintf("carried over from run #%d", src.Number)
		if _, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &success, Reason: &reason,
			Outputs: rows[key].Outputs}); err != nil {
			return 0, err
		}
	}
	if err := s.copyArtifacts(ctx, rel.RunID, r.ID); err != nil {
		return 0, err
	}
	return r.ID, nil
}

// copyArtifacts gives a promotion run the release run's artifacts, which
// the caller verified against the release's digests.
func (s *Scheduler) copyArtifacts(ctx context.Context, from, to int64) error {
	if s.cfg.Artifacts == nil {
		return nil
	}
	src, dst := strconv.FormatInt(from, 10), strconv.FormatInt(to, 10)
	list, err := s.cfg.Artifacts.List(src)
	if err != nil {
		return fmt.Errorf("listing the release run's artifacts: %w", err)
	}
	for _, a := range list {
		rc, err := s.cfg.Artifacts.Open(src, a.ID)
		if err != nil {
			return fmt.Errorf("opening artifact %s: %w", a.Name, err)
		}
		_, _, err = s.cfg.Artifacts.Import(ctx, dst, a.Name, rc, artifacts.UploadOptions{IncludeHidden: true, IfNoFilesFound: "error", CompressionLevel: 6})
		rc.Close()
		if err != nil {
			return fmt.Errorf("copying artifact %s to the promotion run: %w", a.Name, err)
		}
	}
	return nil
}

// Decide records a reviewer's decision on a waiting promotion and moves it
// along: enough approvals start it, a rejection fails it.
func (s *Scheduler) Decide(ctx context.Context, id int64, by string, approve bool, comment string) (*cd.Promotion, error) {
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.decide(ctx, id, by, approve, comment)
	unlock()
	if err != nil {
		return nil, err
	}
	if p.RunID != 0 {
		if err := s.advance(ctx, p.RunID); err != nil {
			return nil, err
		}
	}
	return s.cfg.DB.GetPromotion(ctx, id)
}

func (s *Scheduler) decide(ctx context.Context, id int64, by string, approve bool, comment string) (*cd.Promotion, error) {
	p, err := s.cfg.DB.GetPromotion(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.State != cd.StateWaiting && p.State != cd.StateQueued {
		return nil, fmt.Errorf("promotion %d is %s, not waiting for a decision: %w", id, p.State, store.ErrConflict)
	}
	cfg, err := s.environments(ctx, p.RepoID, nil)
	if err != nil {
		return nil, err
	}
	a := cd.Approval{By: by, Approve: approve, Comment: comment, At: time.Now()}
	if err := cd.CheckApproval(environment(cfg, p.Env), *p, a); err != nil {
		if errors.Is(err, cd.ErrSelfApproval) || errors.Is(err, cd.ErrNotReviewer) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", err, store.ErrConflict) // decided already
	}
	if p, err = s.cfg.DB.AddApproval(ctx, id, a); err != nil {
		return nil, err
	}
	if err := s.regate(ctx, id); err != nil {
		return nil, err
	}
	return p, nil
}

// settleRunPromotions concludes the promotions of a run whose jobs all
// ended: in progress → verification or failure; never started (the run
// was cancelled) → error.
func (s *Scheduler) settleRunPromotions(ctx context.Context, runID int64) {
	ps, err := s.cfg.DB.PromotionsOfRun(ctx, runID)
	if err != nil {
		return
	}
	for _, p := range ps {
		if p.State.Terminal() {
			continue
		}
		if p.State == cd.StateInProgress {
			if err := s.deploymentJobDone(ctx, p.ID); err != nil {
				s.cfg.Log.Warn("concluding deployment", "promotion", p.ID, "err", err)
			}
			continue
		}
		jobs := s.promotionJobs(ctx, &p)
		done := len(jobs) > 0
		for _, j := range jobs {
			done = done && j.Status == store.StatusCompleted
		}
		if done {
			unlock, err := s.lockDeployments(ctx)
			if err == nil {
				err = s.end(ctx, &p, cd.EventError, "its deployment jobs ended before it started (cancelled)")
				unlock()
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.cfg.Log.Warn("ending promotion", "promotion", p.ID, "err", err)
			}
		}
	}
}
