package cd

import (
	"errors"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"",
		"strategy: trunk\n",
		"strategy: github-flow\n",
		"strategy: gitflow\nenvironments:\n  production:\n    reviewers: [a, b]\n    required-approvals: 2\n",
		"environments:\n  a:\n    upstream: [b]\n  b:\n    upstream: [a]\n",
		"environments:\n  p:\n    windows: [{days: fri-mon, hours: '22:00-02:00', timezone: Europe/Paris}]\n",
		"environments:\n  p:\n    verify: {http: {url: 'https://x', retries: 2}}\n    wait-timer: 90\n",
		"environments:\n  p:\n    branches: ['release/**', '!release/old', 'v[0-9]+']\n",
		"environments: &a\n  p: *a\n",
		"x: [\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("Parse error %v is not a non-empty Errors", err)
			}
			if cfg != nil {
				t.Fatal("Parse returned a config with errors")
			}
			return
		}
		// A valid config's rules must be usable without errors other than refusals.
		for _, e := range cfg.Environments {
			if err := e.Eligible("refs/heads/main", KindForward); err != nil && !errors.Is(err, ErrNotEligible) {
				t.Fatalf("environment %q: %v", e.Name, err)
			}
			if e.RequiredApprovals > len(e.Reviewers) {
				t.Fatalf("environment %q needs %d of %d reviewers", e.Name, e.RequiredApprovals, len(e.Reviewers))
			}
		}
	})
}
