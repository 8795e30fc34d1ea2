package cd

import "time"

// Tiers an environment can have, lowest to highest.
const (
	TierDevelopment = "development"
	TierTesting     = "testing"
	TierStaging     = "staging"
	TierProduction  = "production"
)

// Config is a repository's deployment configuration: .sluice/environments.yml with its strategy
// preset expanded.
type Config struct {
	Strategy     string        `json:"strategy,omitempty"`
	Environments []Environment `json:"environments"` // preset environments first, then the file's new ones
}

// Environment is a deployment target and the rules a promotion into it must pass.
type Environment struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
	URL  string `json:"url,omitempty"`
	// Upstream lists environments a release must have succeeded in before a forward promotion.
	Upstream          []string `json:"upstream,omitempty"`
	Reviewers         []string `json:"reviewers,omitempty"`
	RequiredApprovals int      `json:"required_approvals,omitempty"` // N of len(Reviewers); the starter cannot approve
	// WaitTimer delays a promotion after it was started.
	WaitTimer time.Duration `json:"wait_timer,omitempty"`
	// Branches and Tags restrict which refs' releases may deploy here, in GitHub's filter
	// syntax (later patterns override earlier ones; "!" excludes). PullRequests admits releases
	// built for pull requests (refs/pull/N/…). With none of the three set, any ref may deploy.
	Branches     []string `json:"branches,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	PullRequests bool     `json:"pull_requests,omitempty"`
	// Hotfix lists branch patterns whose releases may come here directly, as KindHotfix promotions
	// that skip Upstream.
	Hotfix       []string `json:"hotfix,omitempty"`
	Windows      []Window `json:"windows,omitempty"` // when set, promotions only start inside one
	Verify       *Verify  `json:"verify,omitempty"`
	AutoRollback bool     `json:"auto_rollback,omitempty"` // roll back when the deployment or verification fails
	// Automatic promotes a release here as soon as it has succeeded in every upstream
	// environment (or, with no upstream, as soon as an eligible release is made).
	Automatic bool `json:"automatic,omitempty"`
	Pos       Pos  `json:"pos,omitzero"` // where the file declares it; zero when only a preset does
}

// Pos is a 1-based place in a file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// Verify is how sluice checks an environment after a promotion: exactly one of HTTP or Command.
type Verify struct {
	HTTP    *HTTPCheck    `json:"http,omitempty"`
	Command *CommandCheck `json:"command,omitempty"`
}

// HTTPCheck passes when a GET of URL answers Status and, if set, its body contains Contains.
type HTTPCheck struct {
	URL      string        `json:"url"`
	Status   int           `json:"status"`             // default 200
	Contains string        `json:"contains,omitempty"` // substring the body must contain
	Timeout  time.Duration `json:"timeout"`            // per attempt; default 10s
	Retries  int           `json:"retries,omitempty"`  // further attempts after a failure
}

// CommandCheck passes when Run exits 0 within Timeout.
type CommandCheck struct {
	Run     string        `json:"run"`
	Timeout time.Duration `json:"timeout"` // default 5m
}

// Env returns the environment called name.
func (c *Config) Env(name string) (Environment, bool) {
	for _, e := range c.Environments {
		if e.Name == name {
			return e, true
		}
	}
	return Environment{}, false
}

// Downstream returns the automatic environments that list env as upstream: where a success in
// env should promote the release next.
func (c *Config) Downstream(env string) []Environment {
	var out []Environment
	for _, e := range c.Environments {
		if !e.Automatic {
			continue
		}
		for _, u := range e.Upstream {
			if u == env {
				out = append(out, e)
				break
			}
		}
	}
	return out
}
