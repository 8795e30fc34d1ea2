package cd

// Strategy presets. Each expands into environments before the file's own environments are
// applied: a file environment with a preset's name overrides only the keys it sets, and any
// other file environment is added after the preset's.
const (
	StrategyTrunk      = "trunk"
	StrategyGitHubFlow = "github-flow"
	StrategyGitflow    = "gitflow"
)

// strategies lists the preset names, for error hints.
func strategies() []string { return []string{StrategyTrunk, StrategyGitHubFlow, StrategyGitflow} }

// preset returns the environments a strategy generates, and false for an unknown strategy.
//
// trunk (main → staging → production):
//
//	staging:    tier staging,    branches [main], automatic
//	production: tier production, branches [main], upstream [staging]
//
// github-flow (pull requests → preview, main → production):
//
//	preview:    tier development, pull requests only, automatic
//	production: tier production,  branches [main]
//
// gitflow (develop and release/* → staging; v* tags → production; hotfix/* → production):
//
//	staging:    tier staging,    branches [develop, release/*], automatic
//	production: tier production, tags [v*], hotfix [hotfix/*]
//
// gitflow's production has no upstream: a v* tag is a new run with its own release, which
// never ran in staging (the release/* branch's release did). Whether the tagged commit is on
// main is a git question the caller answers; the rule here is the tag's name.
func preset(strategy string) ([]Environment, bool) {
	switch strategy {
	case "":
		return nil, true
	case StrategyTrunk:
		return []Environment{
			{Name: "staging", Tier: TierStaging, Branches: []string{"main"}, Automatic: true},
			{Name: "production", Tier: TierProduction, Branches: []string{"main"}, Upstream: []string{"staging"}},
		}, true
	case StrategyGitHubFlow:
		return []Environment{
			{Name: "preview", Tier: TierDevelopment, PullRequests: true, Automatic: true},
			{Name: "production", Tier: TierProduction, Branches: []string{"main"}},
		}, true
	case StrategyGitflow:
		return []Environment{
			{Name: "staging", Tier: TierStaging, Branches: []string{"develop", "release/*"}, Automatic: true},
			{Name: "production", Tier: TierProduction, Tags: []string{"v*"}, Hotfix: []string{"hotfix/*"}},
		}, true
	}
	return nil, false
}
