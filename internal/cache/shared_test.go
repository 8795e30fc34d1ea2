package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/blob"
	jobroots "github.com/sluice-ci/sluice/internal/roots"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// A cache saved through one replica restores through another (the real S3 test server, or a
// shared directory), and the key stays immutable across them.
func TestSharedAcrossReplicas(t *testing.T) {
	for name, s3 := range map[string]bool{"disk": false, "s3": true} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var blobs blob.Store
			var err error
			if s3 {
				_, loc := testenv.S3Bucket(t)
				blobs, err = blob.Open(ctx, loc, os.Getenv)
			} else {
				blobs, err = blob.OpenDisk(t.TempDir())
			}
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			lock := func(context.Context) (func(), error) { mu.Lock(); return mu.Unlock, nil }
			open := func() *Store {
				s, err := OpenShared(filepath.Join(t.TempDir(), "cache"), 0, blobs, lock)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			a, b := open(), open()
			ws := t.TempDir()
			tree := map[string]string{"venv/lib/site.py": "print(1)", "venv/bin/python": "-> /usr/bin/python3"}
			writeTree(t, ws, tree)
			paths := []string{"venv"}
			v := Version(paths)
			if _, err := a.Save(ctx, "o/r", "venv-1", paths, v, jobroots.New(ws, "")); err != nil {
				t.Fatal(err)
			}
			ws2 := t.TempDir()
			matched, exact, err := b.Restore(ctx, "o/r", "venv-1", nil, v, false, jobroots.New(ws2, ""))
			if err != nil || matched != "venv-1" || !exact {
				t.Fatalf("Restore through the other replica = %q, %v, %v", matched, exact, err)
			}
			if diff := cmp.Diff(tree, readTree(t, ws2)); diff != "" {
				t.Errorf("restored tree (-want +got):\n%s", diff)
			}
			if _, err := b.Save(ctx, "o/r", "venv-1", paths, v, jobroots.New(ws, "")); !errors.Is(err, ErrExists) {
				t.Errorf("saving the same key through the other replica: %v, want ErrExists", err)
			}
		})
	}
}
