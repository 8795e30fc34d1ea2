package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Artifact is an artifact kept by the server for a run.
type Artifact struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	Digest  string    `json:"digest"` // sha256:<hex> of the zip the server keeps
	Files   int       `json:"files"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// ArtifactOptions are upload-artifact's options that the server applies.
type ArtifactOptions struct {
	RetentionDays    int  // 0: the server's default
	CompressionLevel *int // nil: 6
	Overwrite        bool
}

// UploadArtifact sends zipBody (a zip of the artifact's files, names relative to the artifact
// root) as artifact name of run runID. The agent must be running a job of that run.
func (c *Client) UploadArtifact(ctx context.Context, runID int64, name string, zipBody io.Reader, o ArtifactOptions) (*Artifact, error) {
	q := url.Values{"name": {name}}
	if o.RetentionDays != 0 {
		q.Set("retention_days", strconv.Itoa(o.RetentionDays))
	}
	if o.CompressionLevel != nil {
		q.Set("compression_level", strconv.Itoa(*o.CompressionLevel))
	}
	if o.Overwrite {
		q.Set("overwrite", "true")
	}
	resp, err := c.send(ctx, http.MethodPost, fmt.Sprintf("/api/v1/agent/runs/%d/artifacts?%s", runID, q.Encode()),
		"application/zip", zipBody)
	if err != nil {
		return nil, fmt.Errorf("uploading artifact %q: %w", name, err)
	}
	defer resp.Body.Close()
	var a Artifact
	if err := decodeJSON(resp.Body, &a); err != nil {
		return nil, fmt.Errorf("uploading artifact %q: %w", name, err)
	}
	return &a, nil
}

// ListArtifacts returns the artifacts of run runID in upload order.
func (c *Client) ListArtifacts(ctx context.Context, runID int64) ([]Artifact, error) {
	var out []Artifact
	if _, err := c.call(ctx, http.MethodGet, fmt.Sprintf("/api/v1/agent/runs/%d/artifacts", runID), nil, &out); err != nil {
		return nil, fmt.Errorf("listing artifacts of run %d: %w", runID, err)
	}
	return out, nil
}

// DownloadArtifact writes the zip of artifact id of run runID to w.
func (c *Client) DownloadArtifact(ctx context.Context, runID, id int64, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, fmt.Sprintf("/api/v1/agent/runs/%d/artifacts/%d", runID, id), "", nil)
	if err != nil {
		return fmt.Errorf("downloading artifact %d of run %d: %w", id, runID, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("downloading artifact %d of run %d: %w", id, runID, err)
	}
	return nil
}
