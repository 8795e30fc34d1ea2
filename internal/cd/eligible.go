package cd

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotEligible is wrapped by every refusal of a ref by an environment's branch and tag rules.
var ErrNotEligible = errors.New("not allowed in this environment")

// Eligible reports whether a release built from ref (a full git ref) may be promoted into env
// as kind; the error wraps ErrNotEligible when the rules refuse it.
func (c *Config) Eligible(env, ref string, kind Kind) error {
	e, ok := c.Env(env)
	if !ok {
		return fmt.Errorf("environment %q is not declared in .sluice/environments.yml", env)
	}
	return e.Eligible(ref, kind)
}

// Eligible applies the environment's ref rules:
//   - Forward: a branch must match Branches, a tag Tags, a pull request ref needs PullRequests;
//     with none of them set every ref is allowed.
//   - Hotfix: the ref must be a branch matching Hotfix.
//   - Rollback and Redeploy: either of the above, since the release already passed one of them
//     to get here.
func (e Environment) Eligible(ref string, kind Kind) error {
	if !kind.valid() {
		return fmt.Errorf("unknown promotion kind %q", kind)
	}
	refKind, name, err := splitRef(ref)
	if err != nil {
		return err
	}
	hotfixOK := false
	if refKind == "branch" && len(e.Hotfix) > 0 {
		f, err := compileRefFilter(e.Hotfix)
		if err != nil {
			return fmt.Errorf("environment %q hotfix: %w", e.Name, err)
		}
		hotfixOK = f.match(name)
	}
	if kind == KindHotfix {
		if hotfixOK {
			return nil
		}
		if len(e.Hotfix) == 0 {
			return fmt.Errorf("%s %q: environment %q has no hotfix path: %w", refKind, name, e.Name, ErrNotEligible)
		}
		return fmt.Errorf("%s %q does not match hotfix %q of environment %q: %w", refKind, name, e.Hotfix, e.Name, ErrNotEligible)
	}
	forwardErr := e.forwardEligible(refKind, name)
	if forwardErr == nil || (hotfixOK && (kind == KindRollback || kind == KindRedeploy)) {
		return nil
	}
	return forwardErr
}

func (e Environment) forwardEligible(refKind, name string) error {
	if len(e.Branches) == 0 && len(e.Tags) == 0 && !e.PullRequests {
		return nil
	}
	var patterns []string
	switch refKind {
	case "pull request":
		if e.PullRequests {
			return nil
		}
		return fmt.Errorf("pull request %s: environment %q does not take pull requests: %w", name, e.Name, ErrNotEligible)
	case "branch":
		patterns = e.Branches
	case "tag":
		patterns = e.Tags
	}
	if len(patterns) == 0 {
		return fmt.Errorf("%s %q: environment %q takes no %ss: %w", refKind, name, e.Name, refKind, ErrNotEligible)
	}
	f, err := compileRefFilter(patterns)
	if err != nil {
		return fmt.Errorf("environment %q: %w", e.Name, err)
	}
	if !f.match(name) {
		return fmt.Errorf("%s %q does not match %q of environment %q: %w", refKind, name, patterns, e.Name, ErrNotEligible)
	}
	return nil
}

// splitRef classifies a full ref as a branch, tag or pull request and returns its short name
// (the pull request number for a pull request).
func splitRef(ref string) (kind, name string, err error) {
	if n, ok := strings.CutPrefix(ref, "refs/heads/"); ok && n != "" {
		return "branch", n, nil
	}
	if n, ok := strings.CutPrefix(ref, "refs/tags/"); ok && n != "" {
		return "tag", n, nil
	}
	if n, ok := strings.CutPrefix(ref, "refs/pull/"); ok && n != "" {
		num, _, _ := strings.Cut(n, "/")
		return "pull request", "#" + num, nil
	}
	return "", "", fmt.Errorf("ref %q is not a full branch, tag or pull request ref (refs/heads/…, refs/tags/…, refs/pull/…)", ref)
}
