package workflow

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzLoad lints and parses arbitrary bytes, then exercises everything the engine calls on a
// loaded workflow; none of it may panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("on: push\n" + jobsYAML))
	f.Add([]byte(goodYAML))
	f.Add([]byte(dispatchYAML))
	f.Add([]byte(callYAML))
	root := f.TempDir()
	l, err := newLoader(root)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(root, "wf.yml")
	failEval := func(s string) (any, error) { return nil, errors.New("no expressions in the fuzzer") }
	f.Fuzz(func(t *testing.T, src []byte) {
		errs, err := l.lint(path, src)
		if err != nil {
			return
		}
		if len(errs) > 0 {
			for _, e := range errs {
				if e.File != "wf.yml" {
					t.Fatalf("error for file %q, want wf.yml", e.File)
				}
			}
			return
		}
		w, err := parse("wf.yml", src)
		if err != nil {
			t.Fatalf("clean lint but parse failed: %v", err)
		}
		_ = w.Name()
		for _, ev := range []Event{
			{Name: "push", Ref: "refs/heads/main", ChangedFiles: []string{"a.py"}},
			{Name: "push", Ref: "refs/tags/v1"},
			{Name: "pull_request", Action: "opened", BaseRef: "main", ChangedFiles: []string{"docs/x.md"}},
			{Name: "workflow_dispatch"},
		} {
			_, _ = w.Triggered(ev)
		}
		_, _ = DispatchInputs(w, map[string]string{"x": "1"})
		if call, ok := w.AST.FindWorkflowCallEvent(); ok {
			_, _ = CallInputs(call, map[string]any{"x": true})
		}
		for _, id := range w.JobIDs() {
			j := w.Job(id)
			if j == nil {
				t.Fatalf("JobIDs lists %q but Job cannot find it", id)
			}
			if j.Strategy == nil {
				continue
			}
			legs, err := ExpandMatrix(j.Strategy.Matrix, failEval)
			if err != nil {
				continue
			}
			keys := MatrixKeys(j.Strategy.Matrix, legs)
			for _, leg := range legs {
				_ = LegName(id, keys, leg)
			}
		}
	})
}

func TestLoaderHonoursContext(t *testing.T) {
	root := writeRepo(t, map[string]string{".github/workflows/a.yml": "on: push\n" + jobsYAML})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, root, filepath.Join(root, ".github/workflows/a.yml")); !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled) = %v, want context.Canceled", err)
	}
}
