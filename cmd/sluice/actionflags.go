package main

import (
	"os"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/spf13/pflag"
)

// actionFlags say where actions and reusable workflows that are not built in come from; run,
// lint, serve and agent share them.
type actionFlags struct {
	store, mirror, githubURL string
}

func (a *actionFlags) register(f *pflag.FlagSet) {
	f.StringVar(&a.store, "action-store", os.Getenv("SLUICE_ACTION_STORE"), "directory of actions to use before fetching: OWNER/REPO@REF or OWNER/REPO checkouts (env SLUICE_ACTION_STORE)")
	f.StringVar(&a.mirror, "action-mirror", os.Getenv("SLUICE_ACTION_MIRROR"), "fetch actions from this git URL template instead of GitHub, e.g. https://git.example.com/{owner}/{repo}.git (env SLUICE_ACTION_MIRROR)")
	f.StringVar(&a.githubURL, "github-url", envOr("SLUICE_GITHUB_URL", actions.DefaultBaseURL), "git server actions are fetched from as OWNER/REPO, e.g. a GitHub Enterprise Server (env SLUICE_GITHUB_URL)")
}

// resolver fetches into cacheDir (for sluice run, "" lets it pick the state directory's), where
// fetched commits are kept for offline runs.
func (a *actionFlags) resolver(cacheDir string) actions.Resolver {
	return actions.Resolver{Store: a.store, Mirror: a.mirror, BaseURL: a.githubURL, CacheDir: cacheDir}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
