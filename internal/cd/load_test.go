package cd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// yml turns a test's tab-indented YAML into spaces, so files can be written inline.
func yml(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\t", "  "))
}

func TestLoadPresets(t *testing.T) {
	tests := []struct {
		name string
		file string
		want Config
	}{
		{
			name: "trunk",
			file: "strategy: trunk\n",
			want: Config{Strategy: "trunk", Environments: []Environment{
				{Name: "staging", Tier: "staging", Branches: []string{"main"}, Automatic: true},
				{Name: "production", Tier: "production", Branches: []string{"main"}, Upstream: []string{"staging"}},
			}},
		},
		{
			name: "github-flow",
			file: "strategy: github-flow\n",
			want: Config{Strategy: "github-flow", Environments: []Environment{
				{Name: "preview", Tier: "development", PullRequests: true, Automatic: true},
				{Name: "production", Tier: "production", Branches: []string{"main"}},
			}},
		},
		{
			name: "gitflow",
			file: "strategy: gitflow\n",
			want: Config{Strategy: "gitflow", Environments: []Environment{
				{Name: "staging", Tier: "staging", Branches: []string{"develop", "release/*"}, Automatic: true},
				{Name: "production", Tier: "production", Tags: []string{"v*"}, Hotfix: []string{"hotfix/*"}},
			}},
		},
		{
			name: "no strategy",
			file: `
environments:
	dev:
	prod:
		upstream: dev
`,
			want: Config{Environments: []Environment{
				{Name: "dev", Tier: "development", Pos: Pos{2, 3}},
				{Name: "prod", Tier: "production", Upstream: []string{"dev"}, Pos: Pos{3, 3}},
			}},
		},
		{
			name: "empty file",
			file: "",
			want: Config{Environments: []Environment{}},
		},
		{
			name: "file overrides preset keys and adds environments",
			file: `
strategy: trunk
environments:
	production:
		url: https://example.com
		reviewers: [alice, bob, carol]
		required-approvals: 2
		wait-timer: 15
		windows:
			- days: [mon-thu, sun]
				hours: "22:00-02:00"
				timezone: Europe/Paris
			- {}
		verify:
			http: {url: "https://example.com/health", contains: ok, timeout: 3s, retries: 2}
		auto-rollback: true
	canary:
		tier: production
		upstream: [staging]
		branches: [main, '!main-old']
		verify:
			command: ./smoke.sh
	preview:
		reviewers: dave
		pull-requests: true
		wait-timer: 1h30m
		verify:
			command: {run: make smoke, timeout: 1m}
`,
			want: Config{Strategy: "trunk", Environments: []Environment{
				{Name: "staging", Tier: "staging", Branches: []string{"main"}, Automatic: true},
				{
					Name: "production", Tier: "production", URL: "https://example.com",
					Branches: []string{"main"}, Upstream: []string{"staging"},
					Reviewers: []string{"alice", "bob", "carol"}, RequiredApprovals: 2,
					WaitTimer: 15 * time.Minute,
					Windows: []Window{
						{Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Sunday}, Start: 22 * 60, End: 2 * 60, Timezone: "Europe/Paris"},
						{Start: 0, End: 24 * 60},
					},
					Verify:       &Verify{HTTP: &HTTPCheck{URL: "https://example.com/health", Status: 200, Contains: "ok", Timeout: 3 * time.Second, Retries: 2}},
					AutoRollback: true,
					Pos:          Pos{3, 3},
				},
				{
					Name: "canary", Tier: "production", Upstream: []string{"staging"}, Branches: []string{"main", "!main-old"},
					Verify: &Verify{Command: &CommandCheck{Run: "./smoke.sh", Timeout: 5 * time.Minute}},
					Pos:    Pos{16, 3},
				},
				{
					Name: "preview", Tier: "development", Reviewers: []string{"dave"}, RequiredApprovals: 1,
					PullRequests: true, WaitTimer: 90 * time.Minute,
					Verify: &Verify{Command: &CommandCheck{Run: "make smoke", Timeout: time.Minute}},
					Pos:    Pos{22, 3},
				},
			}},
		},
		{
			name: "aliases",
			file: `
environments:
	staging:
		branches: &main [main]
	production:
		branches: *main
		upstream: [staging]
`,
			want: Config{Environments: []Environment{
				{Name: "staging", Tier: "staging", Branches: []string{"main"}, Pos: Pos{2, 3}},
				{Name: "production", Tier: "production", Branches: []string{"main"}, Upstream: []string{"staging"}, Pos: Pos{4, 3}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("environments.yml", yml(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []Error // Hint is checked to be present, not its wording
	}{
		{"yaml syntax", "environments:\n  a: [\n", []Error{{Line: 2, Msg: "did not find expected node content"}}},
		{"not a mapping", "- a\n", []Error{{Line: 1, Col: 1, Msg: "the file must be a mapping, not a list"}}},
		{"unknown top key", "strategy: trunk\nenviroments: {}\n", []Error{{Line: 2, Col: 1, Msg: `unknown key "enviroments"`}}},
		{"unknown strategy", "strategy: trunc\n", []Error{{Line: 1, Col: 11, Msg: `unknown strategy "trunc"`}}},
		{"environments not a mapping", "environments: [a]\n", []Error{{Line: 1, Col: 15, Msg: "environments must be a mapping, not a list"}}},
		{"bad env name", "environments:\n  'a b': {}\n", []Error{{Line: 2, Col: 3, Msg: `invalid environment name "a b"`}}},
		{"env not a mapping", "environments:\n  prod: 3\n", []Error{{Line: 2, Col: 9, Msg: `environment "prod" must be a mapping, not a scalar`}}},
		{"unknown env key", `
environments:
	prod:
		reviewer: [a]
`, []Error{{Line: 3, Col: 5, Msg: `unknown key "reviewer" in environment "prod"`}}},
		{"duplicate key", `
environments:
	prod:
		url: a
		url: b
`, []Error{{Line: 4, Col: 5, Msg: `duplicate key "url"`}}},
		{"unknown upstream", `
environments:
	staging:
	prod:
		upstream: [staging, qa]
`, []Error{{Line: 4, Col: 25, Msg: `unknown upstream environment "qa"`}}},
		{"self upstream", `
environments:
	prod:
		upstream: prod
`, []Error{{Line: 3, Col: 15, Msg: `environment "prod" lists itself as upstream`}}},
		{"cycle", `
environments:
	a:
		upstream: [c]
	b:
		upstream: [a]
	c:
		upstream:
			- b
`, []Error{{Line: 5, Col: 16, Msg: "upstream cycle: a → c → b → a"}}},
		{"cycle through preset", `
strategy: trunk
environments:
	staging:
		upstream: production
`, []Error{{Line: 4, Col: 15, Msg: "upstream cycle: staging → production → staging"}}},
		{"bad duration", `
environments:
	prod:
		wait-timer: 10 minutes
`, []Error{{Line: 3, Col: 17, Msg: `invalid duration "10 minutes"`}}},
		{"wait timer too long", `
environments:
	prod:
		wait-timer: 800h
`, []Error{{Line: 3, Col: 17, Msg: "wait-timer 800h0m0s is out of range"}}},
		{"bad tier", `
environments:
	prod:
		tier: prod
`, []Error{{Line: 3, Col: 11, Msg: `unknown tier "prod"`}}},
		{"required more than reviewers", `
environments:
	prod:
		reviewers: [a, b]
		required-approvals: 3
`, []Error{{Line: 4, Col: 25, Msg: "required-approvals is 3 but only 2 reviewers are listed"}}},
		{"required without reviewers", `
environments:
	prod:
		required-approvals: 1
`, []Error{{Line: 3, Col: 25, Msg: `required-approvals is 1 but environment "prod" has no reviewers`}}},
		{"required zero with reviewers", `
environments:
	prod:
		reviewers: [a]
		required-approvals: 0
`, []Error{{Line: 4, Col: 25, Msg: "required-approvals is 0 but reviewers are listed"}}},
		{"required negative", `
environments:
	prod:
		reviewers: [a]
		required-approvals: -1
`, []Error{{Line: 4, Col: 25, Msg: "required-approvals cannot be negative"}}},
		{"duplicate reviewer", `
environments:
	prod:
		reviewers: [alice, Alice]
`, []Error{{Line: 3, Col: 24, Msg: `reviewer "Alice" is listed twice`}}},
		{"not an integer", `
environments:
	prod:
		reviewers: [a]
		required-approvals: two
`, []Error{{Line: 4, Col: 25, Msg: `expected an integer, got "two"`}}},
		{"not a boolean", `
environments:
	prod:
		automatic: yes
`, []Error{{Line: 3, Col: 16, Msg: `expected a boolean, got "yes"`}}},
		{"bad pattern", `
environments:
	prod:
		branches: [main, 'release/[']
`, []Error{{Line: 3, Col: 22, Msg: `pattern "release/[": unclosed or empty [ ]`}}},
		{"only negative patterns", `
environments:
	prod:
		tags: ['!v*-rc*']
`, []Error{{Line: 3, Col: 11, Msg: `patterns ["!v*-rc*"] only exclude; add at least one pattern without !`}}},
		{"bad window", `
environments:
	prod:
		windows:
			- days: [mon-fry]
				hours: 9-17
				timezone: Mars/Olympus
				weeks: 2
`, []Error{
			{Line: 4, Col: 16, Msg: `invalid day "mon-fry"`},
			{Line: 5, Col: 16, Msg: `invalid hours "9-17"`},
			{Line: 6, Col: 19, Msg: `unknown time zone "Mars/Olympus"`},
			{Line: 7, Col: 9, Msg: `unknown key "weeks" in window`},
		}},
		{"empty window hours", `
environments:
	prod:
		windows: [{hours: "10:00-10:00"}]
`, []Error{{Line: 3, Col: 23, Msg: `invalid hours "10:00-10:00"`}}},
		{"verify both", `
environments:
	prod:
		verify:
			http: https://x
			command: ./smoke
`, []Error{{Line: 4, Col: 7, Msg: "verify needs exactly one check"}}},
		{"verify http problems", `
environments:
	prod:
		verify:
			http: {url: ftp://x, status: 999, retries: -1, timeout: 0s}
`, []Error{
			{Line: 4, Col: 36, Msg: "invalid status 999"},
			{Line: 4, Col: 50, Msg: "retries cannot be negative"},
			{Line: 4, Col: 63, Msg: "timeout must be positive, got 0s"},
			{Line: 4, Col: 13, Msg: `http check needs a url, got "ftp://x"`},
		}},
		{"verify command without run", `
environments:
	prod:
		verify:
			command: {timeout: 1m}
`, []Error{{Line: 4, Col: 16, Msg: "command check needs run"}}},
		{"several problems at once", `
strategy: nope
environments:
	prod:
		tier: live
		wait-timer: soon
`, []Error{
			{Line: 1, Col: 11, Msg: `unknown strategy "nope"`},
			{Line: 4, Col: 11, Msg: `unknown tier "live"`},
			{Line: 5, Col: 17, Msg: `invalid duration "soon"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("environments.yml", yml(tt.file))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse error = %v, want Errors", err)
			}
			var got []Error
			for _, e := range es {
				if e.Hint == "" {
					t.Errorf("%v: no hint on what to do", e)
				}
				got = append(got, *e)
			}
			for i := range tt.want {
				tt.want[i].File = "environments.yml"
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Error{}, "Hint")); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "environments.yml")
	if err := os.WriteFile(path, []byte("strategy: trunk\nenvironments:\n  production:\n    tier: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + `:4:11: unknown tier "nope"; use development, testing, staging or production`
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want ErrNotExist", err)
	}
}
