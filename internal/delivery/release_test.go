package delivery

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/provenance"
)

const (
	wheelName = "app-1.4.2-py3-none-any.whl"
	sdistName = "app-1.4.2.tar.gz"
	manifest  = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:aa"},"layers":[]}`
)

func (f *fixture) source() Source {
	return Source{
		RepoID: f.repo.ID, Repo: "acme/app", RunID: f.run.ID, RunNumber: f.run.Number,
		Commit: "0123456789abcdef0123456789abcdef01234567", Ref: "refs/heads/main",
		WorkflowPath: ".github/workflows/ci.yml", LockHash: "sha256:" + strings.Repeat("b", 64),
		BuilderID: "https://sluice.example/agents/a1",
		Started:   time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Finished:  time.Date(2025, 3, 1, 12, 5, 0, 0, time.UTC),
		Tools:     map[string]string{"python": "3.12.4", "uv": "0.5.1"},
	}
}

func TestMakeRelease(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	files := map[string]string{
		"dist/" + wheelName:         "wheel bytes",
		"dist/" + sdistName:         "sdist bytes",
		"image/manifest.json":       manifest,
		"image/notes/changelog.txt": "fixed things",
	}
	f.upload(t, f.run.ID, "dist", map[string]string{wheelName: files["dist/"+wheelName], sdistName: files["dist/"+sdistName]})
	f.upload(t, f.run.ID, "image", map[string]string{"manifest.json": manifest, "notes/changelog.txt": files["image/notes/changelog.txt"]})
	// Another run's artifacts are not part of this release.
	f.upload(t, f.run.ID+1, "dist", map[string]string{"other.txt": "not mine"})

	src := f.source()
	rel, created, err := MakeRelease(ctx, f.db, f.arts, src)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false for a new release")
	}
	types := map[string]string{
		"dist/" + wheelName:         MediaTypeWheel,
		"dist/" + sdistName:         MediaTypeSdist,
		"image/manifest.json":       MediaTypeOCIManifest,
		"image/notes/changelog.txt": MediaTypeOctetStream,
	}
	var want []cd.Artifact
	for _, name := range []string{"dist/" + wheelName, "dist/" + sdistName, "image/manifest.json", "image/notes/changelog.txt"} {
		want = append(want, cd.Artifact{Name: name, Digest: digestOf([]byte(files[name])), Size: int64(len(files[name])), MediaType: types[name]})
	}
	if diff := cmp.Diff(want, rel.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	gotMeta := []string{rel.ID, rel.Version, rel.Repo, rel.Commit, rel.Ref, rel.LockHash}
	wantMeta := []string{cd.ReleaseID(want), "1.4.2", "acme/app", src.Commit, src.Ref, src.LockHash}
	if diff := cmp.Diff(wantMeta, gotMeta); diff != "" {
		t.Errorf("id, version, repo, commit, ref, lock hash (-want +got):\n%s", diff)
	}
	if rel.RunID != f.run.ID {
		t.Errorf("run id = %d, want %d", rel.RunID, f.run.ID)
	}

	stored, err := f.db.ReleaseOfRun(ctx, f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ID != rel.ID {
		t.Errorf("ReleaseOfRun = %s, want %s", stored.ID, rel.ID)
	}

	// Every artifact carries a provenance statement naming it and recording the run.
	for _, a := range want {
		rec, err := f.db.GetArtifact(ctx, a.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := provenance.Verify(rec.Provenance, a.Name, a.Digest); err != nil {
			t.Errorf("%s: %v", a.Name, err)
		}
		doc, err := provenance.Parse(rec.Provenance)
		if err != nil {
			t.Fatal(err)
		}
		wantInfo := provenance.BuildInfo{Repo: src.Repo, Commit: src.Commit, Ref: src.Ref, Workflow: src.WorkflowPath,
			RunID: strconv.FormatInt(f.run.ID, 10), LockHash: src.LockHash, Tools: src.Tools, Builder: src.BuilderID, Started: src.Started, Finished: src.Finished}
		if diff := cmp.Diff(wantInfo, doc.BuildInfo()); diff != "" {
			t.Errorf("%s: provenance (-want +got):\n%s", a.Name, diff)
		}
		if len(doc.Subject) != len(want) {
			t.Errorf("%s: statement has %d subjects, want %d", a.Name, len(doc.Subject), len(want))
		}
	}

	// The same bytes make the same release again, not a new one.
	again, created, err := MakeRelease(ctx, f.db, f.arts, src)
	if err != nil {
		t.Fatal(err)
	}
	if created || again.ID != rel.ID {
		t.Errorf("second MakeRelease = (%s, created %v), want (%s, false)", again.ID, created, rel.ID)
	}
}

func TestMakeReleaseNothingUploaded(t *testing.T) {
	f := newFixture(t)
	f.upload(t, f.run.ID+1, "dist", map[string]string{"x.txt": "another run's"})
	rel, created, err := MakeRelease(context.Background(), f.db, f.arts, f.source())
	if rel != nil || created || err != nil {
		t.Errorf("MakeRelease = (%v, %v, %v), want (nil, false, nil)", rel, created, err)
	}
}

func TestMakeReleaseNeedsBuilder(t *testing.T) {
	f := newFixture(t)
	f.upload(t, f.run.ID, "dist", map[string]string{wheelName: "w"})
	src := f.source()
	src.BuilderID = ""
	if _, _, err := MakeRelease(context.Background(), f.db, f.arts, src); err == nil {
		t.Error("MakeRelease without a builder id succeeded")
	}
}
