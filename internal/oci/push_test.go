package oci

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry runs an in-process OCI registry on 127.0.0.1 and returns
// its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func remoteDigest(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// Read every layer back so a digest match is not just the manifest's.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("reading layer of %s: %v", ref, err)
		}
		rc.Close()
	}
	return d.String()
}

func TestPushPullAndPromote(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	res, err := Build(ctx, f.spec(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t)
	blobs := len(res.Layers) + 1 // layers and config

	var mu sync.Mutex
	var logged []string
	logf := func(s string) { mu.Lock(); logged = append(logged, s); mu.Unlock() }

	first, err := Push(ctx, res.Path, reg+"/acme/service:build-1", true, logf)
	if err != nil {
		t.Fatal(err)
	}
	if first.BlobsUploaded != blobs || first.BlobsSkipped != 0 || first.BytesUploaded == 0 {
		t.Errorf("first push = %+v, want %d blobs uploaded", first, blobs)
	}
	if got := remoteDigest(t, reg+"/acme/service:build-1"); got != res.Digest {
		t.Errorf("pulled digest %s, built %s", got, res.Digest)
	}
	if !slicesContainPrefix(logged, "uploaded sha256:") || !slicesContainPrefix(logged, "pushed manifest build-1") {
		t.Errorf("log = %v", logged)
	}

	// Same digests again, new tag and a promotion to another repository:
	// no layer moves.
	again, err := Push(ctx, res.Path, reg+"/acme/service:build-1-again", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := Copy(ctx, reg+"/acme/service@"+res.Digest, reg+"/acme/service-prod:1.0", true)
	if err != nil {
		t.Fatal(err)
	}
	for what, st := range map[string]PushStats{"re-push": again, "promotion": promoted} {
		if diff := cmp.Diff(PushStats{BlobsSkipped: blobs}, st, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Requests" }, cmp.Ignore())); diff != "" {
			t.Errorf("%s moved data (-want +got):\n%s", what, diff)
		}
	}
	if got := remoteDigest(t, reg+"/acme/service-prod:1.0"); got != res.Digest {
		t.Errorf("promoted digest %s, want %s", got, res.Digest)
	}

	// To another registry the first copy moves every blob, the second none.
	other := startRegistry(t)
	cross, err := Copy(ctx, reg+"/acme/service-prod:1.0", other+"/prod/service:1.0", true)
	if err != nil {
		t.Fatal(err)
	}
	if cross.BlobsUploaded != blobs || cross.BytesUploaded < first.BytesUploaded {
		t.Errorf("cross-registry copy = %+v, want %d blobs and >= %d bytes", cross, blobs, first.BytesUploaded)
	}
	crossAgain, err := Copy(ctx, reg+"/acme/service-prod:1.0", other+"/prod/service:1.0-again", true)
	if err != nil {
		t.Fatal(err)
	}
	if crossAgain.BlobsUploaded != 0 || crossAgain.BytesUploaded != 0 {
		t.Errorf("second cross-registry copy = %+v, want nothing uploaded", crossAgain)
	}
	if got := remoteDigest(t, other+"/prod/service:1.0"); got != res.Digest {
		t.Errorf("cross-registry digest %s, want %s", got, res.Digest)
	}

	// A base from a registry ref builds the same image as from the archive.
	if _, err := Push(ctx, f.base, reg+"/base/random:1", true, nil); err != nil {
		t.Fatal(err)
	}
	s := f.spec(t, t.TempDir())
	s.Base, s.BaseInsecure = reg+"/base/random:1", true
	fromRegistry, err := Build(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if fromRegistry.Digest != res.Digest {
		t.Errorf("build from registry base = %s, from archive = %s", fromRegistry.Digest, res.Digest)
	}
}

func TestPushErrors(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t)
	ctx := context.Background()
	if _, err := Push(ctx, "/does/not/exist", reg+"/a:b", true, nil); err == nil {
		t.Error("push of a missing path succeeded")
	}
	if _, err := Copy(ctx, reg+"/missing/repo:tag", reg+"/x:y", true); err == nil {
		t.Error("copy of a missing image succeeded")
	}
}

func slicesContainPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
