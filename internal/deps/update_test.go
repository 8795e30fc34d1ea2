package deps

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const groupedConfig = `
cooldown: 3
groups:
  - name: dev-tools
    dependency-type: dev
  - name: runtime-minor
    dependency-type: runtime
    update-types: [minor, patch]
  - name: majors
    update-types: [major]
`

type moved struct{ Name, Old, New, Group string }

func movedOf(r *Result) []moved {
	var out []moved
	for _, c := range r.Changes {
		out = append(out, moved{c.Name, c.Old, c.New, c.Group})
	}
	return out
}

// TestUpdateGroupedAcrossTools updates a uv, poetry, pdm, pip-tools and plain requirements
// project against a real index: every group at once, then one group alone, with gamma's new
// release held back by the cooldown.
func TestUpdateGroupedAcrossTools(t *testing.T) {
	f := newFixture(t)
	cfg, err := ParseConfig([]byte(groupedConfig))
	if err != nil {
		t.Fatal(err)
	}
	tools := []Tool{UV, Poetry, PDM, PipTools, Requirements}
	projects := map[Tool]Project{}
	for _, tool := range tools {
		projects[tool] = f.project(t, tool)
	}
	f.publishNew(t)
	for _, tool := range tools {
		t.Run(string(tool), func(t *testing.T) {
			p := projects[tool]
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			before, _ := os.ReadFile(filepath.Join(p.Dir, p.Lock))
			// gamma is a development dependency everywhere but in a single requirements file.
			gammaGroup := "dev-tools"
			if tool == PipTools || tool == Requirements {
				gammaGroup = "runtime-minor"
			}

			// One group: alpha may only take its minor update.
			res, err := Update(ctx, p, Options{Config: cfg, Group: "runtime-minor", Index: f.index_(), Tools: f.tools, Env: f.env, Now: f.now})
			if err != nil {
				t.Fatal(err)
			}
			want := []moved{{"alpha", "1.0.0", "1.1.0", "runtime-minor"}, {"beta", "1.0.0", "1.0.1", "runtime-minor"}, {"delta", "1.0.0", "1.1.0", "runtime-minor"}}
			if d := cmp.Diff(want, movedOf(res)); d != "" {
				t.Errorf("group runtime-minor (-want +got):\n%s", d)
			}
			lock, _ := ReadLock(p)
			if lock["alpha"].Version != "1.1.0" || lock["gamma"].Version != "0.1.0" {
				t.Errorf("lock after the runtime-minor update: alpha %s gamma %s", lock["alpha"].Version, lock["gamma"].Version)
			}
			if gammaGroup == "runtime-minor" && !hasHeld(res, "gamma", "cooldown") {
				t.Errorf("gamma 0.2.0 (1 day old) should be held by the cooldown: %+v", res.Held)
			}

			// Every group from the original lock.
			if err := os.WriteFile(filepath.Join(p.Dir, p.Lock), before, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err = Update(ctx, p, Options{Config: cfg, Index: f.index_(), Tools: f.tools, Env: f.env, Now: f.now})
			if err != nil {
				t.Fatal(err)
			}
			want = []moved{{"alpha", "1.0.0", "2.0.0", "majors"}, {"beta", "1.0.0", "1.0.1", "runtime-minor"}, {"delta", "1.0.0", "1.1.0", "runtime-minor"}}
			if d := cmp.Diff(want, movedOf(res)); d != "" {
				t.Errorf("all groups (-want +got):\n%s", d)
			}
			if !hasHeld(res, "gamma", "cooldown 3 days") {
				t.Errorf("gamma 0.2.0 (1 day old) should be held by the cooldown: %+v", res.Held)
			}
			for _, c := range res.Changes {
				switch c.Name {
				case "alpha":
					if c.AgeDays != 20 || c.Changelog != "https://example.org/alpha/changes" || c.Type != "major" {
						t.Errorf("alpha: age %d, changelog %q, type %s", c.AgeDays, c.Changelog, c.Type)
					}
				case "beta":
					if c.AgeDays != 10 || c.Type != "patch" {
						t.Errorf("beta: age %d type %s", c.AgeDays, c.Type)
					}
				}
			}
			if tool == Requirements {
				b, _ := os.ReadFile(filepath.Join(p.Dir, p.Lock))
				if !strings.Contains(string(b), "beta==1.0.1  # keep the comment") {
					t.Errorf("requirements.txt:\n%s", b)
				}
			}
		})
	}
}

func hasHeld(r *Result, name, reason string) bool {
	for _, h := range r.Held {
		if h.Name == name && strings.Contains(h.Reason, reason) {
			return true
		}
	}
	return false
}

// countingTransport counts the requests sluice itself sends to the index.
type countingTransport struct {
	mu sync.Mutex
	n  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestIndexCacheColdAndWarm: the same update from a fresh index cache and from the kept one
// gives the same diff (ages, changelog links); the kept one asks the index nothing.
func TestIndexCacheColdAndWarm(t *testing.T) {
	f := newFixture(t)
	p := f.project(t, UV)
	f.publishNew(t)
	before, _ := os.ReadFile(filepath.Join(p.Dir, p.Lock))
	cache := t.TempDir()
	run := func() (*Result, int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(p.Dir, p.Lock), before, 0o644); err != nil {
			t.Fatal(err)
		}
		ct := &countingTransport{}
		ix := &Index{URL: f.indexURL(), CacheDir: cache, Client: &http.Client{Transport: ct}}
		res, err := Update(context.Background(), p, Options{Index: ix, Tools: f.tools, Env: f.env, Now: f.now})
		if err != nil {
			t.Fatal(err)
		}
		return res, ct.n
	}
	cold, coldAsked := run()
	warm, warmAsked := run()
	if d := cmp.Diff(cold, warm); d != "" {
		t.Errorf("cold and warm differ (-cold +warm):\n%s", d)
	}
	if coldAsked == 0 || warmAsked != 0 {
		t.Errorf("index requests: cold %d, warm %d (want some, then none)", coldAsked, warmAsked)
	}
	if len(cold.Changes) != 4 {
		t.Errorf("changes: %+v", cold.Changes)
	}
}
