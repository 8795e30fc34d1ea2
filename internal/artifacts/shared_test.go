package artifacts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/roots"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// sharedPair is two replicas' stores on one blob store (a bucket of the real S3 test server,
// or a directory), with a lock they share as replicas share a database lock.
func sharedPair(t *testing.T, s3 bool) (*Store, *Store) {
	t.Helper()
	var blobs blob.Store
	var err error
	if s3 {
		_, loc := testenv.S3Bucket(t)
		blobs, err = blob.Open(context.Background(), loc, os.Getenv)
	} else {
		blobs, err = blob.OpenDisk(t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	lock := func(context.Context) (func(), error) { mu.Lock(); return mu.Unlock, nil }
	open := func() *Store {
		s, err := OpenShared(filepath.Join(t.TempDir(), "tmp"), blobs, lock)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return open(), open()
}

// An artifact uploaded through one replica is listed, read and downloaded through the other;
// concurrent uploads through both lose no index entry; pruning through one frees the blobs.
func TestSharedAcrossReplicas(t *testing.T) {
	for name, s3 := range map[string]bool{"disk": false, "s3": true} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := sharedPair(t, s3)
			ws := t.TempDir()
			writeTree(t, ws, map[string]string{"dist/app.whl": "wheel bytes", "dist/app.tar.gz": "sdist bytes"})
			up, _, err := a.Upload(ctx, "7", "dist", []string{filepath.Join(ws, "dist")}, roots.New(ws, ""), defaults())
			if err != nil {
				t.Fatal(err)
			}
			list, err := b.List("7")
			if err != nil || len(list) != 1 || list[0].Digest != up.Digest {
				t.Fatalf("the other replica lists %v, %v", list, err)
			}
			if diff := cmp.Diff(map[string]string{"app.whl": "wheel bytes", "app.tar.gz": "sdist bytes"}, zipContents(t, b, "7", up.ID)); diff != "" {
				t.Errorf("zip read through the other replica (-want +got):\n%s", diff)
			}
			dest := t.TempDir()
			if _, err := b.Download(ctx, "7", Selector{Name: "dist"}, dest, roots.New(dest, "")); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"app.whl": "wheel bytes", "app.tar.gz": "sdist bytes"}, readTree(t, dest)); diff != "" {
				t.Errorf("downloaded through the other replica (-want +got):\n%s", diff)
			}
			var wg sync.WaitGroup
			for i := range 6 {
				s := []*Store{a, b}[i%2]
				wg.Go(func() {
					dir := t.TempDir()
					writeTree(t, dir, map[string]string{"f.txt": fmt.Sprint("content ", i)})
					if _, _, err := s.Upload(ctx, "8", fmt.Sprint("part-", i), []string{filepath.Join(dir, "f.txt")}, roots.New(dir, ""), defaults()); err != nil {
						t.Errorf("Upload: %v", err)
					}
				})
			}
			wg.Wait()
			if list, err := a.List("8"); err != nil || len(list) != 6 {
				t.Errorf("after concurrent uploads through both replicas: %d artifacts, %v; want 6", len(list), err)
			}
			n, err := b.Prune(time.Now().Add(100 * 24 * time.Hour))
			if err != nil || n != 7 {
				t.Fatalf("Prune = %d, %v; want all 7", n, err)
			}
			if _, err := a.Open("7", up.ID); err == nil {
				t.Error("a pruned artifact still opens")
			}
		})
	}
}
