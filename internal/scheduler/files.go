package scheduler

import (
	"context"

	"github.com/sluice-ci/sluice/internal/store"
)

// DefaultFile reads path at the head of repo's default branch in the server's mirror (as
// last fetched), false when the mirror, the branch or the file is missing. Background work
// (scheduled dependency updates) reads its configuration with it.
func (s *Scheduler) DefaultFile(ctx context.Context, repo *store.Repo, path string) ([]byte, bool) {
	ref := "refs/heads/" + firstNonEmpty(repo.DefaultBranch, "main")
	out, err := git(ctx, s.mirror.path(repo.ID), "show", ref+":"+path)
	if err != nil {
		return nil, false
	}
	return []byte(out), true
}
