package workflow

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const goodYAML = `name: CI
on: push
jobs:
  Zeta:
    runs-on: [self-hosted, gpu-box]
    steps:
      - uses: some-org/unknown-action@v1
  alpha:
    needs: Zeta
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: [3.10, "3.11"]
    steps:
      - uses: actions/checkout@v4
      - run: echo ${{ matrix.python }}
`

func TestLoad(t *testing.T) {
	root := writeRepo(t, map[string]string{".github/workflows/ci.yml": goodYAML})
	w, err := Load(context.Background(), root, filepath.Join(root, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := struct {
		Path, Name string
		Jobs       []string
		AlphaID    string
		Legs       []map[string]any
	}{Path: w.Path, Name: w.Name(), Jobs: w.JobIDs(), AlphaID: w.Job("ALPHA").ID.Value}
	got.Legs, err = ExpandMatrix(w.Job("alpha").Strategy.Matrix, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := struct {
		Path, Name string
		Jobs       []string
		AlphaID    string
		Legs       []map[string]any
	}{
		Path: ".github/workflows/ci.yml", Name: "CI", Jobs: []string{"Zeta", "alpha"}, AlphaID: "alpha",
		Legs: []map[string]any{{"python": 3.1}, {"python": "3.11"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loaded workflow (-want +got):\n%s", diff)
	}
	if w.Job("nope") != nil {
		t.Errorf("Job(nope) should be nil")
	}
}

func TestLoadUnnamedUsesPath(t *testing.T) {
	root := writeRepo(t, map[string]string{".github/workflows/t.yaml": "on: push\n" + jobsYAML})
	w, err := Load(context.Background(), root, filepath.Join(root, ".github/workflows/t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(".github/workflows/t.yaml", w.Name()); diff != "" {
		t.Errorf("Name (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Errors
	}{
		{
			name: "yaml syntax",
			src:  "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"a\n    - b\n",
			want: Errors{{File: ".github/workflows/bad.yml", Line: 3, Col: 4, Kind: "syntax-check",
				Message: "could not parse as YAML: did not find expected key"}},
		},
		{
			name: "unknown key",
			src:  "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    timeout: 5\n    steps:\n      - run: echo\n",
			want: Errors{{File: ".github/workflows/bad.yml", Line: 5, Col: 5, Kind: "syntax-check",
				Message: `unexpected key "timeout" for "job" section. expected one of "concurrency", "container", "continue-on-error", "defaults", "env", "environment", "if", "name", "needs", "outputs", "permissions", "runs-on", "secrets", "services", "snapshot", "steps", "strategy", "timeout-minutes", "uses", "with"`}},
		},
		{
			name: "bad needs",
			src:  "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n  b:\n    needs: [c]\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
			want: Errors{{File: ".github/workflows/bad.yml", Line: 7, Col: 3, Kind: "job-needs",
				Message: `job "b" needs job "c" which does not exist in this workflow`}},
		},
		{
			name: "local reusable workflow checked against root",
			src:  "on: push\njobs:\n  call:\n    uses: ./.github/workflows/called.yml\n",
			want: Errors{{File: ".github/workflows/bad.yml", Line: 4, Col: 11, Kind: "workflow-call",
				Message: `input "target" is required by "./.github/workflows/called.yml" reusable workflow`}},
		},
	}
	called := "on:\n  workflow_call:\n    inputs:\n      target:\n        type: string\n        required: true\n" + jobsYAML
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeRepo(t, map[string]string{
				".github/workflows/bad.yml":    tc.src,
				".github/workflows/called.yml": called,
			})
			w, err := Load(context.Background(), root, filepath.Join(root, ".github/workflows/bad.yml"))
			if w != nil {
				t.Errorf("Load returned a workflow along with errors")
			}
			var got Errors
			if !errors.As(err, &got) {
				t.Fatalf("Load error = %v (%T), want Errors", err, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadAll(t *testing.T) {
	root := writeRepo(t, map[string]string{
		".github/workflows/b.yml":     "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: echo\n",
		".github/workflows/a.yaml":    "name: A\non: push\n" + jobsYAML,
		".github/workflows/c.yml":     "name: C\non: push\n" + jobsYAML,
		".github/workflows/README.md": "not a workflow",
		".github/workflows/sub/d.yml": "not: [valid",
		".github/workflows/e.yml":     "on: push\njobs:\n  y:\n    runs-on: ubuntu-latest\n    stepz: []\n",
	})
	dir := filepath.Join(root, ".github/workflows")

	// One broken file fails only itself: the others load, as GitHub runs them.
	ws, bad, err := LoadAll(context.Background(), root, dir)
	if err != nil {
		t.Fatal(err)
	}
	var loaded []string
	for _, w := range ws {
		loaded = append(loaded, w.Path)
	}
	if diff := cmp.Diff([]string{".github/workflows/a.yaml", ".github/workflows/c.yml"}, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	var where []string
	var errs Errors
	for _, b := range bad {
		for _, e := range b.Errors {
			where = append(where, b.Path+" "+e.File)
		}
		errs = append(errs, b.Errors...)
	}
	if diff := cmp.Diff([]string{".github/workflows/b.yml .github/workflows/b.yml", ".github/workflows/e.yml .github/workflows/e.yml", ".github/workflows/e.yml .github/workflows/e.yml"}, where); diff != "" {
		t.Errorf("invalid files (-want +got):\n%s\n%v", diff, errs)
	}

	// Lint reports the same problems, and nothing for clean files.
	lintErrs, err := Lint(context.Background(), root, []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yml")}, LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(errs[:1], lintErrs); diff != "" {
		t.Errorf("Lint (-want +got):\n%s", diff)
	}
	clean, err := Lint(context.Background(), root, []string{filepath.Join(dir, "c.yml")}, LintOptions{})
	if err != nil || len(clean) != 0 {
		t.Errorf("Lint(clean) = %v, %v; want none", clean, err)
	}

	// A clean set loads in file-name order.
	root2 := writeRepo(t, map[string]string{
		".github/workflows/z.yml":  "name: Z\non: push\n" + jobsYAML,
		".github/workflows/a.yaml": "name: A\non: push\n" + jobsYAML,
	})
	ws, bad, err = LoadAll(context.Background(), root2, filepath.Join(root2, ".github/workflows"))
	if err != nil || len(bad) > 0 {
		t.Fatal(err, bad)
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name())
	}
	if diff := cmp.Diff([]string{"A", "Z"}, names); diff != "" {
		t.Errorf("LoadAll order (-want +got):\n%s", diff)
	}
}

func TestErrorsString(t *testing.T) {
	errs := Errors{
		{File: "b.yml", Line: 1, Col: 1, Message: "m3", Kind: "k"},
		{File: "a.yml", Line: 10, Col: 2, Message: "m2", Kind: "k"},
		{File: "a.yml", Line: 2, Col: 7, Message: "m1", Kind: "syntax-check"},
	}
	want := "a.yml:2:7: m1 [syntax-check]\na.yml:10:2: m2 [k]\nb.yml:1:1: m3 [k]"
	if diff := cmp.Diff(want, errs.Error()); diff != "" {
		t.Errorf("Errors.Error (-want +got):\n%s", diff)
	}
}

func TestLoadMissingFile(t *testing.T) {
	root := t.TempDir()
	_, err := Load(context.Background(), root, filepath.Join(root, "nope.yml"))
	var errs Errors
	if err == nil || errors.As(err, &errs) {
		t.Errorf("Load(missing) = %v; want an I/O error, not Errors", err)
	}
}
