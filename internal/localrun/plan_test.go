package localrun

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/workflow"
)

const pipelineYAML = `name: pipeline
on: push
jobs:
  Build:
    runs-on: ubuntu-latest
    steps:
      - run: make
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: ruff check
  test:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: pytest
  package:
    needs: [test, LINT]
    runs-on: ubuntu-latest
    steps:
      - run: python -m build
  deploy:
    needs: [package, build]
    runs-on: ubuntu-latest
    steps:
      - run: echo deploy
  docs:
    runs-on: ubuntu-latest
    steps:
      - run: mkdocs build
`

func loadWorkflow(t *testing.T, src string) *workflow.Workflow {
	t.Helper()
	root := t.TempDir()
	p := filepath.Join(root, ".github", "workflows", "ci.yml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	wf, err := workflow.Load(context.Background(), root, p)
	if err != nil {
		t.Fatalf("workflow.Load: %v", err)
	}
	return wf
}

func TestStages(t *testing.T) {
	wf := loadWorkflow(t, pipelineYAML)
	want := map[string]int{"build": 0, "lint": 0, "docs": 0, "test": 1, "package": 2, "deploy": 3}
	if diff := cmp.Diff(want, stages(wf)); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

func TestSelectedJobs(t *testing.T) {
	wf := loadWorkflow(t, pipelineYAML)
	tests := []struct {
		filter string
		want   []string
	}{
		{filter: "", want: []string{"Build", "lint", "test", "package", "deploy", "docs"}},
		{filter: "docs", want: []string{"docs"}},
		{filter: "test", want: []string{"Build", "test"}},
		{filter: "package", want: []string{"Build", "lint", "test", "package"}},
		{filter: "DEPLOY", want: []string{"Build", "lint", "test", "package", "deploy"}},
		{filter: "build", want: []string{"Build"}},
		{filter: "nope", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, selectedJobs(wf, tt.filter)); diff != "" {
				t.Errorf("selectedJobs(%q) (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func TestNeedsChangedFiles(t *testing.T) {
	plain := loadWorkflow(t, pipelineYAML)
	filtered := loadWorkflow(t, "on:\n  push:\n    paths-ignore: ['docs/**']\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n")
	got := []bool{needsChangedFiles([]*workflow.Workflow{plain}), needsChangedFiles([]*workflow.Workflow{plain, filtered})}
	if diff := cmp.Diff([]bool{false, true}, got); diff != "" {
		t.Errorf("needsChangedFiles (-want +got):\n%s", diff)
	}
}
