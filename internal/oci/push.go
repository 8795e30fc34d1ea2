package oci

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushStats says what a push or copy moved.
type PushStats struct {
	BlobsUploaded int   // blobs (layers, config) whose bytes were sent
	BlobsSkipped  int   // blobs the registry already had or mounted from another repository
	BytesUploaded int64 // blob bytes sent, including any retried upload
	Requests      int   // HTTP requests made to the destination registry
}

// Push uploads the image at layoutOrTar (an OCI layout directory, OCI archive
// or docker archive) to ref. Blobs the registry already has are not sent, so
// pushing the same image under a new tag moves no layers.
func Push(ctx context.Context, layoutOrTar, ref string, insecure bool, log func(string)) (PushStats, error) {
	if _, err := os.Stat(layoutOrTar); err != nil {
		return PushStats{}, fmt.Errorf("pushing %s: %w", layoutOrTar, err)
	}
	scratch, err := os.MkdirTemp("", "sluice-oci-push-")
	if err != nil {
		return PushStats{}, fmt.Errorf("creating scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	img, cleanup, err := openImage(ctx, layoutOrTar, false, scratch)
	if err != nil {
		return PushStats{}, err
	}
	defer cleanup()
	dst, err := name.ParseReference(ref, nameOpts(insecure)...)
	if err != nil {
		return PushStats{}, fmt.Errorf("parsing %s: %w", ref, err)
	}
	return write(ctx, dst, img, log)
}

// Copy promotes src to dst (registry references, e.g. reg/app@sha256:… to
// reg/app-prod:1.2) keeping the manifest bytes and so the digest. Within one
// registry blobs are mounted or found present, so a promotion moves no layers.
func Copy(ctx context.Context, src, dst string, insecure bool) (PushStats, error) {
	srcRef, err := name.ParseReference(src, nameOpts(insecure)...)
	if err != nil {
		return PushStats{}, fmt.Errorf("parsing %s: %w", src, err)
	}
	dstRef, err := name.ParseReference(dst, nameOpts(insecure)...)
	if err != nil {
		return PushStats{}, fmt.Errorf("parsing %s: %w", dst, err)
	}
	desc, err := remote.Get(srcRef, remoteOpts(ctx, nil)...)
	if err != nil {
		return PushStats{}, fmt.Errorf("fetching %s: %w", src, err)
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return PushStats{}, fmt.Errorf("reading index %s: %w", src, err)
		}
		blobs, err := indexBlobs(idx)
		if err != nil {
			return PushStats{}, err
		}
		rt := newCountingTransport(nil)
		if err := remote.WriteIndex(dstRef, idx, remoteOpts(ctx, rt)...); err != nil {
			return rt.stats(len(blobs)), fmt.Errorf("copying %s to %s: %w", src, dst, err)
		}
		return rt.stats(len(blobs)), nil
	}
	img, err := desc.Image()
	if err != nil {
		return PushStats{}, fmt.Errorf("reading image %s: %w", src, err)
	}
	return write(ctx, dstRef, img, nil)
}

func write(ctx context.Context, dst name.Reference, img v1.Image, log func(string)) (PushStats, error) {
	blobs, err := imageBlobs(img)
	if err != nil {
		return PushStats{}, err
	}
	rt := newCountingTransport(log)
	if err := remote.Write(dst, img, remoteOpts(ctx, rt)...); err != nil {
		return rt.stats(len(blobs)), fmt.Errorf("pushing to %s: %w", dst, err)
	}
	return rt.stats(len(blobs)), nil
}

func imageBlobs(img v1.Image) (map[string]bool, error) {
	blobs := map[string]bool{}
	cfg, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	blobs[cfg.String()] = true
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("digesting layer: %w", err)
		}
		blobs[d.String()] = true
	}
	return blobs, nil
}

func indexBlobs(idx v1.ImageIndex) (map[string]bool, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index: %w", err)
	}
	blobs := map[string]bool{}
	for _, d := range im.Manifests {
		var child map[string]bool
		switch {
		case d.MediaType.IsIndex():
			ci, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading index %s: %w", d.Digest, err)
			}
			child, err = indexBlobs(ci)
			if err != nil {
				return nil, err
			}
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
			}
			child, err = imageBlobs(img)
			if err != nil {
				return nil, err
			}
		}
		for b := range child {
			blobs[b] = true
		}
	}
	return blobs, nil
}

// countingTransport watches the registry protocol as it goes by rather than
// trusting the client library's progress: a completed upload is a PUT to an
// upload location with ?digest=, and the bytes are what request bodies carried.
type countingTransport struct {
	inner http.RoundTripper
	log   func(string)

	mu       sync.Mutex
	uploaded map[string]bool
	bodies   []*countingReader
	requests int
}

func newCountingTransport(log func(string)) *countingTransport {
	return &countingTransport{inner: remote.DefaultTransport, log: log, uploaded: map[string]bool{}}
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	upload := strings.Contains(req.URL.Path, "/blobs/uploads/")
	var body *countingReader
	if upload && req.Body != nil && req.Body != http.NoBody {
		body = &countingReader{r: req.Body}
		req = req.Clone(req.Context())
		req.Body = body
	}
	resp, err := t.inner.RoundTrip(req)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	if body != nil {
		// The transport may still be sending the body after the
		// response arrives, so bytes are summed when stats are taken.
		t.bodies = append(t.bodies, body)
	}
	if err != nil {
		return resp, err
	}
	ok := resp.StatusCode/100 == 2
	q := req.URL.Query()
	switch {
	case upload && req.Method == http.MethodPut && ok && q.Get("digest") != "":
		t.uploaded[q.Get("digest")] = true
		t.logf("uploaded %s", q.Get("digest"))
	case upload && req.Method == http.MethodPost && resp.StatusCode == http.StatusCreated && q.Get("mount") != "":
		t.logf("mounted %s from %s", q.Get("mount"), q.Get("from"))
	case req.Method == http.MethodHead && strings.Contains(req.URL.Path, "/blobs/") && ok:
		t.logf("exists %s", req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:])
	case req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") && ok:
		t.logf("pushed manifest %s", req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:])
	}
	return resp, nil
}

func (t *countingTransport) logf(format string, args ...any) {
	if t.log != nil {
		t.log(fmt.Sprintf(format, args...))
	}
}

func (t *countingTransport) stats(totalBlobs int) PushStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sent int64
	for _, b := range t.bodies {
		sent += b.n.Load()
	}
	return PushStats{
		BlobsUploaded: len(t.uploaded),
		BlobsSkipped:  max(totalBlobs-len(t.uploaded), 0),
		BytesUploaded: sent,
		Requests:      t.requests,
	}
}

type countingReader struct {
	r io.ReadCloser
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
