package scheduler

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// A pull_request delivery replayed after a replica died part-way finds the runs it made, the
// base branch's pull_request_target runs among them, even for a file on both events: it makes
// none twice, and no replay order loses one.
func TestReplayedPullRequestDeliveryMakesNoSecondRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	both := "on: [pull_request, pull_request_target]\njobs:\n  a: {runs-on: ubuntu-latest, steps: [{run: x}]}\n"
	target := "on: pull_request_target\njobs:\n  a: {runs-on: ubuntu-latest, steps: [{run: x}]}\n"
	h.pushWorkflows(map[string]string{"both.yml": both, "target.yml": target})
	sha := h.git.commit("feature", "pr", map[string]string{"src.txt": "x"})
	d, _, err := h.db.CreateDelivery(h.ctx, store.Delivery{Forge: "github", Event: "pull_request", DeliveryID: "pr-1",
		RepoID: h.repo.ID, Valid: true, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	tr := server.Trigger{Event: "pull_request", Action: "opened", Ref: "refs/pull/1/merge", SHA: sha, BaseRef: "main",
		Source: store.TriggerWebhook, DeliveryID: d.ID, Payload: map[string]any{"number": float64(1),
			"pull_request": map[string]any{"number": float64(1), "head": map[string]any{"ref": "feature", "sha": sha},
				"base": map[string]any{"ref": "main"}}}}
	made := func(runs []store.Run) []string {
		var out []string
		for _, r := range runs {
			out = append(out, r.Workflow+" "+r.Event)
		}
		sort.Strings(out)
		return out
	}
	want := []string{".github/workflows/both.yml pull_request", ".github/workflows/both.yml pull_request_target",
		".github/workflows/target.yml pull_request_target"}
	first := h.trigger(tr)
	if diff := cmp.Diff(want, made(first)); diff != "" {
		t.Fatalf("the delivery's runs (-want +got):\n%s", diff)
	}
	again := h.trigger(tr)
	ids := func(runs []store.Run) []int64 {
		var out []int64
		for _, r := range runs {
			out = append(out, r.ID)
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		return out
	}
	if diff := cmp.Diff(ids(first), ids(again)); diff != "" {
		t.Errorf("the replay answered other runs than the delivery made (-first +replay):\n%s", diff)
	}
	all, err := h.db.ListRuns(h.ctx, store.RunFilter{RepoID: h.repo.ID})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, made(all)); diff != "" {
		t.Errorf("runs after the replay (-want +got): a replay made some twice:\n%s", diff)
	}
}
