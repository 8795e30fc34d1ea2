package workflow

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rhysd/actionlint"
)

// matrixOf parses a workflow whose only job has the given strategy.matrix body.
func matrixOf(t *testing.T, body string) *actionlint.Matrix {
	t.Helper()
	var b strings.Builder
	b.WriteString("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n")
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		b.WriteString("        " + line + "\n")
	}
	b.WriteString("    steps:\n      - run: echo\n")
	w := parseWorkflow(t, b.String())
	return w.Job("test").Strategy.Matrix
}

// fakeEval evaluates exactly the expressions it knows.
func fakeEval(known map[string]any) func(string) (any, error) {
	return func(s string) (any, error) {
		if v, ok := known[s]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("unknown expression %s", s)
	}
}

type leg = map[string]any

func TestExpandMatrix(t *testing.T) {
	tests := []struct {
		name   string
		matrix string
		eval   map[string]any
		want   []map[string]any
	}{
		{
			name:   "product first key slowest",
			matrix: "version: [10, 12, 14]\nos: [ubuntu-latest, windows-latest]",
			want: []map[string]any{
				{"version": 10.0, "os": "ubuntu-latest"}, {"version": 10.0, "os": "windows-latest"},
				{"version": 12.0, "os": "ubuntu-latest"}, {"version": 12.0, "os": "windows-latest"},
				{"version": 14.0, "os": "ubuntu-latest"}, {"version": 14.0, "os": "windows-latest"},
			},
		},
		{
			name:   "yaml scalar types",
			matrix: "py: [3.10, \"3.10\", '3.11', 3, true, \"true\", null, pypy3.10]",
			want: []map[string]any{
				{"py": 3.1}, {"py": "3.10"}, {"py": "3.11"}, {"py": 3.0}, {"py": true}, {"py": "true"}, {"py": nil}, {"py": "pypy3.10"},
			},
		},
		{
			name:   "object values",
			matrix: "node:\n  - version: 14\n  - version: 20\n    env: NODE_OPTIONS=--openssl-legacy-provider",
			want: []map[string]any{
				{"node": map[string]any{"version": 14.0}},
				{"node": map[string]any{"version": 20.0, "env": "NODE_OPTIONS=--openssl-legacy-provider"}},
			},
		},
		{
			// docs: "Example: Expanding configurations"
			name:   "include expands one combination",
			matrix: "os: [windows-latest, ubuntu-latest]\nnode: [14, 16]\ninclude:\n  - os: windows-latest\n    node: 16\n    npm: 6",
			want: []map[string]any{
				{"os": "windows-latest", "node": 14.0},
				{"os": "windows-latest", "node": 16.0, "npm": 6.0},
				{"os": "ubuntu-latest", "node": 14.0},
				{"os": "ubuntu-latest", "node": 16.0},
			},
		},
		{
			// docs: "Example: Adding configurations" (fruit/animal)
			name: "include docs example",
			matrix: `fruit: [apple, pear]
animal: [cat, dog]
include:
  - color: green
  - color: pink
    animal: cat
  - fruit: apple
    shape: circle
  - fruit: banana
  - fruit: banana
    animal: cat`,
			want: []map[string]any{
				{"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
				{"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
				{"fruit": "pear", "animal": "cat", "color": "pink"},
				{"fruit": "pear", "animal": "dog", "color": "green"},
				{"fruit": "banana"},
				{"fruit": "banana", "animal": "cat"},
			},
		},
		{
			// docs: "Example: Excluding matrix configurations"
			name: "exclude partial match",
			matrix: `os: [macos-latest, windows-latest]
version: [12, 14, 16]
environment: [staging, production]
exclude:
  - os: macos-latest
    version: 12
    environment: production
  - os: windows-latest
    version: 16`,
			want: []map[string]any{
				{"os": "macos-latest", "version": 12.0, "environment": "staging"},
				{"os": "macos-latest", "version": 14.0, "environment": "staging"},
				{"os": "macos-latest", "version": 14.0, "environment": "production"},
				{"os": "macos-latest", "version": 16.0, "environment": "staging"},
				{"os": "macos-latest", "version": 16.0, "environment": "production"},
				{"os": "windows-latest", "version": 12.0, "environment": "staging"},
				{"os": "windows-latest", "version": 12.0, "environment": "production"},
				{"os": "windows-latest", "version": 14.0, "environment": "staging"},
				{"os": "windows-latest", "version": 14.0, "environment": "production"},
			},
		},
		{
			name:   "exclude before include: include adds back",
			matrix: "py: ['3.8', '3.9']\nexclude:\n  - py: '3.8'\ninclude:\n  - py: '3.8'\n    experimental: true",
			want:   []map[string]any{{"py": "3.9"}, {"py": "3.8", "experimental": true}},
		},
		{
			name:   "exclude compares types",
			matrix: "py: [3.8, '3.9']\nexclude:\n  - py: '3.8'\n  - py: 3.9",
			want:   []map[string]any{{"py": 3.8}, {"py": "3.9"}},
		},
		{
			// docs: "Example: Adding configurations" with only include
			name:   "include only",
			matrix: "include:\n  - site: production\n    datacenter: site-a\n  - site: staging\n    datacenter: site-b",
			want: []map[string]any{
				{"site": "production", "datacenter": "site-a"},
				{"site": "staging", "datacenter": "site-b"},
			},
		},
		{
			name:   "whole matrix from JSON",
			matrix: "${{ fromJSON(needs.setup.outputs.matrix) }}",
			eval: map[string]any{"${{ fromJSON(needs.setup.outputs.matrix) }}": map[string]any{
				"py":      []any{"3.11", "3.12"},
				"os":      []any{"linux"},
				"include": []any{map[string]any{"py": "3.12", "cov": true}},
				"exclude": []any{map[string]any{"py": "3.11"}},
			}},
			want: []map[string]any{{"os": "linux", "py": "3.12", "cov": true}},
		},
		{
			name:   "row from JSON",
			matrix: "os: [linux]\npy: ${{ fromJSON(inputs.pys) }}",
			eval:   map[string]any{"${{ fromJSON(inputs.pys) }}": []any{"3.11", 3.12}},
			want:   []map[string]any{{"os": "linux", "py": "3.11"}, {"os": "linux", "py": 3.12}},
		},
		{
			name:   "include and exclude from JSON",
			matrix: "py: [a, b]\ninclude: ${{ fromJSON(env.INC) }}\nexclude: ${{ fromJSON(env.EXC) }}",
			eval: map[string]any{
				"${{ fromJSON(env.INC) }}": []any{map[string]any{"py": "b", "x": 1}, map[string]any{"py": "c"}},
				"${{ fromJSON(env.EXC) }}": []any{map[string]any{"py": "a"}},
			},
			want: []map[string]any{{"py": "b", "x": 1.0}, {"py": "c"}},
		},
		{
			name:   "include entry expression and string value expression",
			matrix: "py: ['${{ inputs.py }}']\ninclude:\n  - ${{ fromJSON(env.ONE) }}",
			eval: map[string]any{
				"${{ inputs.py }}":         "3.13",
				"${{ fromJSON(env.ONE) }}": map[string]any{"extra": []any{1, 2}},
			},
			want: []map[string]any{{"py": "3.13", "extra": []any{1.0, 2.0}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := matrixOf(t, tc.matrix)
			got, err := ExpandMatrix(m, fakeEval(tc.eval))
			if err != nil {
				t.Fatalf("ExpandMatrix: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("legs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandMatrixErrors(t *testing.T) {
	tests := []struct {
		name    string
		matrix  string
		eval    map[string]any
		wantErr string
	}{
		{"empty after exclude", "py: ['3.8']\nexclude:\n  - py: '3.8'", nil, "matrix has no combinations"},
		{"whole matrix not an object", "${{ fromJSON(x) }}", map[string]any{"${{ fromJSON(x) }}": []any{1}}, "matrix: expected an object, got an array"},
		{"row not an array", "py: ${{ x }}", map[string]any{"${{ x }}": "3.8"}, `matrix row "py": expected an array, got string "3.8"`},
		{"include entry not an object", "include: ${{ x }}", map[string]any{"${{ x }}": []any{"a"}}, "matrix include entry 1: expected an object"},
		{"eval fails", "py: ${{ nope }}", nil, "unknown expression ${{ nope }}"},
		{"too many legs", "a: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\nb: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]", nil, "matrix has 272 combinations; at most 256 are allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ExpandMatrix(matrixOf(t, tc.matrix), fakeEval(tc.eval))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ExpandMatrix error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestExpandMatrixNoStrategy(t *testing.T) {
	got, err := ExpandMatrix(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]map[string]any{nil}, got); diff != "" {
		t.Errorf("legs (-want +got):\n%s", diff)
	}
}

func TestMatrixKeysAndLegName(t *testing.T) {
	m := matrixOf(t, `python: ["3.11", "3.12"]
os: [ubuntu-latest]
include:
  - python: "3.12"
    coverage: true
    cfg: {a: 1}
  - experimental: true`)
	legs, err := ExpandMatrix(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := MatrixKeys(m, legs)
	if diff := cmp.Diff([]string{"python", "os", "coverage", "cfg", "experimental"}, keys); diff != "" {
		t.Errorf("MatrixKeys (-want +got):\n%s", diff)
	}
	var names []string
	for _, l := range legs {
		names = append(names, LegName("test", keys, l))
	}
	want := []string{
		"test (3.11, ubuntu-latest, true)",
		`test (3.12, ubuntu-latest, true, {"a":1}, true)`,
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("LegName (-want +got):\n%s", diff)
	}
}

func TestLegName(t *testing.T) {
	tests := []struct {
		keys []string
		leg  map[string]any
		want string
	}{
		{nil, nil, "build"},
		{[]string{"py", "os"}, leg{"os": "ubuntu-latest", "py": "3.11"}, "build (3.11, ubuntu-latest)"},
		{[]string{"py"}, leg{"py": 3.1}, "build (3.1)"},
		{[]string{"n", "b"}, leg{"n": 16.0, "b": false}, "build (16, false)"},
		{[]string{"missing", "py"}, leg{"py": "3.9"}, "build (3.9)"},
		{[]string{"list"}, leg{"list": []any{"a", 1.0}}, `build (["a",1])`},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, LegName("build", tc.keys, tc.leg)); diff != "" {
			t.Errorf("LegName(%v, %v) (-want +got):\n%s", tc.keys, tc.leg, diff)
		}
	}
}

func TestMatrixKeysFromJSON(t *testing.T) {
	m := matrixOf(t, "${{ fromJSON(x) }}")
	legs := []map[string]any{{"z": 1.0, "a": 2.0}, {"z": 1.0, "m": 3.0}}
	if diff := cmp.Diff([]string{"a", "z", "m"}, MatrixKeys(m, legs)); diff != "" {
		t.Errorf("MatrixKeys (-want +got):\n%s", diff)
	}
}
