package metrics

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"
)

// Names in the CSV come from pushes (workflow names, test ids): a spreadsheet must not run them
// as formulas. Numbers, negative ones included, stay numbers; no figure is NaN.
func TestWriteCSVNeutralisesFormulas(t *testing.T) {
	change := -12.5
	rep := &Report{Repo: "acme/app", Env: "production", Since: t0, Until: t0.Add(24 * time.Hour),
		Pipelines: Pipelines{Workflows: []WorkflowStats{{Name: `=HYPERLINK("http://evil","x")`, Runs: 1,
			Compare: &Change{P50Change: &change}}}, Compare: &ComparePivot{Pivot: "@SUM(1)"}},
		Tests: TestHealth{Flaky: []FlakyTest{{Name: "+cmd|' /C calc'!A0", Rate: rateOf(1, 2)}}},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rep); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var sawChange bool
	for _, row := range rows {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+@", rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
			if cell == "NaN" {
				t.Errorf("a NaN in row %q", row)
			}
		}
		if row[2] == "wall_median_change" {
			sawChange = row[4] == "-12.5" && row[3] == "'@SUM(1)"
		}
	}
	if !sawChange {
		t.Errorf("no wall_median_change row of -12.5 at '@SUM(1): %q", rows)
	}
}
