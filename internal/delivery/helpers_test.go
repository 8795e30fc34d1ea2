package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/roots"
	"github.com/sluice-ci/sluice/internal/store"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// fixture is a database with one repository and run, and an artifact store.
type fixture struct {
	db   *store.DB
	arts *artifacts.Store
	repo *store.Repo
	run  *store.Run
	dir  string // the artifact store's directory
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := db.CreateRepo(ctx, store.Repo{Name: "acme/app", URL: "file:///srv/acme/app"})
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := db.CreateRun(ctx, store.Run{RepoID: repo.ID, Workflow: ".github/workflows/ci.yml",
		Trigger: store.TriggerWebhook, Event: "push", Ref: "refs/heads/main"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "artifacts")
	arts, err := artifacts.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, arts: arts, repo: repo, run: run, dir: dir}
}

// upload stores files (slash path → content) as artifact name of run.
func (f *fixture) upload(t *testing.T, run int64, name string, files map[string]string) *artifacts.Artifact {
	t.Helper()
	return f.uploadLevel(t, run, name, files, 6)
}

// uploadStored uploads to the fixture's run without compression, so a test can find and change
// file content inside the stored zip.
func (f *fixture) uploadStored(t *testing.T, name string, files map[string]string) *artifacts.Artifact {
	t.Helper()
	return f.uploadLevel(t, f.run.ID, name, files, 0)
}

func (f *fixture) uploadLevel(t *testing.T, run int64, name string, files map[string]string, level int) *artifacts.Artifact {
	t.Helper()
	ws := t.TempDir()
	root := filepath.Join(ws, "out")
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, _, err := f.arts.Upload(context.Background(), strconv.FormatInt(run, 10), name, []string{root}, roots.New(ws, "", root),
		artifacts.UploadOptions{CompressionLevel: level, IfNoFilesFound: "error"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
