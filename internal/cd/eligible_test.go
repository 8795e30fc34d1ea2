package cd

import (
	"errors"
	"testing"
)

func TestEligiblePresets(t *testing.T) {
	tests := []struct {
		strategy, env, ref string
		kind               Kind
		ok                 bool
	}{
		// trunk: main → staging → production.
		{"trunk", "staging", "refs/heads/main", KindForward, true},
		{"trunk", "staging", "refs/heads/feature/x", KindForward, false},
		{"trunk", "staging", "refs/tags/v1.0.0", KindForward, false},
		{"trunk", "production", "refs/heads/main", KindForward, true},
		{"trunk", "production", "refs/pull/7/merge", KindForward, false},
		{"trunk", "production", "refs/heads/hotfix/urgent", KindHotfix, false},
		{"trunk", "production", "refs/heads/main", KindRollback, true},
		// github-flow: pull requests → preview, main → production.
		{"github-flow", "preview", "refs/pull/12/merge", KindForward, true},
		{"github-flow", "preview", "refs/pull/12/head", KindForward, true},
		{"github-flow", "preview", "refs/heads/main", KindForward, false},
		{"github-flow", "production", "refs/heads/main", KindForward, true},
		{"github-flow", "production", "refs/pull/12/merge", KindForward, false},
		{"github-flow", "production", "refs/heads/feature", KindForward, false},
		// gitflow: develop and release/* → staging, v* tags → production, hotfix/* → production.
		{"gitflow", "staging", "refs/heads/develop", KindForward, true},
		{"gitflow", "staging", "refs/heads/release/1.2", KindForward, true},
		{"gitflow", "staging", "refs/heads/release/1.2/rc", KindForward, false}, // * stops at /
		{"gitflow", "staging", "refs/heads/main", KindForward, false},
		{"gitflow", "staging", "refs/heads/hotfix/crash", KindHotfix, false},
		{"gitflow", "production", "refs/tags/v1.2.0", KindForward, true},
		{"gitflow", "production", "refs/tags/1.2.0", KindForward, false},
		{"gitflow", "production", "refs/heads/main", KindForward, false},
		{"gitflow", "production", "refs/heads/hotfix/crash", KindForward, false},
		{"gitflow", "production", "refs/heads/hotfix/crash", KindHotfix, true},
		{"gitflow", "production", "refs/tags/hotfix/crash", KindHotfix, false},
		{"gitflow", "production", "refs/heads/develop", KindHotfix, false},
		{"gitflow", "production", "refs/heads/hotfix/crash", KindRollback, true},
		{"gitflow", "production", "refs/heads/hotfix/crash", KindRedeploy, true},
		{"gitflow", "production", "refs/tags/v1.2.0", KindRollback, true},
		{"gitflow", "production", "refs/heads/develop", KindRollback, false},
	}
	for _, tt := range tests {
		t.Run(tt.strategy+"/"+tt.env+"/"+tt.ref+"/"+string(tt.kind), func(t *testing.T) {
			cfg, err := Parse("e.yml", []byte("strategy: "+tt.strategy+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Eligible(tt.env, tt.ref, tt.kind)
			if tt.ok && err != nil {
				t.Errorf("Eligible = %v, want allowed", err)
			}
			if !tt.ok && !errors.Is(err, ErrNotEligible) {
				t.Errorf("Eligible = %v, want ErrNotEligible", err)
			}
		})
	}
}

func TestEligibleRules(t *testing.T) {
	tests := []struct {
		name string
		env  Environment
		ref  string
		ok   bool
	}{
		{"no rules allow any branch", Environment{}, "refs/heads/anything", true},
		{"no rules allow tags", Environment{}, "refs/tags/x", true},
		{"no rules allow pull requests", Environment{}, "refs/pull/1/merge", true},
		{"negation excludes", Environment{Branches: []string{"release/*", "!release/old"}}, "refs/heads/release/old", false},
		{"negation leaves others", Environment{Branches: []string{"release/*", "!release/old"}}, "refs/heads/release/new", true},
		{"later positive re-includes", Environment{Branches: []string{"**", "!feat/**", "feat/keep"}}, "refs/heads/feat/keep", true},
		{"double star crosses slashes", Environment{Branches: []string{"feat/**"}}, "refs/heads/feat/a/b", true},
		{"question mark optional char", Environment{Tags: []string{"v1.0.0-rc?"}}, "refs/tags/v1.0.0-rc", true},
		{"plus repeats", Environment{Tags: []string{"v1+"}}, "refs/tags/v111", true},
		{"class range", Environment{Tags: []string{"v[0-9].*"}}, "refs/tags/v3.1", true},
		{"class range miss", Environment{Tags: []string{"v[0-9].*"}}, "refs/tags/vx.1", false},
		{"escaped star is literal", Environment{Branches: []string{`a\*`}}, "refs/heads/a*", true},
		{"escaped star matches only itself", Environment{Branches: []string{`a\*`}}, "refs/heads/ab", false},
		{"dot is literal", Environment{Branches: []string{"v1.0"}}, "refs/heads/v1x0", false},
		{"tags only refuses branches", Environment{Tags: []string{"*"}}, "refs/heads/main", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.env.Eligible(tt.ref, KindForward)
			if tt.ok != (err == nil) {
				t.Errorf("Eligible(%q) = %v, want ok=%v", tt.ref, err, tt.ok)
			}
		})
	}
}

func TestEligibleBadInput(t *testing.T) {
	cfg := &Config{Environments: []Environment{{Name: "prod"}}}
	for _, tc := range []struct{ env, ref string }{
		{"nope", "refs/heads/main"},
		{"prod", "main"},
		{"prod", "refs/heads/"},
	} {
		if err := cfg.Eligible(tc.env, tc.ref, KindForward); err == nil || errors.Is(err, ErrNotEligible) {
			t.Errorf("Eligible(%q, %q) = %v, want an input error", tc.env, tc.ref, err)
		}
	}
	if err := cfg.Eligible("prod", "refs/heads/main", Kind("sideways")); err == nil {
		t.Error("Eligible with an unknown kind succeeded")
	}
}
