package scheduler

import (
	"context"
	"fmt"

	"github.com/sluice-ci/sluice/internal/event"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// maxPushCommits is how many commits a synthesized push payload lists (the newest).
const maxPushCommits = 20

// completePayload gives github.event the fields GitHub sends that the trigger's source did not
// (a poll, a dispatch, Gitea's or GitLab's delivery): the repository with its default branch and
// URLs, the sender, a push's commits from the mirror, a pull request's head and base. GitHub's
// own deliveries come through unchanged.
func (s *Scheduler) completePayload(ctx context.Context, repo *store.Repo, t server.Trigger) map[string]any {
	f := event.Facts{Event: t.Event, Action: t.Action, Ref: t.Ref, Before: t.Before, After: t.SHA, Sender: t.Actor,
		Repo: event.RepositoryFromURL(repo.URL, repoFullName(repo), firstNonEmpty(repo.DefaultBranch, "main"))}
	switch t.Event {
	case "push":
		if _, given := t.Payload["commits"]; !given {
			cs, err := gitrepo.Commits(ctx, s.mirror.path(repo.ID), validSHA(t.Before), t.SHA, maxPushCommits)
			if err != nil {
				s.cfg.Log.Warn("listing pushed commits for the event payload", "repo", repo.Name, "err", err)
			}
			f.Commits = cs
		}
	case "pull_request", "pull_request_target":
		pr := &event.PullRequest{HeadSHA: t.SHA, BaseRef: t.BaseRef}
		if n, ok := t.Payload["number"].(float64); ok {
			pr.Number = int(n)
		} else if _, err := fmt.Sscanf(t.Ref, "refs/pull/%d/", &pr.Number); err != nil {
			pr.Number = 0
		}
		if t.BaseRef != "" {
			pr.BaseSHA, _ = s.mirror.resolve(ctx, repo.ID, "refs/heads/"+t.BaseRef)
		}
		pr.Title = s.mirror.message(ctx, repo.ID, t.SHA)
		f.PR = pr
	}
	return event.Fill(t.Payload, f)
}

// validSHA passes a webhook's before only when it is a commit id.
func validSHA(s string) string {
	if gitrepo.IsSHA(s) {
		return s
	}
	return ""
}
