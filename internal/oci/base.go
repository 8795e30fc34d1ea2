package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// openImage resolves src to an image: an OCI layout directory, an OCI archive
// (a tar of a layout, as `podman save --format oci-archive` writes), a docker
// archive (`podman save`/`docker save`), or failing those a registry
// reference. The returned cleanup removes any scratch space and must be
// called once the image is no longer read.
func openImage(ctx context.Context, src string, insecure bool, scratch string) (v1.Image, func(), error) {
	noop := func() {}
	st, err := os.Stat(src)
	switch {
	case err == nil && st.IsDir():
		img, err := imageFromLayout(src)
		return img, noop, err
	case err == nil:
		isOCI, err := tarHasEntry(src, "oci-layout")
		if err != nil {
			return nil, noop, err
		}
		if !isOCI {
			img, err := tarball.ImageFromPath(src, nil)
			if err != nil {
				return nil, noop, fmt.Errorf("reading docker archive %s: %w", src, err)
			}
			return img, noop, nil
		}
		dir, err := os.MkdirTemp(scratch, "oci-archive-")
		if err != nil {
			return nil, noop, fmt.Errorf("unpacking %s: %w", src, err)
		}
		cleanup := func() { os.RemoveAll(dir) }
		if err := untar(src, dir); err != nil {
			cleanup()
			return nil, noop, err
		}
		img, err := imageFromLayout(dir)
		if err != nil {
			cleanup()
			return nil, noop, err
		}
		return img, cleanup, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, noop, fmt.Errorf("reading %s: %w", src, err)
	}
	ref, err := name.ParseReference(src, nameOpts(insecure)...)
	if err != nil {
		return nil, noop, fmt.Errorf("%s is neither a file nor an image reference: %w", src, err)
	}
	img, err := remote.Image(ref, remoteOpts(ctx, nil)...)
	if err != nil {
		return nil, noop, fmt.Errorf("fetching %s: %w", ref, err)
	}
	return img, noop, nil
}

func nameOpts(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

func remoteOpts(ctx context.Context, rt *countingTransport) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if rt != nil {
		opts = append(opts, remote.WithTransport(rt))
	}
	return opts
}

// imageFromLayout picks the single image of an OCI layout; a layout holding
// several is ambiguous and refused rather than guessed.
func imageFromLayout(dir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	if len(im.Manifests) != 1 {
		return nil, fmt.Errorf("OCI layout %s holds %d manifests, want exactly 1", dir, len(im.Manifests))
	}
	desc := im.Manifests[0]
	if desc.MediaType.IsIndex() {
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
		}
		if len(cm.Manifests) != 1 {
			return nil, fmt.Errorf("OCI layout %s: nested index holds %d manifests, want exactly 1", dir, len(cm.Manifests))
		}
		return child.Image(cm.Manifests[0].Digest)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout %s: %w", dir, err)
	}
	return img, nil
}

func tarHasEntry(path, entry string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading %s as a tar archive: %w", path, err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == entry {
			return true, nil
		}
	}
}

// untar unpacks regular files and directories of an image archive; archives
// of image layouts hold nothing else.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", path, err)
		}
		rel := filepath.Clean(filepath.FromSlash(hdr.Name))
		if rel == "." || filepath.IsAbs(rel) || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || rel == ".." {
			return fmt.Errorf("unpacking %s: entry %q escapes the archive", path, hdr.Name)
		}
		dst := filepath.Join(dir, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("unpacking %s: %w", path, err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return fmt.Errorf("unpacking %s: %w", path, err)
			}
			out, err := os.Create(dst)
			if err != nil {
				return fmt.Errorf("unpacking %s: %w", path, err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("unpacking %s: %w", path, err)
			}
		}
	}
}
