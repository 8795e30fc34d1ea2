package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	empty, err := loadState(dir, "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(state{}, empty); diff != "" {
		t.Errorf("missing state file (-want +got):\n%s", diff)
	}
	want := state{
		Current: &Target{Name: "app", Image: "img:2", Env: map[string]string{"A": "1"}, Ports: []string{"8080:80"},
			Options: "--health-cmd true", Cmd: []string{"serve"}, HealthTimeout: 90 * time.Second},
		History: []Target{{Name: "app", Image: "img:1"}},
	}
	if err := saveState(dir, "app", want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir, "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"app", true},
		{"my-app_2.prod", true},
		{"", false},
		{"-app", false},
		{"../etc", false},
		{"a/b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		err := checkName(tt.name)
		if diff := cmp.Diff(tt.ok, err == nil); diff != "" {
			t.Errorf("checkName(%q) = %v (-want ok +got ok):\n%s", tt.name, err, diff)
		}
	}
}

// Rollback refuses before touching the engine when nothing was recorded.
func TestRollbackWithoutHistory(t *testing.T) {
	_, err := Rollback(context.Background(), nil, t.TempDir(), "app", nil)
	if err == nil || !strings.Contains(err.Error(), "no previous deployment") {
		t.Errorf("got %v, want no previous deployment", err)
	}
}
