package python

import (
	"encoding/json"
	"strings"
)

// Workflow renders the plan as a GitHub Actions workflow: checkout, setup-python with
// pythonVersion ("3.x" when empty), then the plan's steps.
func (p Plan) Workflow(pythonVersion string) string {
	if strings.TrimSpace(pythonVersion) == "" {
		pythonVersion = "3.x"
	}
	var b strings.Builder
	b.WriteString("# Written by sluice init from what it found in this repository:\n")
	for _, n := range p.Notes {
		b.WriteString("#   " + strings.ReplaceAll(n, "\n", " ") + "\n")
	}
	b.WriteString(`name: CI
on: [push, pull_request]
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ` + yamlString(pythonVersion) + "\n")
	for _, s := range p.Steps {
		b.WriteString("      - name: " + yamlString(s.Name) + "\n")
		b.WriteString("        run: " + yamlString(s.Run) + "\n")
	}
	return b.String()
}

// yamlString quotes s as a YAML double-quoted scalar; JSON's escapes are a subset of YAML's.
func yamlString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "&&" readable
	_ = enc.Encode(s)        // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
