package scheduler

import (
	"context"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// Resume moves along every run that is not finished: after a restart,
// jobs whose needs completed while the server was down are planned.
func (s *Scheduler) Resume(ctx context.Context) error {
	if err := s.Reconcile(ctx); err != nil {
		return err
	}
	return s.resumeDeployments(ctx)
}

// Reconcile advances every unfinished run. A replica that dies between recording a job's end
// and advancing its run leaves the run for someone else to move: this, run now and then by
// one replica, is that someone.
func (s *Scheduler) Reconcile(ctx context.Context) error {
	for _, status := range []string{store.StatusQueued, store.StatusInProgress} {
		runs, err := s.cfg.DB.ListRuns(ctx, store.RunFilter{Status: status, Limit: 1000})
		if err != nil {
			return err
		}
		for _, r := range runs {
			if err := s.advance(ctx, r.ID); err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("resuming run", "run", r.ID, "err", err)
			}
		}
	}
	return nil
}

// resumeDeployments concludes the promotions a stop left in progress: their
// jobs ended (or they had none) but the verification that would have ended
// them died with the process, and an environment's lock is held until then.
func (s *Scheduler) resumeDeployments(ctx context.Context) error {
	repos, err := s.cfg.DB.ListRepos(ctx)
	if err != nil {
		return err
	}
	for _, r := range repos {
		active, err := s.cfg.DB.ActivePromotions(ctx, r.ID)
		if err != nil {
			return err
		}
		for _, p := range active {
			if p.State != cd.StateInProgress {
				continue
			}
			if err := s.deploymentJobDone(ctx, p.ID); err != nil {
				s.cfg.Log.Warn("resuming deployment", "promotion", p.ID, "err", err)
			}
		}
	}
	return nil
}

// Poll asks each repository's remote for new branch tips every interval
// and triggers a push for each one that moved: the fallback for forges
// that cannot reach the server with webhooks.
func (s *Scheduler) Poll(ctx context.Context, every time.Duration) {
	seen := map[int64]map[string]string{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		repos, err := s.cfg.DB.ListRepos(ctx)
		if err == nil {
			for i := range repos {
				s.pollRepo(ctx, &repos[i], seen)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Scheduler) pollRepo(ctx context.Context, repo *store.Repo, seen map[int64]map[string]string) {
	out, err := git(ctx, s.cfg.DataDir, "ls-remote", "--heads", "--tags", s.cloneURL(repo))
	if err != nil {
		s.cfg.Log.Warn("polling", "repo", repo.Name, "err", err)
		return
	}
	tips := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && !strings.HasSuffix(f[1], "^{}") {
			tips[f[1]] = f[0]
		}
	}
	prev, known := seen[repo.ID]
	seen[repo.ID] = tips
	if !known {
		return // the first look only learns where things stand
	}
	for _, ref := range sortedKeys(tips) {
		sha := tips[ref]
		if prev[ref] == sha {
			continue
		}
		t := server.Trigger{Event: "push", Ref: ref, SHA: sha, Before: prev[ref], Source: store.TriggerPoll, Actor: "poll"}
		t.Payload = map[string]any{"ref": ref, "before": prev[ref], "after": sha}
		if _, err := s.Trigger(ctx, repo, t); err != nil {
			s.cfg.Log.Warn("polling: triggering", "repo", repo.Name, "ref", ref, "err", err)
		}
	}
}

// Schedules runs `on: schedule` workflows of each repository's default branch when their cron
// lines come due (in UTC, or the entry's timezone), checking once a minute. Each check covers
// the time since the last one: a stalled check fires each due schedule once, not once per
// missed minute. A restarted server starts from its start (no catch-up runs).
func (s *Scheduler) Schedules(ctx context.Context) {
	last := s.now().Truncate(time.Minute)
	for {
		next := last.Add(time.Minute)
		select {
		case <-ctx.Done():
			return
		case <-time.After(next.Sub(s.now())):
		}
		now := s.now()
		if now.Before(next) {
			continue // woken early (the clock moved back): wait again for the same minute
		}
		s.scheduleTick(ctx, last, now)
		last = now.Truncate(time.Minute)
	}
}

// scheduleTick starts the scheduled workflows due in (after, upTo] in every repository.
func (s *Scheduler) scheduleTick(ctx context.Context, after, upTo time.Time) {
	repos, err := s.cfg.DB.ListRepos(ctx)
	if err != nil {
		s.cfg.Log.Warn("schedule: listing repositories", "err", err)
		return
	}
	for i := range repos {
		s.scheduleRepo(ctx, &repos[i], after, upTo)
	}
}

// now is the scheduler's clock, in UTC.
func (s *Scheduler) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now().UTC()
	}
	return time.Now().UTC()
}

// scheduleRepo starts repo's scheduled workflows due in (after, upTo] (plan.ScheduleDue),
// each at most once, from its default branch's tip.
func (s *Scheduler) scheduleRepo(ctx context.Context, repo *store.Repo, after, upTo time.Time) {
	ref := "refs/heads/" + firstNonEmpty(repo.DefaultBranch, "main")
	if _, err := s.mirror.fetch(ctx, repo.ID, s.cloneURL(repo)); err != nil {
		return
	}
	sha, err := s.mirror.resolve(ctx, repo.ID, ref)
	if err != nil {
		return
	}
	out, err := git(ctx, s.mirror.path(repo.ID), "ls-tree", "--name-only", sha+":.github/workflows/")
	if err != nil {
		return
	}
	for _, name := range strings.Fields(out) {
		src, err := git(ctx, s.mirror.path(repo.ID), "show", sha+":.github/workflows/"+name)
		if err != nil {
			continue
		}
		wf, err := workflow.Parse(".github/workflows/"+name, []byte(src))
		if err != nil {
			continue
		}
		for _, sc := range wf.Schedules() {
			_, due, err := plan.ScheduleDue(sc.Cron, sc.Timezone, after, upTo)
			if err != nil {
				s.cfg.Log.Warn("schedule", "repo", repo.Name, "workflow", wf.Path, "err", err)
				continue
			}
			if !due {
				continue
			}
			t := server.Trigger{Event: "schedule", Ref: ref, SHA: sha, Workflow: wf.Path, Source: store.TriggerSchedule, Actor: "schedule",
				Payload: map[string]any{"schedule": sc.Cron}}
			if _, err := s.Trigger(ctx, repo, t); err != nil {
				s.cfg.Log.Warn("schedule", "repo", repo.Name, "workflow", wf.Path, "err", err)
			}
			break // one run of the workflow per tick, however many of its entries are due
		}
	}
}
