package actions

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-ci/sluice/internal/pypi"
)

// PypiPublish is pypa/gh-action-pypi-publish: it uploads dist/'s wheels
// and sdists through the package index's upload API.
func PypiPublish(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	password := with["password"]
	if password == "" {
		return nil, errors.New("no password given: trusted publishing needs GitHub's OIDC, which is not available here; pass an API token as `password: ${{ secrets.PYPI_API_TOKEN }}`")
	}
	s.AddMask(password)
	dir := with["packages-dir"]
	if dir == "" {
		dir = "dist"
	}
	// Only the job's own files are published: a packages-dir outside the
	// job's directories (or a link leading out) is refused.
	dir, err := c.Roots.Resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("packages-dir: %w", err)
	}
	user := with["user"]
	if user == "" {
		user = "__token__"
	}
	if with["attestations"] == "true" {
		s.Log("attestations: skipped (they are signed with GitHub's OIDC identity, which is not available here)")
	}
	res, err := pypi.Upload(ctx, dir, pypi.UploadOptions{
		RepositoryURL: with["repository-url"],
		User:          user,
		Password:      password,
		SkipExisting:  with["skip-existing"] == "true",
		Verbose:       with["verbose"] == "true",
		PrintHash:     with["print-hash"] == "true",
		Log:           s.Log,
	})
	if err != nil {
		return nil, err
	}
	uploaded := 0
	for _, r := range res {
		if !r.Skipped {
			uploaded++
		}
	}
	s.Log(fmt.Sprintf("%d file(s) uploaded, %d skipped", uploaded, len(res)-uploaded))
	return map[string]string{}, nil
}
