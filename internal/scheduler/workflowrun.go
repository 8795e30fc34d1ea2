package scheduler

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// maxWorkflowRunChain is how many workflow_run levels GitHub chains: a run started by
// workflow_run whose own end would start a fourth level starts nothing.
const maxWorkflowRunChain = 3

// runCompleted starts, in the background, the workflows of the repository's default branch that
// run `on: workflow_run` when run's workflow completes, as GitHub does: with the default
// branch's workflow files and commit, github.event.workflow_run describing the run that ended
// (its conclusion, head branch and commit), and `branches:` filtering that run's branch.
func (s *Scheduler) runCompleted(ctx context.Context, run *store.Run) {
	if run.Trigger == store.TriggerPromotion || run.Title == "invalid workflow" {
		return
	}
	r := *run
	s.bg.Go(ctx, func(ctx context.Context) {
		if err := s.fireWorkflowRun(ctx, &r); err != nil {
			s.cfg.Log.Warn("starting workflow_run workflows", "run", r.ID, "err", err)
		}
	})
}

func (s *Scheduler) fireWorkflowRun(ctx context.Context, run *store.Run) error {
	repo, err := s.cfg.DB.GetRepo(ctx, run.RepoID)
	if err != nil {
		return err
	}
	ref := "refs/heads/" + firstNonEmpty(repo.DefaultBranch, "main")
	// Most repositories have no workflow_run workflow: a look at the mirror's default branch
	// (no fetch) spares them the trigger's fetch and export on every run's end.
	if sha, err := s.mirror.resolve(ctx, repo.ID, ref); err != nil || !s.mentionsWorkflowRun(ctx, repo.ID, sha) {
		return nil
	}
	if depth := s.workflowRunDepth(ctx, run); depth >= maxWorkflowRunChain {
		s.cfg.Log.Info("workflow_run: not chaining more than three levels, as GitHub", "run", run.ID, "depth", depth)
		return nil
	}
	var payload map[string]any
	_ = json.Unmarshal(run.Payload, &payload)
	headBranch := strings.TrimPrefix(run.Ref, "refs/heads/")
	if pr, ok := payload["pull_request"].(map[string]any); ok {
		if head, ok := pr["head"].(map[string]any); ok {
			if b, ok := head["ref"].(string); ok {
				headBranch = b
			}
		}
	}
	t := server.Trigger{Event: "workflow_run", Action: "completed", Ref: ref, Source: store.TriggerWorkflowRun, Actor: run.Actor,
		Payload: map[string]any{
			"action": "completed",
			"workflow_run": map[string]any{
				"id": run.ID, "name": run.WorkflowName, "path": run.Workflow, "run_number": run.Number, "run_attempt": run.Attempt,
				"event": run.Event, "status": run.Status, "conclusion": run.Conclusion, "head_branch": headBranch,
				"head_sha": run.SHA, "display_title": run.Title, "actor": map[string]any{"login": run.Actor},
			},
			"workflow": map[string]any{"name": run.WorkflowName, "path": run.Workflow},
		}}
	// The repository as the forge named it (its statuses go there), and who caused the run.
	for _, k := range []string{"repository", "sender"} {
		if v, ok := payload[k]; ok {
			t.Payload[k] = v
		}
	}
	_, err = s.Trigger(ctx, repo, t)
	return err
}

// mentionsWorkflowRun says whether a workflow file at sha mentions workflow_run; the answer
// for each repository's latest default-branch commit is kept (wfRun), so the runs ending on
// one commit of the default branch ask git once.
func (s *Scheduler) mentionsWorkflowRun(ctx context.Context, repoID int64, sha string) bool {
	type seen struct {
		sha string
		has bool
	}
	if v, ok := s.wfRun.Load(repoID); ok && v.(seen).sha == sha {
		return v.(seen).has
	}
	out, err := git(ctx, s.mirror.path(repoID), "grep", "-l", "-I", "-F", "workflow_run", sha, "--", ".github/workflows")
	has := err == nil && strings.TrimSpace(out) != ""
	// git grep finding nothing fails without a word: that is an answer too, unlike an error.
	if err == nil || strings.TrimSpace(err.Error()) == "git grep:" {
		s.wfRun.Store(repoID, seen{sha: sha, has: has})
	}
	return has
}

// workflowRunDepth is how many workflow_run levels led to run: 0 for a run started otherwise.
func (s *Scheduler) workflowRunDepth(ctx context.Context, run *store.Run) int {
	depth := 0
	for run.Event == "workflow_run" && depth < maxWorkflowRunChain {
		depth++
		var p struct {
			WorkflowRun struct {
				ID int64 `json:"id"`
			} `json:"workflow_run"`
		}
		if json.Unmarshal(run.Payload, &p) != nil || p.WorkflowRun.ID == 0 {
			break
		}
		prev, err := s.cfg.DB.GetRun(ctx, p.WorkflowRun.ID)
		if err != nil || prev.RepoID != run.RepoID {
			break
		}
		run = prev
	}
	return depth
}
