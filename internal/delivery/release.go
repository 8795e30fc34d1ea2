package delivery

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/provenance"
)

// Source is what the server knows about the run a release is made from.
type Source struct {
	RepoID       int64
	Repo         string // owner/name
	RunID        int64
	RunNumber    int64 // for messages; provenance names the run by RunID
	Commit       string
	Ref          string // full git ref
	WorkflowPath string
	LockHash     string // see LockHash
	BuilderID    string // SLSA builder id: who ran the build; required
	Started      time.Time
	Finished     time.Time
	Tools        map[string]string // tool name → version, e.g. "python" → "3.12.4"
}

// ReleaseStore is where MakeRelease records a release and its artifacts; *store.DB is one.
type ReleaseStore interface {
	CreateRelease(ctx context.Context, repoID int64, r cd.Release) (out *cd.Release, created bool, err error)
	PutArtifact(ctx context.Context, a cd.Artifact, provenance json.RawMessage) error
}

// MakeRelease makes the release of the files run src.RunID uploaded as artifacts: every regular
// file in every artifact zip becomes a release artifact named "<artifact name>/<path in zip>",
// recorded with one in-toto provenance statement covering them all. created is false when the
// same bytes were already released (a release is its digests). A run that uploaded no file makes
// no release: (nil, false, nil).
func MakeRelease(ctx context.Context, db ReleaseStore, arts *artifacts.Store, src Source) (rel *cd.Release, created bool, err error) {
	if src.BuilderID == "" {
		return nil, false, fmt.Errorf("making the release of run %d: no builder id", src.RunID)
	}
	found, err := runArtifacts(ctx, arts, src.RunID)
	if err != nil {
		return nil, false, fmt.Errorf("making the release of run %d: %w", src.RunID, err)
	}
	if len(found) == 0 {
		return nil, false, nil
	}
	subjects := make([]provenance.Subject, len(found))
	names := make([]string, len(found))
	for i, a := range found {
		subjects[i] = provenance.Subject{Name: a.Name, Digest: a.Digest}
		names[i] = a.Name
	}
	stmt, err := provenance.Statement(subjects, provenance.BuildInfo{
		Repo:     src.Repo,
		Commit:   src.Commit,
		Ref:      src.Ref,
		Workflow: src.WorkflowPath,
		RunID:    strconv.FormatInt(src.RunID, 10),
		LockHash: src.LockHash,
		Tools:    src.Tools,
		Builder:  src.BuilderID,
		Started:  src.Started,
		Finished: src.Finished,
	})
	if err != nil {
		return nil, false, fmt.Errorf("making the release of run %d: %w", src.RunID, err)
	}
	for _, a := range found {
		if err := db.PutArtifact(ctx, a, stmt); err != nil {
			return nil, false, fmt.Errorf("making the release of run %d: %w", src.RunID, err)
		}
	}
	r, err := cd.NewRelease(cd.ReleaseSource{
		Repo:     src.Repo,
		Commit:   src.Commit,
		Ref:      src.Ref,
		Version:  releaseVersion(names),
		LockHash: src.LockHash,
		RunID:    src.RunID,
	}, found, src.Finished)
	if err != nil {
		return nil, false, fmt.Errorf("making the release of run %d: %w", src.RunID, err)
	}
	rel, created, err = db.CreateRelease(ctx, src.RepoID, r)
	if err != nil {
		return nil, false, fmt.Errorf("making the release of run %d (#%d): %w", src.RunID, src.RunNumber, err)
	}
	return rel, created, nil
}

// runArtifacts digests every regular file the run's artifact zips hold, sorted by name.
func runArtifacts(ctx context.Context, arts *artifacts.Store, run int64) ([]cd.Artifact, error) {
	zs, err := openRunZips(ctx, arts, run)
	if err != nil {
		return nil, err
	}
	defer closeZips(zs)
	var errs []error
	for _, z := range zs {
		if z.err != nil {
			errs = append(errs, fmt.Errorf("artifact %q: %w", z.name, z.err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	byName := files(zs)
	out := make([]cd.Artifact, 0, len(byName))
	for name, zf := range byName {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := digestEntry(name, zf)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b cd.Artifact) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// digestEntry hashes one file of a zip. Small files are kept whole while hashing so that image
// manifests can be recognised by their content.
func digestEntry(name string, zf *zip.File) (cd.Artifact, error) {
	rc, err := zf.Open()
	if err != nil {
		return cd.Artifact{}, fmt.Errorf("opening %s: %w", name, err)
	}
	defer rc.Close()
	h := sha256.New()
	var head []byte
	var n int64
	if zf.UncompressedSize64 <= maxSniff {
		head, err = io.ReadAll(rc)
		h.Write(head)
		n = int64(len(head))
	} else {
		n, err = io.Copy(h, rc)
	}
	if err != nil {
		return cd.Artifact{}, fmt.Errorf("reading %s: %w", name, err)
	}
	return cd.Artifact{
		Name:      name,
		Digest:    "sha256:" + hex.EncodeToString(h.Sum(nil)),
		Size:      n,
		MediaType: mediaType(name, head),
	}, nil
}
