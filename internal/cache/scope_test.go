package cache

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestScopes follows GitHub's rules for cache access: "a workflow run can
// restore caches created in either the current branch or the default
// branch", and "workflow runs for pull requests can also restore caches
// created in the base branch".
func TestScopes(t *testing.T) {
	tests := []struct {
		name                        string
		ref, baseRef, defaultBranch string
		wantSave                    string
		wantRestore                 []string
	}{
		{"push to a feature branch", "refs/heads/feat-a", "", "main", "id|refs/heads/feat-a", []string{"id|refs/heads/feat-a", "id|refs/heads/main"}},
		{"push to the default branch", "refs/heads/main", "", "main", "id|refs/heads/main", []string{"id|refs/heads/main"}},
		{"pull request", "refs/pull/7/merge", "release", "main", "id|refs/pull/7/merge", []string{"id|refs/pull/7/merge", "id|refs/heads/release", "id|refs/heads/main"}},
		{"pull request into the default branch", "refs/pull/7/merge", "main", "main", "id|refs/pull/7/merge", []string{"id|refs/pull/7/merge", "id|refs/heads/main"}},
		{"tag", "refs/tags/v1", "", "refs/heads/main", "id|refs/tags/v1", []string{"id|refs/tags/v1", "id|refs/heads/main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			save, restore := Scopes("id", tt.ref, tt.baseRef, tt.defaultBranch)
			if save != tt.wantSave {
				t.Errorf("save scope %q, want %q", save, tt.wantSave)
			}
			if d := cmp.Diff(tt.wantRestore, restore); d != "" {
				t.Errorf("restore scopes (-want +got):\n%s", d)
			}
		})
	}
}
