package workflow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAliasBombBounded loads a 700-byte "billion laughs" workflow (10^12 nodes expanded) through
// every entry point that reads workflows: lint, load (sluice run) and Parse (the server's
// planner and agents). Each gives one file:line:col error naming the limit, allocating little.
func TestAliasBombBounded(t *testing.T) {
	src := bomb(12)
	if len(src) > 1000 {
		t.Fatalf("the bomb is %d bytes; it should be small", len(src))
	}
	root := writeRepo(t, map[string]string{".github/workflows/bomb.yml": src, ".github/workflows/ok.yml": "on: push\n" + jobsYAML})
	path := filepath.Join(root, ".github/workflows/bomb.yml")
	// The alias that pushes the count over: level 4 expands to 21,111 nodes, so the fifth *l4
	// inside the anchor of level 5 (line 7) passes the limit of 100,000.
	want := Errors{{File: ".github/workflows/bomb.yml", Line: 7, Col: 26, Kind: KindLimits, Severity: Refusal,
		Message: fmt.Sprintf("YAML aliases expand this workflow to more than %d nodes (an alias bomb?): use fewer nested aliases", MaxNodes)}}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	lint, err := Lint(context.Background(), root, []string{path}, LintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, loadErr := Load(context.Background(), root, path)
	ws, bad, err := LoadAll(context.Background(), root, filepath.Join(root, ".github/workflows"))
	if err != nil {
		t.Fatal(err)
	}
	_, parseErr := Parse(".github/workflows/bomb.yml", []byte(src))

	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("checking the bomb allocated %d MiB; want a few", alloc>>20)
	}
	if diff := cmp.Diff(want, lint); diff != "" {
		t.Errorf("Lint (-want +got):\n%s", diff)
	}
	for name, err := range map[string]error{"Load": loadErr, "Parse": parseErr} {
		var got Errors
		if !errors.As(err, &got) {
			t.Fatalf("%s error = %v, want Errors", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// The push's other workflow still loads.
	if len(ws) != 1 || ws[0].Path != ".github/workflows/ok.yml" || len(bad) != 1 || bad[0].Path != ".github/workflows/bomb.yml" {
		t.Errorf("LoadAll = %v, %v; want ok.yml loaded and bomb.yml invalid", ws, bad)
	}
	if got := want[0].Error(); !strings.HasPrefix(got, ".github/workflows/bomb.yml:7:26: YAML aliases expand") {
		t.Errorf("message %q does not start with file:line:col", got)
	}
}

func TestLimits(t *testing.T) {
	deep := "on: push\nx: " + strings.Repeat("[", MaxNesting+1) + strings.Repeat("]", MaxNesting+1) + "\n" + jobsYAML
	// An anchor nested 40 deep, aliased 40 deep: each is fine alone, expanded it is 80 deep.
	half := strings.Repeat("[", 40) + "1" + strings.Repeat("]", 40)
	aliasDeep := "on: push\na: &d " + half + "\nb: " + strings.Repeat("[", 40) + "*d" + strings.Repeat("]", 40) + "\n" + jobsYAML
	// Many siblings, each a small alias, add up.
	wide := "on: push\na: &w [" + strings.Repeat("1,", 999) + "1]\nb: [" + strings.Repeat("*w,", 200) + "*w]\n" + jobsYAML
	tests := []struct {
		name, src string
		want      string // "" for no limit broken
	}{
		{"ordinary", "on: push\n" + jobsYAML, ""},
		{"anchors reused a little", "on: push\nx: &a [1, 2]\ny: [*a, *a, *a]\n" + jobsYAML, ""},
		{"too deep", deep, "w.yml:2:68: YAML nests more than 64 levels deep"},
		{"too deep through an alias", aliasDeep, "w.yml:3:44: YAML nests more than 64 levels deep"},
		{"too many through siblings", wide, "w.yml:3:"},
		{"too big", "on: push\n# " + strings.Repeat("x", MaxFileSize) + "\n" + jobsYAML, "w.yml:1:1: the file is larger than 1048576 bytes"},
		{"recursive alias", "on: push\nx: &a [*a]\n" + jobsYAML, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkLimits("w.yml", []byte(tc.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tc.want == "" && got != "" || tc.want != "" && !strings.HasPrefix(got, tc.want) {
				t.Errorf("checkLimits = %q, want prefix %q", got, tc.want)
			}
		})
	}
}
