package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/registry"
)

// traffic is what a registry saw, counted on the server side so that
// sluice (Go client) and Podman (containers/image) are measured alike.
type traffic struct {
	Requests    int
	BlobUploads int   // completed blob uploads (PUT …/blobs/uploads/…?digest= answered 201)
	Mounts      int   // cross-repository mounts answered 201
	BlobHEADs   int   // existence checks of blobs
	BytesIn     int64 // request bodies: what clients sent
	BytesOut    int64 // response bodies: what clients downloaded
}

func (t traffic) sub(o traffic) traffic {
	return traffic{
		Requests:    t.Requests - o.Requests,
		BlobUploads: t.BlobUploads - o.BlobUploads,
		Mounts:      t.Mounts - o.Mounts,
		BlobHEADs:   t.BlobHEADs - o.BlobHEADs,
		BytesIn:     t.BytesIn - o.BytesIn,
		BytesOut:    t.BytesOut - o.BytesOut,
	}
}

func (t traffic) add(o traffic) traffic {
	return traffic{
		Requests:    t.Requests + o.Requests,
		BlobUploads: t.BlobUploads + o.BlobUploads,
		Mounts:      t.Mounts + o.Mounts,
		BlobHEADs:   t.BlobHEADs + o.BlobHEADs,
		BytesIn:     t.BytesIn + o.BytesIn,
		BytesOut:    t.BytesOut + o.BytesOut,
	}
}

// countingHandler wraps a registry and counts every request it serves.
type countingHandler struct {
	next http.Handler
	mu   sync.Mutex
	t    traffic
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := &countingBody{r: r.Body}
	if r.Body != nil {
		r.Body = body
	}
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
	h.next.ServeHTTP(cw, r)
	// Bytes in are what the registry read of the body: blob bytes it
	// refused unread are not counted as moved.
	h.mu.Lock()
	defer h.mu.Unlock()
	h.t.Requests++
	h.t.BytesIn += body.n
	h.t.BytesOut += cw.n
	blobs := strings.Contains(r.URL.Path, "/blobs/")
	uploads := strings.Contains(r.URL.Path, "/blobs/uploads/")
	switch {
	case uploads && r.Method == http.MethodPut && r.URL.Query().Get("digest") != "" && cw.status == http.StatusCreated:
		h.t.BlobUploads++
	case uploads && r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" && cw.status == http.StatusCreated:
		h.t.Mounts++
	case blobs && !uploads && r.Method == http.MethodHead:
		h.t.BlobHEADs++
	}
}

func (h *countingHandler) snapshot() traffic {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.t
}

type countingBody struct {
	r io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// countingRegistry is go-containerregistry's registry on 127.0.0.1 behind a
// countingHandler.
type countingRegistry struct {
	Host string // host:port
	h    *countingHandler
	srv  *httptest.Server
}

func startRegistry() *countingRegistry {
	h := &countingHandler{next: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(h)
	return &countingRegistry{Host: strings.TrimPrefix(srv.URL, "http://"), h: h, srv: srv}
}

func (r *countingRegistry) Close() { r.srv.Close() }

// measure returns the traffic fn caused at each of regs.
func measure(fn func() error, regs ...*countingRegistry) ([]traffic, error) {
	before := make([]traffic, len(regs))
	for i, r := range regs {
		before[i] = r.h.snapshot()
	}
	err := fn()
	out := make([]traffic, len(regs))
	for i, r := range regs {
		out[i] = r.h.snapshot().sub(before[i])
	}
	return out, err
}
