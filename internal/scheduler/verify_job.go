package scheduler

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/delivery"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/store"
)

// An environment's verification command is the repository's code: it runs
// as a job on an agent, in the job's boundary (its sandbox, its directories,
// no secrets), in the promotion's run, never in the server's process. The
// job is a one-step workflow sluice writes: check out the release's commit,
// run the command with its timeout. Its end concludes the promotion.

// verifyJobKey names the verification job of an environment in a run.
func verifyJobKey(env string) string { return "verify " + env }

// verifyWorkflow is the workflow of a verification job.
func verifyWorkflow(env string, c *cd.CommandCheck) string {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = delivery.DefaultCommandTimeout
	}
	minutes := int(math.Ceil(timeout.Minutes()))
	var run strings.Builder
	for _, l := range strings.Split(strings.TrimRight(c.Run, "\n"), "\n") {
		run.WriteString("          " + l + "\n")
	}
	return fmt.Sprintf(`name: verify %[1]s
on: workflow_dispatch
jobs:
  verify:
    name: %[2]s
    runs-on: ubuntu-latest
    timeout-minutes: %[3]d
    steps:
      - uses: actions/checkout@v4
      - name: verify %[1]s
        shell: sh -e {0}
        run: |
%[4]s`, env, verifyJobKey(env), minutes, run.String())
}

// startVerifyJob adds the verification job of promotion p to its run; ok is
// false when the promotion has no run to add it to.
func (s *Scheduler) startVerifyJob(ctx context.Context, p *cd.Promotion, c *cd.CommandCheck) (bool, error) {
	if p.RunID == 0 {
		return false, nil
	}
	// Every job of the run has the run's commit, repository and event in
	// its spec; the promotion's own deployment job is preferred for its
	// labels.
	jobs, err := s.cfg.DB.ListLatestJobs(ctx, p.RunID)
	if err != nil {
		return false, err
	}
	var deployJob *store.Job
	var base *Spec
	for i := range jobs {
		if len(jobs[i].Spec) == 0 {
			continue
		}
		sp, err := ParseSpec(jobs[i].Spec)
		if err != nil {
			continue
		}
		if base == nil || sp.Promotion == p.ID {
			deployJob, base = &jobs[i], sp
		}
		if sp.Promotion == p.ID {
			break
		}
	}
	if base == nil {
		return false, nil
	}
	// No environment, no promotion: the check gets no deployment's
	// secrets, and its end is the verification's, not a deployment's.
	spec := Spec{Verify: p.ID}
	spec.Run = base.Run
	spec.Job = jobspec.Job{Key: verifyJobKey(p.Env), Name: verifyJobKey(p.Env), JobID: "verify",
		WorkflowPath: ".sluice/environments.yml#verify-" + p.Env, WorkflowSource: verifyWorkflow(p.Env, c),
		Strategy: jobspec.Strategy{JobTotal: 1, MaxParallel: 1}, Labels: deployJob.Labels}
	_, err = s.cfg.DB.AddJobs(ctx, p.RunID, []store.Job{{Key: verifyJobKey(p.Env), Name: verifyJobKey(p.Env),
		Labels: deployJob.Labels, Status: store.StatusQueued, Spec: spec.encode()}})
	if err != nil {
		return false, fmt.Errorf("adding the verification job of promotion %d: %w", p.ID, err)
	}
	return true, nil
}

// verifyJobDone concludes promotion id with its verification job's result.
func (s *Scheduler) verifyJobDone(ctx context.Context, id int64, j *store.Job) error {
	unlock, err := s.lockDeployments(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	p, err := s.cfg.DB.GetPromotion(ctx, id)
	if err != nil || p.State != cd.StateInProgress {
		return err
	}
	if j.Conclusion != store.ConclusionSuccess {
		why := "verification failed: the job " + verifyJobKey(p.Env) + " concluded " + j.Conclusion
		if j.Reason != "" {
			why += " (" + j.Reason + ")"
		}
		return s.end(ctx, p, cd.EventFail, why+"; see its log")
	}
	return s.end(ctx, p, cd.EventSucceed, "deployed and verified")
}
