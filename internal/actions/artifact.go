package actions

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/artifacts"
)

// ArtifactDir is where a state directory keeps run artifacts.
func ArtifactDir(stateDir string) string { return filepath.Join(stateDir, "artifacts") }

func artifactDir(c StepContext) string {
	if c.ArtifactDir != "" {
		return c.ArtifactDir
	}
	return ArtifactDir(c.StateDir)
}

// UploadArtifact is actions/upload-artifact (v4 semantics).
func UploadArtifact(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	store, err := artifacts.Open(artifactDir(c))
	if err != nil {
		return nil, err
	}
	name := with["name"]
	if name == "" {
		name = "artifact"
	}
	paths := lines(with["path"])
	if len(paths) == 0 {
		return nil, fmt.Errorf("input path is required: the files to upload")
	}
	o := artifacts.UploadOptions{
		IncludeHidden:    with["include-hidden-files"] == "true",
		IfNoFilesFound:   with["if-no-files-found"],
		CompressionLevel: 6,
		Overwrite:        with["overwrite"] == "true",
	}
	if v := with["retention-days"]; v != "" {
		if o.RetentionDays, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("retention-days %q is not a whole number", v)
		}
	}
	if v := with["compression-level"]; v != "" {
		if o.CompressionLevel, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("compression-level %q is not a whole number", v)
		}
	}
	a, warning, err := store.Upload(ctx, c.RunID, name, paths, c.Roots, o)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		s.Warn(warning)
	}
	if a == nil {
		return map[string]string{}, nil
	}
	s.Log(fmt.Sprintf("Artifact %s uploaded: %d files, %d bytes, %s (id %d)", a.Name, a.Files, a.Size, a.Digest, a.ID))
	return map[string]string{"artifact-id": strconv.FormatInt(a.ID, 10), "artifact-digest": strings.TrimPrefix(a.Digest, "sha256:")}, nil
}

// MergeArtifacts is actions/upload-artifact/merge (v4 semantics): the run's artifacts whose
// names match pattern become one artifact, each in a directory of its own name when
// separate-directories is true, and are deleted after when delete-merged is true. Coverage
// collectors use it to gather the legs' files.
func MergeArtifacts(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	store, err := artifacts.Open(artifactDir(c))
	if err != nil {
		return nil, err
	}
	name := firstNonEmpty(with["name"], "merged-artifacts")
	pattern := firstNonEmpty(with["pattern"], "*")
	// The job's own temporary directory holds the merged files while they are packed.
	dir, err := os.MkdirTemp(c.Temp, "merge-")
	if err != nil {
		return nil, fmt.Errorf("merging artifacts: %w", err)
	}
	defer os.RemoveAll(dir)
	sel := artifacts.Selector{Pattern: pattern, MergeMultiple: with["separate-directories"] != "true"}
	got, err := store.Download(ctx, c.RunID, sel, dir, c.Roots)
	if err != nil {
		return nil, fmt.Errorf("merging artifacts: %w", err)
	}
	if len(got) == 0 {
		return nil, fmt.Errorf("no artifacts of this run match the pattern %q: upload them first, or fix the pattern", pattern)
	}
	s.Log(fmt.Sprintf("Merging %d artifact(s) matching %q into %s", len(got), pattern, name))
	outs, err := UploadArtifact(ctx, s, map[string]string{
		"name": name, "path": dir, "if-no-files-found": "error", "overwrite": with["overwrite"],
		"retention-days": with["retention-days"], "compression-level": with["compression-level"],
		"include-hidden-files": with["include-hidden-files"],
	})
	if err != nil {
		return nil, err
	}
	if with["delete-merged"] == "true" {
		var ids []int64
		for _, a := range got {
			if a.Name != name {
				ids = append(ids, a.ID)
			}
		}
		n, err := store.Delete(c.RunID, ids)
		if err != nil {
			return nil, fmt.Errorf("deleting the merged artifacts: %w", err)
		}
		s.Log(fmt.Sprintf("Deleted %d merged artifact(s)", n))
	}
	return outs, nil
}

// DownloadArtifact is actions/download-artifact (v4 semantics).
func DownloadArtifact(ctx context.Context, s Step, with map[string]string) (map[string]string, error) {
	c := s.Context()
	store, err := artifacts.Open(artifactDir(c))
	if err != nil {
		return nil, err
	}
	run := c.RunID
	if r := with["run-id"]; r != "" {
		run = r
	}
	sel := artifacts.Selector{Name: with["name"], Pattern: with["pattern"], MergeMultiple: with["merge-multiple"] == "true"}
	for _, id := range strings.FieldsFunc(with["artifact-ids"], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("artifact-ids: %q is not an artifact id", id)
		}
		sel.IDs = append(sel.IDs, n)
	}
	dest := c.Roots.Abs(with["path"])
	got, err := store.Download(ctx, run, sel, dest, c.Roots)
	if err != nil {
		return nil, err
	}
	for _, a := range got {
		s.Log(fmt.Sprintf("Artifact %s (id %d, %s) downloaded to %s", a.Name, a.ID, a.Digest, dest))
	}
	return map[string]string{"download-path": dest}, nil
}
