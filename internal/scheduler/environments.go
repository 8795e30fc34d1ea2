package scheduler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/plan"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// readEnvironments loads .sluice/environments.yml from a commit's tree; a
// missing file is (nil, ""), a broken one its file:line:col errors.
func readEnvironments(tree string) (*cd.Config, string) {
	path := filepath.Join(tree, filepath.FromSlash(cd.DefaultPath))
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, "reading " + cd.DefaultPath + ": " + err.Error()
	}
	cfg, err := cd.Parse(cd.DefaultPath, data)
	if err != nil {
		return nil, err.Error()
	}
	return cfg, ""
}

// recordEnvironments keeps a default-branch commit's environments as the
// repository's: protection rules come from the default branch, as GitHub's
// come from the repository's settings, so a branch cannot loosen them.
func (s *Scheduler) recordEnvironments(ctx context.Context, repo *store.Repo, ref string, cfg *cd.Config) {
	if cfg == nil || ref != "refs/heads/"+firstNonEmpty(repo.DefaultBranch, "main") {
		return
	}
	stored, err := s.cfg.DB.ListEnvironments(ctx, repo.ID)
	if err != nil {
		s.cfg.Log.Warn("reading environments", "repo", repo.Name, "err", err)
		return
	}
	have := map[string]cd.Environment{}
	for _, e := range stored {
		have[e.Name] = e
	}
	// Every push to the default branch passes here: write only what changed.
	for _, e := range cfg.Environments {
		if old, ok := have[e.Name]; ok && reflect.DeepEqual(old, e) {
			continue
		}
		if err := s.cfg.DB.PutEnvironment(ctx, repo.ID, e); err != nil {
			s.cfg.Log.Warn("recording environment", "repo", repo.Name, "env", e.Name, "err", err)
		}
	}
}

// environments is the configuration promotions of a repository follow: the
// recorded (default branch) environments, then those only the commit's own
// file declares.
func (s *Scheduler) environments(ctx context.Context, repoID int64, commit *cd.Config) (*cd.Config, error) {
	stored, err := s.cfg.DB.ListEnvironments(ctx, repoID)
	if err != nil {
		return nil, err
	}
	cfg := &cd.Config{Environments: stored}
	if commit != nil {
		cfg.Strategy = commit.Strategy
		for _, e := range commit.Environments {
			if _, ok := cfg.Env(e.Name); !ok {
				cfg.Environments = append(cfg.Environments, e)
			}
		}
	}
	return cfg, nil
}

// environment finds env in cfg or, as GitHub does for an environment a job
// names without configuring it, makes one with no protection rules.
func environment(cfg *cd.Config, name string) cd.Environment {
	if e, ok := cfg.Env(name); ok {
		return e
	}
	tier := cd.TierDevelopment
	switch n := strings.ToLower(name); {
	case strings.HasPrefix(n, "prod"):
		tier = cd.TierProduction
	case strings.HasPrefix(n, "stag"):
		tier = cd.TierStaging
	case strings.HasPrefix(n, "test") || strings.HasPrefix(n, "qa"):
		tier = cd.TierTesting
	}
	return cd.Environment{Name: name, Tier: tier}
}

// jobEnvironment is the environment a job deploys to ("" for none), its
// name evaluated when it is an expression.
func (s *Scheduler) jobEnvironment(j *actionlint.Job, spec Spec) string {
	if j == nil || j.Environment == nil || j.Environment.Name == nil {
		return ""
	}
	name := j.Environment.Name
	if !name.ContainsExpression() {
		return name.Value
	}
	// The environment of a job that is not running: what its name says with the run's
	// contexts (github, inputs, vars) and its leg's matrix, when it has one.
	inputs := map[string]any{}
	for k, v := range spec.Run.Inputs {
		inputs[k] = v
	}
	vars := map[string]any{}
	for k, v := range spec.Run.Vars {
		vars[k] = v
	}
	ev := &expr.Evaluator{Contexts: expr.Contexts{"github": plan.GitHub(spec.Run), "inputs": inputs, "vars": vars,
		"matrix": spec.Job.Matrix}}
	v, err := ev.Interpolate(name.Value)
	if err != nil {
		return name.Value
	}
	return v
}

// deployJobs lists the jobs of wf that deploy to env.
func (s *Scheduler) deployJobs(wf *workflow.Workflow, spec Spec, env string) []string {
	var out []string
	for _, id := range wf.JobIDs() {
		if s.jobEnvironment(wf.Job(id), spec) == env {
			out = append(out, id)
		}
	}
	return out
}
