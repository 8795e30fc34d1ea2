package container

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/moby/moby/client"
)

// fixedTime replaces file times in the build context so they do not change
// its hash.
func fixedTime() time.Time { return time.Unix(0, 0) }

// BuildImage builds contextDir's dockerfile (relative to contextDir; ""
// means Dockerfile) through the engine and returns the image's tag,
// localhost/sluice-action:<content hash>. The build is skipped when that tag
// exists, so an unchanged action builds once.
func (e *Engine) BuildImage(ctx context.Context, contextDir, dockerfile string, log func(string)) (string, error) {
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	tarball, err := contextTar(contextDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(dockerfile+"\x00"), tarball...))
	tag := "localhost/sluice-action:" + hex.EncodeToString(sum[:])[:24]
	if ok, err := e.imageExists(ctx, tag); err != nil || ok {
		return tag, err
	}
	if log != nil {
		log(fmt.Sprintf("Building %s from %s", tag, filepath.Join(contextDir, dockerfile)))
	}
	res, err := e.cli.ImageBuild(ctx, bytes.NewReader(tarball), client.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  dockerfile,
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return "", fmt.Errorf("building %s: %w", contextDir, err)
	}
	defer res.Body.Close()
	if err := readJSONStream(res.Body, log); err != nil {
		return "", fmt.Errorf("building %s: %w", contextDir, err)
	}
	// Podman's compatible API can end a failed build without an error
	// message; the tag is the proof.
	if ok, err := e.imageExists(ctx, tag); err != nil || !ok {
		return "", fmt.Errorf("building %s: image %s missing after the build (%v)", contextDir, tag, err)
	}
	return tag, nil
}

// contextTar packs dir deterministically (sorted, no timestamps or owners) so
// that its bytes are a content hash of the build context. .git is left out.
func contextTar(dir string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading build context %s: %w", dir, err)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		if err := addToTar(tw, dir, p); err != nil {
			return nil, fmt.Errorf("packing build context %s: %w", dir, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("packing build context %s: %w", dir, err)
	}
	return buf.Bytes(), nil
}

func addToTar(tw *tar.Writer, dir, p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	hdr.Name = filepath.ToSlash(rel)
	hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = fixedTime(), time.Time{}, time.Time{}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.Format = tar.FormatPAX
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
