package delivery

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/cd"
)

// VerifyRelease re-reads every artifact of rel from the zips its run uploaded and checks each
// file's digest and size against what the release recorded. Every missing or changed file is
// reported; the error wraps cd.ErrDigestMismatch when any file is missing or differs.
func VerifyRelease(ctx context.Context, arts *artifacts.Store, rel *cd.Release) error {
	if rel.RunID == 0 {
		return fmt.Errorf("verifying release %s: it has no run to read its artifacts from", rel.ID)
	}
	zs, err := openRunZips(ctx, arts, rel.RunID)
	if err != nil {
		return fmt.Errorf("verifying release %s: %w", rel.ID, err)
	}
	defer closeZips(zs)
	byName := files(zs)
	var errs []error
	for _, a := range rel.Artifacts {
		if err := ctx.Err(); err != nil {
			return err
		}
		zf, ok := byName[a.Name]
		if !ok {
			errs = append(errs, missing(a, zs, rel.RunID))
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			// The zip's directory names the file but its data cannot be read: it was changed.
			errs = append(errs, fmt.Errorf("artifact %q: recorded %s, cannot read it: %v: %w", a.Name, a.Digest, err, cd.ErrDigestMismatch))
			continue
		}
		err = cd.VerifyArtifact(a, rc)
		rc.Close()
		if err != nil && !errors.Is(err, cd.ErrDigestMismatch) && (errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat)) {
			// Bytes changed in place inside the zip fail its CRC before they can be hashed.
			err = fmt.Errorf("artifact %q: recorded %s, got bytes that fail the zip's own check (%v): %w", a.Name, a.Digest, err, cd.ErrDigestMismatch)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verifying release %s: %w", rel.ID, err)
	}
	return nil
}

// missing explains why artifact a is not among the run's files: its zip is unreadable, or gone.
func missing(a cd.Artifact, zs []runZip, run int64) error {
	for _, z := range zs {
		if z.err != nil && strings.HasPrefix(a.Name, z.name+"/") {
			return fmt.Errorf("artifact %q: recorded %s, but the zip of %q cannot be read: %v: %w", a.Name, a.Digest, z.name, z.err, cd.ErrDigestMismatch)
		}
	}
	return fmt.Errorf("artifact %q: recorded %s, got no such file in run %d's artifacts: %w", a.Name, a.Digest, run, cd.ErrDigestMismatch)
}
