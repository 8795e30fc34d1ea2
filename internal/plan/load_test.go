package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepoLoaderStaysInTheRepository: a pushed workflow's `uses:` must not make sluice (or the
// server, which plans every push) read a file outside the repository.
func TestRepoLoaderStaysInTheRepository(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.yml")
	if err := os.WriteFile(secret, []byte("on: workflow_call\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: [{run: 'echo TOPSECRET'}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	wfDir := filepath.Join(root, ".github", "workflows")
	if err := os.MkdirAll(filepath.Join(wfDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := "on: workflow_call\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: [{run: echo}]\n"
	for name, src := range map[string]string{"ok.yml": good, "sub/deep.yml": good, "notes.txt": good} {
		if err := os.WriteFile(filepath.Join(wfDir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(secret, filepath.Join(wfDir, "link.yml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.yml", filepath.Join(wfDir, "inside.yml")); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, secret)
	if err != nil {
		t.Fatal(err)
	}
	l := RepoLoader(root, nil)
	tests := []struct {
		uses    string
		wantErr string
	}{
		{uses: "./.github/workflows/ok.yml"},
		{uses: "./.github/workflows/inside.yml"}, // a symlink that stays inside is fine
		{uses: "./.github/workflows/link.yml", wantErr: "leads out of the repository"},
		{uses: "./.github/workflows/../../" + rel, wantErr: "directly in .github/workflows"},
		{uses: "./" + rel, wantErr: "directly in .github/workflows"},
		{uses: "./.github/workflows/sub/deep.yml", wantErr: "directly in .github/workflows"},
		{uses: "./.github/workflows/notes.txt", wantErr: "directly in .github/workflows"},
		{uses: "./.github/workflows/./ok.yml", wantErr: "directly in .github/workflows"},
		{uses: "./.github/workflows/missing.yml", wantErr: "not in the repository"},
		{uses: "owner/repo/.github/workflows/x.yml@v1", wantErr: "cannot be fetched here"},
	}
	for _, tt := range tests {
		t.Run(tt.uses, func(t *testing.T) {
			wf, err := l.LoadWorkflow(context.Background(), tt.uses)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr == "" && wf == nil:
				t.Fatal("no workflow")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			case err != nil && (strings.Contains(err.Error(), "TOPSECRET") || strings.Contains(err.Error(), outside)):
				t.Fatalf("the error shows what lies outside the repository: %v", err)
			}
		})
	}
}
