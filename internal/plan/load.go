package plan

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/workflow"
)

// RepoLoader reads called workflows for Resolve: a ./ path from the repository checked out at
// root, anything else through remote (nil: refused, saying why). It is the one place that
// turns a `uses:` into a file, so it is where a push cannot reach outside its repository:
// GitHub keeps reusable workflows in .github/workflows itself ("subdirectories of the
// workflows directory are not supported"), so any other path is refused, and the file is
// opened inside the repository only (a symlink out of it is refused too).
func RepoLoader(root string, remote Loader) Loader {
	return LoaderFunc(func(ctx context.Context, key string) (*workflow.Workflow, error) {
		rel, ok := strings.CutPrefix(key, "./")
		if !ok {
			if remote != nil {
				return remote.LoadWorkflow(ctx, key)
			}
			return nil, fmt.Errorf("it is not in this repository and cannot be fetched here; only local reusable workflows (uses: ./.github/workflows/x.yml) can run")
		}
		if path.Clean(rel) != rel || path.Dir(rel) != ".github/workflows" ||
			(path.Ext(rel) != ".yml" && path.Ext(rel) != ".yaml") {
			return nil, fmt.Errorf("a local reusable workflow is a .yml or .yaml file directly in .github/workflows (uses: ./.github/workflows/NAME.yml), not %s", key)
		}
		r, err := os.OpenRoot(root)
		if err != nil {
			return nil, fmt.Errorf("opening the repository: %w", err)
		}
		defer r.Close()
		fi, err := r.Stat(rel)
		if err != nil {
			if strings.Contains(err.Error(), "escapes") {
				return nil, fmt.Errorf("%s leads out of the repository (a symlink?)", rel)
			}
			return nil, fmt.Errorf("%s is not in the repository at this commit (%v)", rel, rootError(err))
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a file", rel)
		}
		return workflow.Load(ctx, root, filepath.Join(root, filepath.FromSlash(rel)))
	})
}

// rootError says why os.Root refused a path without repeating the machine's paths.
func rootError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
