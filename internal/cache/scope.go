package cache

import (
	"fmt"
	"strings"
)

// Scopes are where a job's caches go and come from, as GitHub scopes them:
// a run saves into its own ref's scope and restores from it first, then,
// for a pull request, from its base branch, then from the repository's
// default branch. A sibling branch's caches are never seen. Every scope is
// within one repository identity (see RepoIdentity), so two repositories
// never share a cache, whatever their names.
func Scopes(identity, ref, baseRef, defaultBranch string) (save string, restore []string) {
	save = scope(identity, ref)
	restore = []string{save}
	add := func(ref string) {
		s := scope(identity, ref)
		for _, r := range restore {
			if r == s {
				return
			}
		}
		restore = append(restore, s)
	}
	if baseRef != "" {
		add(branchRef(baseRef))
	}
	if defaultBranch != "" {
		add(branchRef(defaultBranch))
	}
	return save, restore
}

func scope(identity, ref string) string { return identity + "|" + ref }

// branchRef is the full ref of a branch given by name or ref.
func branchRef(b string) string {
	if strings.HasPrefix(b, "refs/") {
		return b
	}
	return "refs/heads/" + b
}

// ServerIdentity is the repository identity of a server's repository: its
// id, so a renamed repository keeps its caches and environments and two
// repositories of the same name on different forges never share them. A
// job spec from a server too old to send the id gives its repository's URL.
func ServerIdentity(repoID int64, repoURL string) string {
	if repoID == 0 {
		return "url:" + repoURL
	}
	return fmt.Sprintf("server-repo:%d", repoID)
}
