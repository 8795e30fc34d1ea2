package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sluice-ci/sluice/internal/oci"
)

// promoRow is one registry operation and what it cost at both registries.
type promoRow struct {
	Tool, What string
	Time       time.Duration
	A, B       traffic        // at the first registry and the second
	Stats      *oci.PushStats // sluice's own count, when the operation was sluice's
	SameDigest string         // "yes"/"no": does the destination hold the staging manifest digest
	Extra      time.Duration  // a rebuild's time, outside the push
}

type promoResult struct {
	Rows []promoRow
}

// benchPromotion pushes the v1 release as staging, then promotes it three
// ways: a new tag in the same repository, another repository of the same
// registry, and a second registry — with oci.Push/oci.Copy, and with
// `podman push` of Podman's own v1 image as the peer.
func benchPromotion(ctx context.Context, build *buildResult, imgs *podmanImages) (*promoResult, error) {
	a, b := startRegistry(), startRegistry()
	defer a.Close()
	defer b.Close()
	res := &promoResult{}
	logf("promotion: registries on %s and %s", a.Host, b.Host)

	// sluice
	staging := a.Host + "/bench/app:staging"
	row, err := timed("sluice", "push release as staging (oci.Push)", func() (*oci.PushStats, error) {
		st, err := oci.Push(ctx, build.SluiceLayouts[0], staging, true, nil)
		return &st, err
	}, a, b)
	if err != nil {
		return nil, err
	}
	stagingDigest, err := remoteDigest(staging)
	if err != nil {
		return nil, err
	}
	row.SameDigest = "—"
	res.add(row)
	src := a.Host + "/bench/app@" + stagingDigest
	for _, c := range []struct{ what, dst string }{
		{"promote: same repository, tag production (oci.Copy)", a.Host + "/bench/app:production"},
		{"promote: other repository, same registry (oci.Copy)", a.Host + "/prod/app:" + appV1},
		{"promote: second registry (oci.Copy)", b.Host + "/prod/app:" + appV1},
	} {
		row, err := timed("sluice", c.what, func() (*oci.PushStats, error) {
			st, err := oci.Copy(ctx, src, c.dst, true)
			return &st, err
		}, a, b)
		if err != nil {
			return nil, err
		}
		if row.SameDigest, err = sameDigest(c.dst, stagingDigest); err != nil {
			return nil, err
		}
		res.add(row)
	}

	// Podman
	if build.PeerV1 == "" {
		return res, nil
	}
	peerStaging := a.Host + "/peer/app:staging"
	row, err = timed("podman", "push release as staging (podman push)", func() (*oci.PushStats, error) {
		return nil, podmanPush(ctx, build.PeerV1, peerStaging)
	}, a, b)
	if err != nil {
		return nil, err
	}
	row.SameDigest = "—"
	res.add(row)
	peerDigest, err := remoteDigest(peerStaging)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct{ what, dst string }{
		{"promote: same repository, tag production (podman push)", a.Host + "/peer/app:production"},
		{"promote: other repository, same registry (podman push)", a.Host + "/peerprod/app:" + appV1},
		{"promote: second registry (podman push)", b.Host + "/peerprod/app:" + appV1},
	} {
		row, err := timed("podman", c.what, func() (*oci.PushStats, error) {
			return nil, podmanPush(ctx, build.PeerV1, c.dst)
		}, a, b)
		if err != nil {
			return nil, err
		}
		if row.SameDigest, err = sameDigest(c.dst, peerDigest); err != nil {
			return nil, err
		}
		res.add(row)
	}

	// What many pipelines do: build again for production, then push.
	logf("promotion: podman naive rebuild (--no-cache) for production + push")
	tag := "localhost/sluice-bench-cd/peer:rebuild"
	rebuild, _, err := podmanBuild(ctx, build.PeerContext, tag, build.CAMount, true, nil, imgs)
	if err != nil {
		return nil, err
	}
	dst := a.Host + "/peer/app:production-rebuilt"
	row, err = timed("podman", "rebuild (--no-cache) + push to production", func() (*oci.PushStats, error) {
		return nil, podmanPush(ctx, tag, dst)
	}, a, b)
	if err != nil {
		return nil, err
	}
	row.Extra = rebuild.Build
	if row.SameDigest, err = sameDigest(dst, peerDigest); err != nil {
		return nil, err
	}
	res.add(row)
	return res, nil
}

func (r *promoResult) add(row promoRow) {
	logf("  %s %s: %.0f ms, %d+%d requests, %s in, %d blob uploads", row.Tool, row.What, ms(row.Time+row.Extra),
		row.A.Requests, row.B.Requests, humanBytes(row.A.BytesIn+row.B.BytesIn), row.A.BlobUploads+row.B.BlobUploads)
	r.Rows = append(r.Rows, row)
}

// timed runs fn once and records its wall time and the traffic at a and b.
func timed(tool, what string, fn func() (*oci.PushStats, error), a, b *countingRegistry) (promoRow, error) {
	row := promoRow{Tool: tool, What: what}
	var st *oci.PushStats
	t0 := time.Now()
	tr, err := measure(func() error {
		var err error
		st, err = fn()
		return err
	}, a, b)
	row.Time = time.Since(t0)
	if err != nil {
		return row, fmt.Errorf("%s: %w", what, err)
	}
	row.A, row.B, row.Stats = tr[0], tr[1], st
	return row, nil
}

// podmanPush pushes over plain HTTP (the registries are on 127.0.0.1) with
// Podman's default gzip compression; its blob-info cache lives in its own
// store, as on any machine that built the image.
func podmanPush(ctx context.Context, image, dst string) error {
	_, _, err := podmanTimed(ctx, "push", "--tls-verify=false", image, dst)
	return err
}

func remoteDigest(ref string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", ref, err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", ref, err)
	}
	return desc.Digest.String(), nil
}

func sameDigest(ref, want string) (string, error) {
	got, err := remoteDigest(ref)
	if err != nil {
		return "", err
	}
	if got == want {
		return "yes", nil
	}
	return "no", nil
}

// loadIntoPodman pushes an OCI layout to reg and pulls it into Podman's
// store under tag, the way a deployment host gets a release.
func loadIntoPodman(ctx context.Context, reg *countingRegistry, layoutDir, tag string, imgs *podmanImages) error {
	ref := reg.Host + "/load/" + strings.TrimPrefix(tag, "localhost/")
	if _, err := oci.Push(ctx, layoutDir, ref, true, nil); err != nil {
		return err
	}
	if _, err := podmanOut(ctx, "pull", "-q", "--tls-verify=false", ref); err != nil {
		return err
	}
	imgs.add(ref)
	if _, err := podmanOut(ctx, "tag", ref, tag); err != nil {
		return err
	}
	imgs.add(tag)
	return nil
}
