package actions

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/bmatcuk/doublestar/v4"
)

// globWorkspace expands a pattern relative to the workspace into existing
// files, sorted.
func globWorkspace(workspace, pattern string) ([]string, error) {
	matches, err := doublestar.Glob(os.DirFS(workspace), filepath.ToSlash(pattern), doublestar.WithFilesOnly())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, filepath.Join(workspace, m))
	}
	sort.Strings(out)
	return out, nil
}
