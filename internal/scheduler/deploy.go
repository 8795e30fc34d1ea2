package scheduler

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/delivery"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/store"
)

// holdPrefix starts the pending reason of a deployment job waiting for its
// promotion to start; step leaves such jobs to the promotion.
const holdPrefix = "environment "

// sourceMediaType marks the stand-in artifact of a release made by a run
// that uploaded nothing: the commit is what gets deployed.
const sourceMediaType = "application/vnd.sluice.git-commit"

// holdDeployment attaches a ready deployment job to its promotion (making
// the run's promotion for the environment when it has none) and leaves it
// waiting until the promotion starts. Called by plan, under mu.
func (s *Scheduler) holdDeployment(ctx context.Context, run *store.Run, j *store.Job, spec *Spec) error {
	if spec.EnvironmentsError != "" {
		return fmt.Errorf("environment %s: %s", spec.Environment, spec.EnvironmentsError)
	}
	if spec.Promotion == 0 {
		p, err := s.runPromotion(ctx, run, spec)
		if err != nil {
			return fmt.Errorf("environment %s: %w", spec.Environment, err)
		}
		spec.Promotion = p.ID
	}
	reason := fmt.Sprintf("%s%s, promotion #%d: waiting for its gates", holdPrefix, spec.Environment, spec.Promotion)
	if _, err := s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Spec: spec.encode(), PendingReason: &reason}); err != nil {
		return err
	}
	js := spec.Job
	js.WorkflowSource, js.Inputs = "", nil
	s.infos.Store(j.ID, rowInfo{JobID: spec.Job.JobID, Leg: spec.Leg, Promotion: spec.Promotion, Job: &js})
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.regate(ctx, spec.Promotion)
}

// runPromotion returns the promotion of the run's release into the job's
// environment, recording the release and the promotion on first use: one
// promotion per run and environment, whatever the number of jobs.
func (s *Scheduler) runPromotion(ctx context.Context, run *store.Run, spec *Spec) (*cd.Promotion, error) {
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ps, err := s.cfg.DB.PromotionsOfRun(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].Env == spec.Environment {
			return &ps[i], nil
		}
	}
	rel, err := s.runRelease(ctx, run, spec)
	if err != nil {
		return nil, err
	}
	cfg, err := s.environments(ctx, run.RepoID, spec.Environments)
	if err != nil {
		return nil, err
	}
	if _, ok := cfg.Env(spec.Environment); !ok {
		// Named by a job but configured nowhere: recorded so that it is
		// listed, with no protection rules.
		if err := s.cfg.DB.PutEnvironment(ctx, run.RepoID, environment(cfg, spec.Environment)); err != nil {
			return nil, err
		}
	}
	kind := cd.KindForward
	if cfg.Eligible(spec.Environment, rel.Ref, cd.KindForward) != nil && cfg.Eligible(spec.Environment, rel.Ref, cd.KindHotfix) == nil {
		kind = cd.KindHotfix
	}
	by, err := s.startedBy(ctx, run)
	if err != nil {
		return nil, err
	}
	return s.cfg.DB.CreatePromotion(ctx, run.RepoID, cd.Promotion{Env: spec.Environment, ReleaseID: rel.ID, Kind: kind,
		StartedBy: by, RunID: run.ID})
}

// startedBy is the person behind a run, for the rule that nobody approves
// what they started: a run from a forge (a push, a pull request) was
// started by the forge login that caused it, which counts as the sluice
// identity it is linked to (sluice identity link); a run started through
// the API already names an identity.
func (s *Scheduler) startedBy(ctx context.Context, run *store.Run) (string, error) {
	if run.Actor == "" {
		return "sluice", nil
	}
	switch run.Trigger {
	case store.TriggerWebhook, store.TriggerPoll:
		id, err := s.cfg.DB.IdentityOfLogin(ctx, "", run.Actor)
		if err != nil {
			return "", err
		}
		if id != "" {
			return id, nil
		}
	}
	return run.Actor, nil
}

// runRelease returns the run's release, making it from the artifacts the
// run uploaded so far. A run that uploaded nothing deploys its commit.
func (s *Scheduler) runRelease(ctx context.Context, run *store.Run, spec *Spec) (*cd.Release, error) {
	if rel, err := s.cfg.DB.ReleaseOfRun(ctx, run.ID); err == nil {
		return rel, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if s.cfg.Artifacts != nil {
		rel, _, err := delivery.MakeRelease(ctx, s.cfg.DB, s.cfg.Artifacts, s.releaseSource(run, spec))
		if err != nil {
			return nil, fmt.Errorf("recording the run's release: %w", err)
		}
		if rel != nil {
			return rel, nil
		}
	}
	a := cd.Artifact{Name: "source@" + run.SHA, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("commit "+run.SHA))), MediaType: sourceMediaType}
	if err := s.cfg.DB.PutArtifact(ctx, a, nil); err != nil {
		return nil, err
	}
	r, err := cd.NewRelease(cd.ReleaseSource{Repo: spec.Run.Repository, Commit: run.SHA, Ref: run.Ref, LockHash: spec.LockHash, RunID: run.ID},
		[]cd.Artifact{a}, time.Now())
	if err != nil {
		return nil, err
	}
	out, _, err := s.cfg.DB.CreateRelease(ctx, run.RepoID, r)
	return out, err
}

// recordRelease makes a successful run's release from what it uploaded, so
// that it can be promoted later; a run that uploaded nothing makes none.
func (s *Scheduler) recordRelease(ctx context.Context, run *store.Run) {
	if s.cfg.Artifacts == nil {
		return
	}
	// Most runs upload nothing: they end here, before any query, since
	// this runs under mu as every run ends.
	if arts, err := s.cfg.Artifacts.List(strconv.FormatInt(run.ID, 10)); err != nil || len(arts) == 0 {
		return
	}
	if _, err := s.cfg.DB.ReleaseOfRun(ctx, run.ID); err == nil {
		return
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, run.ID)
	if err != nil || len(jobs) == 0 {
		return
	}
	spec, err := ParseSpec(jobs[0].Spec)
	if err != nil {
		return
	}
	rel, created, err := delivery.MakeRelease(ctx, s.cfg.DB, s.cfg.Artifacts, s.releaseSource(run, spec))
	if err != nil {
		s.cfg.Log.Warn("recording the run's release", "run", run.ID, "err", err)
		return
	}
	if rel == nil || !created {
		return
	}
	// Automatic environments with no upstream take every eligible release
	// the run did not deploy itself.
	cfg, err := s.environments(ctx, run.RepoID, spec.Environments)
	if err != nil {
		return
	}
	repo, err := s.cfg.DB.GetRepo(ctx, run.RepoID)
	if err != nil {
		return
	}
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		s.cfg.Log.Warn("automatic promotions", "run", run.ID, "err", err)
		return
	}
	defer unlock()
	for _, e := range cfg.Environments {
		if !e.Automatic || len(e.Upstream) > 0 || e.Eligible(rel.Ref, cd.KindForward) != nil || s.runDeploysTo(ctx, run.ID, e.Name) {
			continue
		}
		if _, err := s.promote(ctx, repo, promoteReq{release: rel.ID, env: e.Name, by: "sluice", auto: true}); err != nil {
			s.cfg.Log.Warn("automatic promotion", "env", e.Name, "release", rel.ID, "err", err)
		}
	}
}

// releaseSource is where a run's release comes from, for its provenance.
func (s *Scheduler) releaseSource(run *store.Run, spec *Spec) delivery.Source {
	return delivery.Source{RepoID: run.RepoID, Repo: spec.Run.Repository, RunID: run.ID, RunNumber: run.Number,
		Commit: run.SHA, Ref: run.Ref, WorkflowPath: run.Workflow, LockHash: spec.LockHash, BuilderID: s.cfg.BuilderID,
		Started: derefTime(run.StartedAt, run.QueuedAt), Finished: derefTime(run.FinishedAt, time.Now())}
}

func derefTime(t *time.Time, def time.Time) time.Time {
	if t != nil {
		return *t
	}
	return def
}

// regate evaluates a promotion that has not started: refused, waiting for
// its gates or for the environment's lock, or started, which queues its
// jobs. Called with the deployments lock held; runs whose jobs it ends are advanced by
// the caller.
func (s *Scheduler) regate(ctx context.Context, id int64) error {
	p, err := s.cfg.DB.GetPromotion(ctx, id)
	if err != nil || (p.State != cd.StateQueued && p.State != cd.StateWaiting) {
		return err
	}
	rel, err := s.cfg.DB.GetRelease(ctx, p.ReleaseID)
	if err != nil {
		return err
	}
	cfg, err := s.environments(ctx, p.RepoID, nil)
	if err != nil {
		return err
	}
	env := environment(cfg, p.Env)
	history, err := s.cfg.DB.ListPromotions(ctx, p.RepoID, "", 1000)
	if err != nil {
		return err
	}
	in := cd.GateInput{Env: env, Release: *rel, Promotion: *p, History: history, Now: time.Now()}
	res := cd.Gate(in)
	if res.Ready {
		// The bytes are re-read only when the promotion may start: a
		// waiting one is looked at every few seconds.
		if in.DigestErr = s.verifyRelease(ctx, rel); in.DigestErr != nil {
			res = cd.Gate(in)
		}
	}
	if res.Refused != nil && errors.Is(res.Refused, cd.ErrUpstream) {
		// An upstream deployment of this release still running (its job
		// done, its verification not) makes this one wait, not fail.
		for _, h := range history {
			if h.ReleaseID == p.ReleaseID && slices.Contains(env.Upstream, h.Env) && !h.State.Terminal() {
				res = cd.GateResult{Waiting: []string{fmt.Sprintf("%s deployment #%d in progress", h.Env, h.ID)}}
			}
		}
	}
	switch {
	case res.Refused != nil:
		ev := cd.EventError
		if errors.Is(res.Refused, cd.ErrRejected) {
			ev = cd.EventReject
		}
		return s.end(ctx, p, ev, res.Refused.Error())
	case !res.Ready:
		if p.State == cd.StateQueued {
			if p, err = s.move(ctx, p, cd.EventWait); err != nil {
				return err
			}
		}
		why := strings.Join(res.Waiting, ", ")
		if _, err := s.cfg.DB.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{Gates: res.Waiting, Reason: &why}); err != nil {
			return err
		}
		s.holdJobs(ctx, p, "waiting for "+why)
		if !res.Recheck.IsZero() {
			s.recheckAt(ctx, p.ID, res.Recheck)
		}
		return nil
	}
	// The gates pass; one deployment at a time per environment, oldest first.
	active, err := s.cfg.DB.ActivePromotions(ctx, p.RepoID)
	if err != nil {
		return err
	}
	for _, o := range active {
		if o.ID != p.ID && o.Env == p.Env && (o.State == cd.StateInProgress || o.State == cd.StateQueued && o.ID < p.ID) {
			why := fmt.Sprintf("waiting for deployment #%d to %s (%s)", o.ID, o.Env, o.State)
			if _, err := s.cfg.DB.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{Gates: []string{}, Reason: &why}); err != nil {
				return err
			}
			s.holdJobs(ctx, p, why)
			return nil
		}
	}
	if p, err = s.move(ctx, p, cd.EventStart); err != nil {
		return err
	}
	started := "deploying"
	if _, err := s.cfg.DB.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{Gates: []string{}, Reason: &started}); err != nil {
		return err
	}
	jobs := s.promotionJobs(ctx, p)
	if len(jobs) == 0 {
		// Nothing in the release's workflow deploys here: the promotion
		// is recorded and verified.
		s.verify(ctx, p)
		return nil
	}
	var ids []int64
	for _, j := range jobs {
		if j.Status == store.StatusWaiting {
			ids = append(ids, j.ID)
		}
	}
	_, err = s.cfg.DB.Enqueue(ctx, ids)
	return err
}

// promotionJobs lists the jobs carrying promotion p in its run.
func (s *Scheduler) promotionJobs(ctx context.Context, p *cd.Promotion) []store.Job {
	if p.RunID == 0 {
		return nil
	}
	jobs, err := s.cfg.DB.ListJobStates(ctx, p.RunID)
	if err != nil {
		return nil
	}
	var out []store.Job
	for _, j := range jobs {
		if info, ok := s.info(ctx, &j); ok && info.Promotion == p.ID {
			out = append(out, j)
		}
	}
	return out
}

// holdJobs shows why a promotion's waiting jobs wait.
func (s *Scheduler) holdJobs(ctx context.Context, p *cd.Promotion, why string) {
	reason := fmt.Sprintf("%s%s, promotion #%d: %s", holdPrefix, p.Env, p.ID, why)
	for _, j := range s.promotionJobs(ctx, p) {
		if j.Status == store.StatusWaiting && j.PendingReason != reason {
			_, _ = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{PendingReason: &reason})
		}
	}
}

// move applies a model event to p and records the new state.
func (s *Scheduler) move(ctx context.Context, p *cd.Promotion, ev cd.EventType) (*cd.Promotion, error) {
	next, err := cd.Next(*p, cd.Event{Type: ev, At: time.Now()})
	if err != nil {
		return nil, err
	}
	out, err := s.cfg.DB.SetPromotionState(ctx, p.ID, next.State)
	if err != nil {
		return nil, err
	}
	s.reportDeployment(ctx, out)
	return out, nil
}

// end finishes a promotion that will not deploy or did: its jobs that
// still wait are failed with the reason, and what follows from the outcome
// happens (automatic rollback, downstream promotions, the next queued
// deployment). Called with the deployments lock held.
func (s *Scheduler) end(ctx context.Context, p *cd.Promotion, ev cd.EventType, reason string) error {
	p, err := s.move(ctx, p, ev)
	if err != nil {
		return err
	}
	if p, err = s.cfg.DB.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{Reason: &reason}); err != nil {
		return err
	}
	completed, failure := store.StatusCompleted, store.ConclusionFailure
	why := fmt.Sprintf("deployment to %s %s: %s", p.Env, p.State, reason)
	for _, j := range s.promotionJobs(ctx, p) {
		if j.Status == store.StatusWaiting {
			_, _ = s.cfg.DB.UpdateJob(ctx, j.ID, store.JobUpdate{Status: &completed, Conclusion: &failure, Reason: &why})
		}
	}
	if p.RunID != 0 {
		s.later(ctx, p.RunID)
	}
	s.after(ctx, p)
	return nil
}

// later advances a run outside the deployments lock (advance takes the run's lock, which must
// not be taken while the deployments lock is held), in the scheduler's background.
func (s *Scheduler) later(ctx context.Context, runID int64) {
	s.bg.Go(ctx, func(ctx context.Context) {
		if err := s.advance(ctx, runID); err != nil {
			s.cfg.Log.Warn("advancing run after a deployment decision", "run", runID, "err", err)
		}
	})
}

// after follows a promotion's end: an automatic rollback of a failure, the
// downstream automatic environments of a success, and in any case the
// repository's other promotions get another look (the environment's lock
// is free, an upstream succeeded or failed).
func (s *Scheduler) after(ctx context.Context, p *cd.Promotion) {
	cfg, err := s.environments(ctx, p.RepoID, nil)
	if err != nil {
		s.cfg.Log.Warn("reading environments", "err", err)
		return
	}
	env := environment(cfg, p.Env)
	repo, err := s.cfg.DB.GetRepo(ctx, p.RepoID)
	if err != nil {
		return
	}
	switch {
	case p.State == cd.StateFailure && env.AutoRollback && p.Kind != cd.KindRollback:
		if _, err := s.rollback(ctx, repo, p.Env, 0, "sluice", true); err != nil {
			s.cfg.Log.Warn("automatic rollback", "env", p.Env, "err", err)
		}
	case p.State == cd.StateSuccess:
		for _, d := range cfg.Downstream(p.Env) {
			if s.runDeploysTo(ctx, p.RunID, d.Name) {
				continue // the run's own job for it follows through needs
			}
			if _, err := s.promote(ctx, repo, promoteReq{release: p.ReleaseID, env: d.Name, by: "sluice", auto: true}); err != nil {
				s.cfg.Log.Warn("automatic promotion", "env", d.Name, "release", p.ReleaseID, "err", err)
			}
		}
	}
	active, err := s.cfg.DB.ActivePromotions(ctx, p.RepoID)
	if err != nil {
		return
	}
	for _, o := range active {
		if o.State != cd.StateInProgress {
			if err := s.regate(ctx, o.ID); err != nil {
				s.cfg.Log.Warn("re-checking promotion", "promotion", o.ID, "err", err)
			}
		}
	}
}

// runDeploysTo reports whether run has a job for env.
func (s *Scheduler) runDeploysTo(ctx context.Context, runID int64, env string) bool {
	if runID == 0 {
		return false
	}
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, runID)
	if err != nil || len(jobs) == 0 {
		return false
	}
	run, err := s.cfg.DB.GetRun(ctx, runID)
	if err != nil {
		return false
	}
	p, _, err := s.planFor(ctx, run, jobs)
	if err != nil {
		return false
	}
	wf := p.Workflow(p.Run().WorkflowPath)
	spec := &Spec{Spec: jobspec.Spec{Run: p.Run()}}
	// A promotion run holds only some of the workflow's jobs.
	keys := map[string]bool{}
	for _, j := range jobs {
		keys[strings.ToLower(j.Key)] = true
	}
	for _, id := range s.deployJobs(wf, *spec, env) {
		if keys[strings.ToLower(id)] {
			return true
		}
	}
	return false
}

// deploymentJobDone concludes promotion id once its last job ended: a
// failed or cancelled job fails it, success goes on to verification.
func (s *Scheduler) deploymentJobDone(ctx context.Context, id int64) error {
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := s.cfg.DB.GetPromotion(ctx, id)
	if err != nil || p.State != cd.StateInProgress {
		return err
	}
	failed := ""
	for _, j := range s.promotionJobs(ctx, p) {
		if j.Status != store.StatusCompleted {
			return nil
		}
		if j.Conclusion == store.ConclusionFailure || j.Conclusion == store.ConclusionCancelled {
			failed = fmt.Sprintf("deployment job %s: %s", j.Key, j.Conclusion)
		}
	}
	if failed != "" {
		return s.end(ctx, p, cd.EventFail, failed)
	}
	s.verify(ctx, p)
	return nil
}

// verify runs the environment's verification in the background (it may
// take minutes of retries) and ends the promotion with its result.
func (s *Scheduler) verify(ctx context.Context, p *cd.Promotion) {
	cfg, err := s.environments(ctx, p.RepoID, nil)
	if err != nil {
		_ = s.end(ctx, p, cd.EventError, err.Error())
		return
	}
	env := environment(cfg, p.Env)
	if env.Verify == nil {
		_ = s.end(ctx, p, cd.EventSucceed, "deployed")
		return
	}
	checking := "verifying"
	_, _ = s.cfg.DB.UpdatePromotion(ctx, p.ID, store.PromotionUpdate{Reason: &checking})
	s.bg.Go(ctx, func(ctx context.Context) {
		opts := delivery.CheckOptions{Log: func(line string) {
			s.cfg.Log.Info("verification", "promotion", p.ID, "env", p.Env, "line", line)
		}}
		// The HTTP check is the server's (it runs nothing of the
		// repository); the repository's own command then runs as a job on
		// an agent, in the job's boundary, never here.
		err := delivery.Check(ctx, &cd.Verify{HTTP: env.Verify.HTTP}, opts)
		if err == nil && env.Verify.Command != nil {
			unlock, lerr := s.lockDeployments(ctx)
			if lerr != nil {
				s.cfg.Log.Warn("starting a verification job", "promotion", p.ID, "err", lerr)
				return
			}
			cur, gerr := s.cfg.DB.GetPromotion(ctx, p.ID)
			started := false
			if gerr == nil && cur.State == cd.StateInProgress {
				started, err = s.startVerifyJob(ctx, cur, env.Verify.Command)
			}
			unlock()
			if started {
				return
			}
			if err == nil && gerr == nil && cur.State == cd.StateInProgress {
				err = fmt.Errorf("the verification command has no run to go in (promotion %d)", p.ID)
			}
		}
		unlock, lerr := s.lockDeployments(ctx)
		if lerr != nil {
			s.cfg.Log.Warn("concluding a verification", "promotion", p.ID, "err", lerr)
			return
		}
		defer unlock()
		cur, gerr := s.cfg.DB.GetPromotion(ctx, p.ID)
		if gerr != nil || cur.State != cd.StateInProgress {
			return
		}
		if err != nil {
			_ = s.end(ctx, cur, cd.EventFail, "verification failed: "+err.Error())
			return
		}
		_ = s.end(ctx, cur, cd.EventSucceed, "deployed and verified")
	})
}

// verifyRelease checks a release's bytes against its digests before any
// of them is deployed again.
func (s *Scheduler) verifyRelease(ctx context.Context, rel *cd.Release) error {
	if s.cfg.Artifacts == nil {
		return nil
	}
	r := *rel
	r.Artifacts = slices.DeleteFunc(slices.Clone(rel.Artifacts), func(a cd.Artifact) bool { return a.MediaType == sourceMediaType })
	if len(r.Artifacts) == 0 {
		return nil
	}
	return delivery.VerifyRelease(ctx, s.cfg.Artifacts, &r)
}

// recheckAt looks at promotion id again when its wait timer ends or a
// deployment window opens; WatchDeployments covers restarts.
func (s *Scheduler) recheckAt(ctx context.Context, id int64, at time.Time) {
	if _, loaded := s.timers.LoadOrStore(id, true); loaded {
		return
	}
	s.bg.Go(ctx, func(ctx context.Context) {
		defer s.timers.Delete(id)
		select {
		case <-time.After(time.Until(at) + 10*time.Millisecond):
			s.Regate(ctx, id)
		case <-ctx.Done():
		}
	})
}

// Regate looks at a promotion again, then advances its run.
func (s *Scheduler) Regate(ctx context.Context, id int64) {
	unlock, err := s.lockDeployments(ctx)
	if err == nil {
		err = s.regate(ctx, id)
		unlock()
	}
	if err != nil {
		s.cfg.Log.Warn("re-checking promotion", "promotion", id, "err", err)
	}
	if p, err := s.cfg.DB.GetPromotion(ctx, id); err == nil && p.RunID != 0 {
		if err := s.advance(ctx, p.RunID); err != nil {
			s.cfg.Log.Warn("advancing run", "run", p.RunID, "err", err)
		}
	}
}

// WatchDeployments re-checks every promotion that has not started, every
// interval: wait timers and deployment windows end while nobody asks, and
// a restart loses the timers.
func (s *Scheduler) WatchDeployments(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		repos, err := s.cfg.DB.ListRepos(ctx)
		if err != nil {
			continue
		}
		for _, r := range repos {
			active, err := s.cfg.DB.ActivePromotions(ctx, r.ID)
			if err != nil {
				continue
			}
			for _, p := range active {
				if p.State != cd.StateInProgress {
					s.Regate(ctx, p.ID)
				}
			}
		}
	}
}

// RecordEnvironmentURL keeps the environment.url a deployment job reported.
func (s *Scheduler) RecordEnvironmentURL(ctx context.Context, jobID int64, url string) error {
	j, err := s.cfg.DB.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	spec, err := ParseSpec(j.Spec)
	if err != nil || spec.Promotion == 0 {
		return err
	}
	_, err = s.cfg.DB.UpdatePromotion(ctx, spec.Promotion, store.PromotionUpdate{URL: &url})
	return err
}

// reportDeployment tells the forge a promotion's state.
func (s *Scheduler) reportDeployment(ctx context.Context, p *cd.Promotion) {
	if s.cfg.Deployment == nil || p == nil {
		return
	}
	repo, err := s.cfg.DB.GetRepo(ctx, p.RepoID)
	if err != nil {
		return
	}
	s.cfg.Deployment(ctx, repo, p)
}
