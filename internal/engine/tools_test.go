package engine

import "testing"

func TestMissingTool(t *testing.T) {
	tests := []struct {
		line, name string
		ok         bool
	}{
		{"bash: line 1: gh: command not found", "gh", true},
		{"/home/runner/work/_temp/x.sh: line 3: pipx: command not found", "pipx", true},
		{"sh: 1: jq: not found", "jq", true},
		{"bash: line 1: frobnicate: command not found", "", false},
		{"gh: command not found in the docs", "", false},
	}
	for _, tt := range tests {
		name, hint, ok := missingTool(tt.line)
		if ok != tt.ok || name != tt.name || (ok && hint == "") {
			t.Errorf("missingTool(%q) = %q, %q, %v; want %q, %v", tt.line, name, hint, ok, tt.name, tt.ok)
		}
	}
}
