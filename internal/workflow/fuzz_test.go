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
		errs, _, _, err := l.check(path, src)
		if err != nil {
			return
		}
		for _, e := range errs {
			if e.File != "wf.yml" {
				t.Fatalf("error for file %q, want wf.yml", e.File)
			}
		}
		if refusals, _ := errs.Split(); len(refusals) > 0 {
			if _, err := parse("wf.yml", src); err == nil && hasKind(refusals, KindLimits) {
				t.Fatalf("parse accepted a file over the limits: %v", refusals)
			}
			return
		}
		w, err := parse("wf.yml", src)
		if err != nil {
			t.Fatalf("no refusal but parse failed: %v", err)
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

func hasKind(es Errors, kind string) bool {
	for _, e := range es {
		if e.Kind == kind {
			return true
		}
	}
	return false
}
