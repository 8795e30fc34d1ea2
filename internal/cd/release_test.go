package cd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestReleaseID(t *testing.T) {
	whl := Artifact{Name: "app-1.0-py3-none-any.whl", Digest: digestOf("wheel"), Size: 5}
	sdist := Artifact{Name: "app-1.0.tar.gz", Digest: digestOf("sdist"), Size: 5}
	// The ID is sha256 over the sorted digests, one per line; computed here independently.
	lines := []string{whl.Digest, sdist.Digest}
	if lines[1] < lines[0] {
		lines[0], lines[1] = lines[1], lines[0]
	}
	want := digestOf(strings.Join(lines, "\n") + "\n")

	src := ReleaseSource{Repo: "acme/app", Commit: "abc", Ref: "refs/heads/main", Version: "1.0", LockHash: "h", RunID: 7}
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := NewRelease(src, []Artifact{whl, sdist}, created)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != want {
		t.Errorf("ID = %s, want %s", a.ID, want)
	}
	// Order, names, sizes, duplicates and provenance do not change the ID.
	renamed := sdist
	renamed.Name, renamed.Size = "other.tar.gz", 99
	b, err := NewRelease(ReleaseSource{Repo: "acme/fork", RunID: 8}, []Artifact{renamed, whl, whl}, created.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID {
		t.Errorf("same digests gave IDs %s and %s", a.ID, b.ID)
	}
	// Different bytes do.
	c, err := NewRelease(src, []Artifact{whl}, created)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID {
		t.Error("a different artifact set gave the same ID")
	}
	wantRel := Release{ID: want, Version: "1.0", Repo: "acme/app", Commit: "abc", Ref: "refs/heads/main", LockHash: "h", RunID: 7,
		Artifacts: []Artifact{whl, sdist}, Created: created}
	if diff := cmp.Diff(wantRel, a); diff != "" {
		t.Errorf("NewRelease mismatch (-want +got):\n%s", diff)
	}
}

func TestNewReleaseRefusesBadDigests(t *testing.T) {
	for _, d := range []string{"", "sha256:abc", "md5:" + strings.Repeat("0", 64), "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("g", 64)} {
		if _, err := NewRelease(ReleaseSource{}, []Artifact{{Name: "x", Digest: d}}, time.Time{}); err == nil {
			t.Errorf("digest %q accepted", d)
		}
	}
	if _, err := NewRelease(ReleaseSource{}, nil, time.Time{}); err == nil {
		t.Error("empty release accepted")
	}
}

func TestVerifyArtifact(t *testing.T) {
	a := Artifact{Name: "app.whl", Digest: digestOf("wheel"), Size: 5}
	if err := VerifyArtifact(a, strings.NewReader("wheel")); err != nil {
		t.Errorf("genuine bytes: %v", err)
	}
	if err := VerifyArtifact(a, strings.NewReader("wheeL")); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("tampered bytes: %v, want ErrDigestMismatch", err)
	}
	a.Size = 6
	if err := VerifyArtifact(a, strings.NewReader("wheel")); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong size: %v, want ErrDigestMismatch", err)
	}
}
