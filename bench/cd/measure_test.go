package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{10, 30, 20, 40}, 25},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRebuiltSteps(t *testing.T) {
	warm := `STEP 1/6: FROM localhost/sluice/python:3.11
STEP 2/6: COPY requirements.txt /tmp/requirements.txt
--> Using cache 1a2b
--> 1a2b
STEP 3/6: RUN python3 -m pip install --no-cache-dir -r /tmp/requirements.txt
--> Using cache 3c4d
STEP 4/6: COPY wheel/ /tmp/wheel/
--> 5e6f
STEP 5/6: RUN python3 -m pip install --no-deps /tmp/wheel/*.whl
Successfully installed benchapp-2.0.0
--> 7a8b
STEP 6/6: CMD ["benchapp"]
COMMIT localhost/x:warm
--> 9c0d
`
	for _, tc := range []struct{ name, out, want string }{
		{"warm", warm, "COPY wheel, RUN pip install wheel (app), CMD"},
		{"all cached", "STEP 1/2: FROM x\nSTEP 2/2: COPY requirements.txt /tmp/\n--> Using cache 1\n", "nothing"},
		{"cold", strings.ReplaceAll(warm, "--> Using cache", "-->"), "COPY lock, RUN pip install -r (deps), COPY wheel, RUN pip install wheel (app), CMD"},
	} {
		if got := rebuiltSteps(tc.out); got != tc.want {
			t.Errorf("%s: rebuiltSteps = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCountNew(t *testing.T) {
	if got := countNew([]string{"a", "b", "c"}, []string{"a", "b", "d", "e"}); got != 2 {
		t.Errorf("countNew = %d, want 2", got)
	}
	if got := countNew(nil, []string{"a"}); got != 1 {
		t.Errorf("countNew(nil) = %d, want 1", got)
	}
}

// TestCountingRegistry pushes a random image twice through a real client
// and checks what the counting handler saw: every blob once, then none.
func TestCountingRegistry(t *testing.T) {
	reg := startRegistry()
	t.Cleanup(reg.Close)
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	push := func(tag string) traffic {
		t.Helper()
		ref, err := name.ParseReference(reg.Host+"/test/img:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := measure(func() error { return remote.Write(ref, img) }, reg)
		if err != nil {
			t.Fatal(err)
		}
		return tr[0]
	}
	var blobBytes int64
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		blobBytes += n
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	blobBytes += int64(len(cfg))
	manifest, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}

	first := push("one")
	if first.BlobUploads != 3 || first.BytesIn != blobBytes+int64(len(manifest)) {
		t.Errorf("first push: %+v, want 3 blob uploads and %d bytes in", first, blobBytes+int64(len(manifest)))
	}
	second := push("two")
	want := traffic{Requests: second.Requests, BlobHEADs: second.BlobHEADs, BytesIn: int64(len(manifest)), BytesOut: second.BytesOut}
	if diff := cmp.Diff(want, second); diff != "" {
		t.Errorf("second push moved blobs (-want +got):\n%s", diff)
	}
	if second.Requests == 0 || second.Requests >= first.Requests {
		t.Errorf("requests: first %d, second %d; want the second push to need fewer", first.Requests, second.Requests)
	}
	if got := first.add(second).sub(second); got != first {
		t.Errorf("add then sub = %+v, want %+v", got, first)
	}
}
