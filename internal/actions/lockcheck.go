package actions

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/python"
)

// LockCheck is sluice's lockfile freshness gate as a step
// (uses: sluice-ci/lock-check@v1): it fails when a lock file no longer
// matches the inputs it was made from.
func LockCheck(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	dir := c.Workspace
	if wd := with["working-directory"]; wd != "" {
		dir = filepath.Join(c.Workspace, wd)
	}
	checked, stale, err := python.CheckLockFiles(ctx, dir)
	if err != nil {
		return nil, err
	}
	if len(checked) == 0 {
		s.Log("no lock files to check (uv.lock, poetry.lock, pdm.lock or pip-compile'd requirements)")
		return map[string]string{"stale": "false"}, nil
	}
	if len(stale) == 0 {
		s.Log("lock files are up to date")
		return map[string]string{"stale": "false"}, nil
	}
	var msgs []string
	for _, st := range stale {
		msgs = append(msgs, fmt.Sprintf("%s is stale: %s; refresh it with `%s`", st.File, st.Reason, st.Fix))
	}
	return nil, fmt.Errorf("%s", strings.Join(msgs, "\n"))
}
