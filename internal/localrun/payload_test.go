package localrun

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/gitrepo"
)

func TestReadPayload(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "event.json")
	if err := os.WriteFile(good, []byte(`{"action": "closed", "number": 7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	array := filepath.Join(dir, "array.json")
	if err := os.WriteFile(array, []byte(`[1, 2]`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readPayload(good)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"action": "closed", "number": float64(7)}, got); diff != "" {
		t.Errorf("readPayload (-want +got):\n%s", diff)
	}
	if got, err := readPayload(""); err != nil || len(got) != 0 || got == nil {
		t.Errorf("readPayload(\"\") = %v, %v; want an empty map", got, err)
	}
	_, err = readPayload(array)
	checkUsageError(t, err, "must be a JSON object")
	_, err = readPayload(filepath.Join(dir, "missing.json"))
	checkUsageError(t, err, "reading the event payload")
}

func TestFillPayload(t *testing.T) {
	head := gitrepo.Head{SHA: "abc123", Ref: "refs/heads/feature"}
	tests := []struct {
		name   string
		event  string
		given  map[string]any
		inputs map[string]string
		want   map[string]any
	}{
		{name: "push", event: "push", given: map[string]any{},
			want: map[string]any{
				"repository": map[string]any{"name": "widgets", "full_name": "octo/widgets", "owner": map[string]any{"login": "octo"}},
				"ref":        "refs/heads/feature", "after": "abc123", "head_commit": map[string]any{"id": "abc123"},
			}},
		{name: "given values win", event: "push", given: map[string]any{"ref": "refs/tags/v1", "repository": "kept"},
			want: map[string]any{"repository": "kept", "ref": "refs/tags/v1", "after": "abc123", "head_commit": map[string]any{"id": "abc123"}}},
		{name: "workflow_dispatch", event: "workflow_dispatch", given: map[string]any{}, inputs: map[string]string{"level": "3"},
			want: map[string]any{
				"repository": map[string]any{"name": "widgets", "full_name": "octo/widgets", "owner": map[string]any{"login": "octo"}},
				"ref":        "refs/heads/feature", "inputs": map[string]any{"level": "3"},
			}},
		{name: "pull_request", event: "pull_request", given: map[string]any{},
			want: map[string]any{
				"repository": map[string]any{"name": "widgets", "full_name": "octo/widgets", "owner": map[string]any{"login": "octo"}},
				"action":     "opened", "number": float64(1),
				"pull_request": map[string]any{"number": float64(1),
					"head": map[string]any{"ref": "feature", "sha": "abc123"}, "base": map[string]any{"ref": "main"}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fillPayload(tt.given, tt.event, head, "octo/widgets", tt.inputs)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fillPayload (-want +got):\n%s", diff)
			}
		})
	}
}
