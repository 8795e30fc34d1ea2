package scheduler

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
)

func groupYAML(cancelInProgress bool) string {
	return fmt.Sprintf(`on: push
concurrency:
  group: deploy-${{ github.ref }}
  cancel-in-progress: %v
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo build
  ship:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo ship
`, cancelInProgress)
}

func TestConcurrencyGroupWaits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tr := h.pushWorkflows(map[string]string{"ci.yml": groupYAML(false)})
	first := h.triggerOne(tr)
	if first.ConcurrencyGroup != "deploy-refs/heads/main" {
		t.Fatalf("run group %q, want deploy-refs/heads/main", first.ConcurrencyGroup)
	}
	second := h.triggerOne(tr)
	if diff := cmp.Diff(map[string]string{"build": "waiting", "ship": "waiting"}, h.states(second.ID)); diff != "" {
		t.Fatalf("second run's jobs (-want +got):\n%s", diff)
	}
	wantWhy := fmt.Sprintf(`waiting for run #%d of concurrency group "deploy-refs/heads/main"`, first.Number)
	if got := h.job(second.ID, "build").PendingReason; got != wantWhy {
		t.Errorf("second run's pending reason %q, want %q", got, wantWhy)
	}
	// GitHub: "at most one running and one pending job in a concurrency group at any time
	// ... Any existing pending job or workflow in the same concurrency group, if it exists,
	// will be canceled and the new queued job or workflow will take its place."
	third := h.triggerOne(tr)
	if got := h.runState(second.ID); got != "completed/cancelled" {
		t.Fatalf("the pending second run is %s once a third one arrived, want completed/cancelled", got)
	}
	if diff := cmp.Diff(map[string]string{"build": "completed/cancelled", "ship": "completed/cancelled"}, h.states(second.ID)); diff != "" {
		t.Errorf("second run's jobs (-want +got):\n%s", diff)
	}
	if got := h.job(third.ID, "build"); got.Status != "waiting" || got.PendingReason != wantWhy {
		t.Errorf("third run's build is %s (%q), want waiting (%q)", got.Status, got.PendingReason, wantWhy)
	}

	h.finish("build", "success", nil)
	if got := h.job(third.ID, "build").Status; got != "waiting" {
		t.Fatalf("third run's build is %s while the first run still runs, want waiting", got)
	}
	h.finish("ship", "success", nil)
	if got := h.runState(first.ID); got != "completed/success" {
		t.Fatalf("first run is %s, want completed/success", got)
	}
	if diff := cmp.Diff(map[string]string{"build": "queued", "ship": "waiting"}, h.states(third.ID)); diff != "" {
		t.Errorf("third run's jobs after the first finished (-want +got):\n%s", diff)
	}
	if got := h.job(third.ID, "build").PendingReason; got != "" {
		t.Errorf("third run's build still has pending reason %q", got)
	}
	h.finish("build", "success", nil)
	h.finish("ship", "success", nil)
	if got := h.runState(third.ID); got != "completed/success" {
		t.Errorf("third run is %s, want completed/success", got)
	}
}

func TestConcurrencyCancelInProgress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// started: the first run's build was claimed before the second run
		// arrived, so its agent has to acknowledge the cancel.
		started bool
	}{{name: "queued job", started: false}, {name: "running job", started: true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			tr := h.pushWorkflows(map[string]string{"ci.yml": groupYAML(true)})
			first := h.triggerOne(tr)
			if tc.started {
				running := h.claim("build")
				second := h.triggerOne(tr)
				if j := h.job(first.ID, "build"); !j.CancelRequested || j.Status != "in_progress" {
					t.Fatalf("first run's build is %s, cancel requested %v; want in_progress with a cancel request", j.Status, j.CancelRequested)
				}
				if got := h.job(second.ID, "build").Status; got != "waiting" {
					t.Fatalf("second run's build is %s while the first run winds down, want waiting", got)
				}
				h.complete(running, "cancelled", nil)
				if got := h.job(second.ID, "build").Status; got != "queued" {
					t.Errorf("second run's build is %s after the first run ended, want queued", got)
				}
			} else {
				second := h.triggerOne(tr)
				if got := h.job(second.ID, "build").Status; got != "queued" {
					t.Errorf("second run's build is %s, want queued", got)
				}
			}
			if got := h.runState(first.ID); got != "completed/cancelled" {
				t.Errorf("first run is %s, want completed/cancelled", got)
			}
			if diff := cmp.Diff(map[string]string{"build": "completed/cancelled", "ship": "completed/cancelled"}, h.states(first.ID)); diff != "" {
				t.Errorf("first run's jobs (-want +got):\n%s", diff)
			}
		})
	}
}

// Cancelling a run that has nothing running ends it at once; the next run
// of its group starts and the forge hears that the run ended.
func TestCancelWakesGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var reported []string
	h.s = New(Config{DB: h.db, DataDir: h.data, GitURL: "file:///unused/%d.git", Status: func(_ context.Context, r *store.Run) {
		reported = append(reported, fmt.Sprintf("#%d %s %s", r.Number, r.Status, r.Conclusion))
	}})
	tr := h.pushWorkflows(map[string]string{"ci.yml": groupYAML(false)})
	first := h.triggerOne(tr)
	second := h.triggerOne(tr)
	if err := h.s.Cancel(h.ctx, first.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := h.runState(first.ID); got != "completed/cancelled" {
		t.Fatalf("first run is %s, want completed/cancelled", got)
	}
	if got := h.job(second.ID, "build").Status; got != "queued" {
		t.Errorf("second run's build is %s after the first run was cancelled, want queued", got)
	}
	want := []string{"#1 queued ", "#2 queued ", "#1 completed cancelled"}
	if diff := cmp.Diff(want, reported); diff != "" {
		t.Errorf("statuses reported (-want +got):\n%s", diff)
	}
}
