package workflow

import (
	"os"
	"path/filepath"
	"testing"
)

const jobsYAML = `
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
`

// parseWorkflow parses src the way Load does after a clean lint.
func parseWorkflow(t *testing.T, src string) *Workflow {
	t.Helper()
	w, err := parse("wf.yml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return w
}

// writeRepo makes a repository root with the given files (path → content).
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
