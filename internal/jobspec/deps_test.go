package jobspec

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentLinksNoServer: an agent (and the job runner it runs jobs with) speaks this
// package to the server and links none of the server's own packages, so that the server's
// contract, store and scheduler can change without touching agents, and an agent's binary
// carries none of them. jobspec itself is a leaf: it imports nothing of sluice.
func TestAgentLinksNoServer(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	// go list reads the sources itself; reading them here too lets the test cache see a
	// change to any of them.
	_ = filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
			_, _ = os.Stat(p)
		}
		return nil
	})
	forbidden := []string{"internal/server", "internal/scheduler", "internal/store", "internal/cd"}
	for _, pkg := range []string{"../agent", "../jobrunner", "../engine", "../plan", "."} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == "github.com/sluice-ci/sluice/"+f {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
			if pkg == "." && strings.HasPrefix(dep, "github.com/sluice-ci/sluice/") && dep != "github.com/sluice-ci/sluice/internal/jobspec" {
				t.Errorf("jobspec imports %s; it must stay a leaf", dep)
			}
		}
	}
}
