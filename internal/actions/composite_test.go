package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"
)

func writeAction(t *testing.T, name, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

const compositeYAML = `name: Set up project
description: installs things
inputs:
  Python-Version:
    description: which python
    default: "3.12"
  token:
    required: true
  extras:
    required: false
    default: ${{ github.token }}
outputs:
  cache-hit:
    description: whether the cache hit
    value: ${{ steps.cache.outputs.hit }}
  path:
    value: /opt/x
runs:
  using: composite
  steps:
    - name: Install
      id: install
      shell: bash
      run: |
        echo "installing ${{ inputs.python-version }}"
        echo done
    - id: cache
      uses: ./.github/actions/cache
      with:
        key: k
    - shell: python
      working-directory: sub
      run: print(1)
`

// stepView is the part of a parsed step the engine relies on.
type stepView struct {
	ID, Name, Shell, Run, Uses, WorkingDir string
	With                                   map[string]string
}

func viewSteps(steps []*actionlint.Step) []stepView {
	var out []stepView
	for _, s := range steps {
		var v stepView
		if s.ID != nil {
			v.ID = s.ID.Value
		}
		if s.Name != nil {
			v.Name = s.Name.Value
		}
		switch x := s.Exec.(type) {
		case *actionlint.ExecRun:
			v.Run = x.Run.Value
			if x.Shell != nil {
				v.Shell = x.Shell.Value
			}
			if x.WorkingDirectory != nil {
				v.WorkingDir = x.WorkingDirectory.Value
			}
		case *actionlint.ExecAction:
			v.Uses = x.Uses.Value
			for _, in := range x.Inputs {
				if v.With == nil {
					v.With = map[string]string{}
				}
				v.With[in.Name.Value] = in.Value.Value
			}
		}
		out = append(out, v)
	}
	return out
}

func TestLoadMetadataComposite(t *testing.T) {
	dir := writeAction(t, "action.yml", compositeYAML)
	md, err := LoadMetadata(dir)
	if err != nil {
		t.Fatalf("LoadMetadata: %v", err)
	}
	got := struct {
		Dir, File, Name, Using string
		Inputs                 []Input
		Outputs                []Output
		Steps                  []stepView
	}{md.Dir, md.File, md.Name, md.Using, md.Inputs, md.Outputs, viewSteps(md.Steps)}
	want := struct {
		Dir, File, Name, Using string
		Inputs                 []Input
		Outputs                []Output
		Steps                  []stepView
	}{
		Dir: dir, File: filepath.Join(dir, "action.yml"), Name: "Set up project", Using: "composite",
		Inputs: []Input{
			{Name: "Python-Version", Default: "3.12"},
			{Name: "token", Required: true},
			{Name: "extras", Default: "${{ github.token }}"},
		},
		Outputs: []Output{
			{Name: "cache-hit", Value: "${{ steps.cache.outputs.hit }}"},
			{Name: "path", Value: "/opt/x"},
		},
		Steps: []stepView{
			{ID: "install", Name: "Install", Shell: "bash", Run: "echo \"installing ${{ inputs.python-version }}\"\necho done\n"},
			{ID: "cache", Uses: "./.github/actions/cache", With: map[string]string{"key": "k"}},
			{Shell: "python", Run: "print(1)", WorkingDir: "sub"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadMetadata (-want +got):\n%s", diff)
	}
}

func TestLoadMetadataActionYAMLAndNode(t *testing.T) {
	dir := writeAction(t, "action.yaml", `name: node thing
runs:
  using: node20
  main: dist/index.js
  post: dist/post.js
`)
	md, err := LoadMetadata(dir)
	if err != nil {
		t.Fatalf("LoadMetadata: %v", err)
	}
	want := &Metadata{Dir: dir, File: filepath.Join(dir, "action.yaml"), Name: "node thing", Using: "node20", Main: "dist/index.js", Post: "dist/post.js"}
	if diff := cmp.Diff(want, md); diff != "" {
		t.Errorf("LoadMetadata (-want +got):\n%s", diff)
	}
}

func TestLoadMetadataErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		body string
		want []string
	}{
		{name: "run step without shell", file: "action.yml", body: `runs:
  using: composite
  steps:
    - name: Build it
      run: make
`, want: []string{"action.yml", `"Build it"`, "explicit shell"}},
		{name: "unnamed step without shell uses its id", file: "action.yml", body: `runs:
  using: composite
  steps:
    - id: build
      run: make
`, want: []string{`"build"`, "explicit shell"}},
		// The line must be the step's line in action.yml (the file the user
		// edits), not a line of the document the steps are re-parsed from.
		{name: "anonymous step without shell gives its line", file: "action.yml", body: `name: x
runs:
  using: composite
  steps:
    - shell: bash
      run: ok
    - run: make
`, want: []string{"at line 7", "explicit shell"}},
		{name: "composite without steps", file: "action.yml", body: "runs:\n  using: composite\n", want: []string{"needs runs.steps"}},
		{name: "inputs not a mapping", file: "action.yml", body: "inputs: [a, b]\nruns:\n  using: node20\n", want: []string{"inputs", "line 1", "expected a mapping"}},
		{name: "outputs not a mapping", file: "action.yml", body: "outputs: x\nruns:\n  using: node20\n", want: []string{"outputs", "expected a mapping"}},
		{name: "invalid yaml", file: "action.yaml", body: "runs: [\n", want: []string{"action.yaml"}},
		{name: "invalid step", file: "action.yml", body: `runs:
  using: composite
  steps:
    - shell: bash
`, want: []string{"runs.steps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeAction(t, tt.file, tt.body)
			md, err := LoadMetadata(dir)
			if err == nil {
				t.Fatalf("LoadMetadata = %+v, want an error", md)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMetadataMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadMetadata(dir)
	if err == nil {
		t.Fatal("LoadMetadata of an empty directory succeeded")
	}
	for _, w := range []string{dir, "action.yml", "check out the repository"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
