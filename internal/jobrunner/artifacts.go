package jobrunner

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/sluice-ci/sluice/internal/agent"
	"github.com/sluice-ci/sluice/internal/artifacts"
)

// artDirFor is where the engine's artifact actions keep a job's artifacts:
// the server's store when the agent shares its machine, else a local store
// synchronised with the server around the job.
func artDirFor(cfg Config, lease agent.Lease, dir string) string {
	if cfg.ArtifactDir != "" || lease.Server == nil {
		return cfg.ArtifactDir
	}
	return filepath.Join(dir, "artifacts")
}

// pullArtifacts copies the run's artifacts from the server into the job's
// local store, so download-artifact finds what other agents' jobs made.
func pullArtifacts(ctx context.Context, c *agent.Client, runID int64, dir string) error {
	list, err := c.ListArtifacts(ctx, runID)
	if err != nil || len(list) == 0 {
		return err
	}
	store, err := artifacts.Open(dir)
	if err != nil {
		return err
	}
	run := strconv.FormatInt(runID, 10)
	for _, a := range list {
		var buf bytes.Buffer
		if err := c.DownloadArtifact(ctx, runID, a.ID, &buf); err != nil {
			return err
		}
		if _, _, err := store.Import(ctx, run, a.Name, &buf, artifacts.UploadOptions{CompressionLevel: 6, IfNoFilesFound: "ignore"}); err != nil {
			return fmt.Errorf("artifact %s: %w", a.Name, err)
		}
	}
	return nil
}

// pushArtifacts sends the artifacts the job made to the server.
func pushArtifacts(ctx context.Context, c *agent.Client, runID int64, dir string) error {
	store, err := artifacts.Open(dir)
	if err != nil {
		return err
	}
	run := strconv.FormatInt(runID, 10)
	local, err := store.List(run)
	if err != nil || len(local) == 0 {
		return err
	}
	remote, err := c.ListArtifacts(ctx, runID)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, a := range remote {
		have[a.Name] = true
	}
	for _, a := range local {
		if have[a.Name] {
			continue
		}
		rc, err := store.Open(run, a.ID)
		if err != nil {
			return err
		}
		_, err = c.UploadArtifact(ctx, runID, a.Name, rc, agent.ArtifactOptions{})
		rc.Close()
		if err != nil {
			return fmt.Errorf("artifact %s: %w", a.Name, err)
		}
	}
	return nil
}
