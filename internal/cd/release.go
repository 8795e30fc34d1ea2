package cd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ErrDigestMismatch is what a caller reports (through GateInput.DigestErr) when an artifact's
// bytes do not hash to the digest the release recorded: the release was tampered with or
// corrupted, and must not be deployed.
var ErrDigestMismatch = errors.New("artifact digest mismatch")

// Artifact is one file a run produced, addressed by its content.
type Artifact struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"` // "sha256:" + 64 lowercase hex digits
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
}

// Release is an immutable set of artifacts from one run. Its ID depends only on the artifacts'
// digests, so the same bytes always make the same release, whatever run or name produced them.
type Release struct {
	ID        string     `json:"id"`
	Version   string     `json:"version,omitempty"`
	Repo      string     `json:"repo"`
	Commit    string     `json:"commit"`
	Ref       string     `json:"ref"` // full git ref the run built (refs/heads/…, refs/tags/…, refs/pull/…)
	LockHash  string     `json:"lock_hash,omitempty"`
	RunID     int64      `json:"run_id"`
	Artifacts []Artifact `json:"artifacts"`
	Rejected  bool       `json:"rejected,omitempty"`
	Created   time.Time  `json:"created"`
}

// ReleaseSource is where a release's artifacts came from.
type ReleaseSource struct {
	Repo, Commit, Ref, Version, LockHash string
	RunID                                int64
}

// NewRelease makes a release of artifacts built by src. Artifacts are kept sorted by name (then
// digest) so that stored releases compare equal regardless of upload order.
func NewRelease(src ReleaseSource, artifacts []Artifact, created time.Time) (Release, error) {
	if len(artifacts) == 0 {
		return Release{}, errors.New("making a release: no artifacts")
	}
	for _, a := range artifacts {
		if err := checkDigest(a.Digest); err != nil {
			return Release{}, fmt.Errorf("making a release: artifact %q: %w", a.Name, err)
		}
	}
	arts := slices.Clone(artifacts)
	slices.SortFunc(arts, func(a, b Artifact) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Digest, b.Digest)
	})
	return Release{
		ID:        ReleaseID(arts),
		Version:   src.Version,
		Repo:      src.Repo,
		Commit:    src.Commit,
		Ref:       src.Ref,
		LockHash:  src.LockHash,
		RunID:     src.RunID,
		Artifacts: arts,
		Created:   created,
	}, nil
}

// ReleaseID is "sha256:" + the hex sha256 of the artifacts' distinct digests, sorted, each
// followed by a newline. Names, sizes and order do not count: a release is its bytes.
func ReleaseID(artifacts []Artifact) string {
	ds := make([]string, 0, len(artifacts))
	for _, a := range artifacts {
		ds = append(ds, a.Digest)
	}
	slices.Sort(ds)
	ds = slices.Compact(ds)
	h := sha256.New()
	for _, d := range ds {
		io.WriteString(h, d+"\n")
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func checkDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 || strings.ToLower(hexPart) != hexPart {
		return fmt.Errorf("digest %q is not sha256:<64 lowercase hex digits>", d)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return fmt.Errorf("digest %q is not sha256:<64 lowercase hex digits>", d)
	}
	return nil
}

// VerifyArtifact reads an artifact's bytes and checks them against its recorded digest and size.
// A mismatch wraps ErrDigestMismatch.
func VerifyArtifact(a Artifact, r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return fmt.Errorf("reading artifact %q: %w", a.Name, err)
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if got != a.Digest {
		return fmt.Errorf("artifact %q: recorded %s, got %s: %w", a.Name, a.Digest, got, ErrDigestMismatch)
	}
	if a.Size != 0 && n != a.Size {
		return fmt.Errorf("artifact %q: recorded %d bytes, got %d: %w", a.Name, a.Size, n, ErrDigestMismatch)
	}
	return nil
}
