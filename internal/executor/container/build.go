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
	"path"
	"path/filepath"
	"sort"
	"strings"
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
	tarball, entries, err := contextTar(contextDir)
	if err != nil {
		return "", err
	}
	// The engine reads the Dockerfile outside any container, on the host, from the context it
	// unpacks: a path leading out of the context (runs.image: ../../etc/x), or a symbolic link
	// in the context where the Dockerfile is, would have it read any host file and echo its
	// lines in the build's errors; a URL would have it fetch from the host's network. So the
	// Dockerfile must be a plain file of the packed context itself, named without links
	// (TestBuildImageDockerfileStaysInContext).
	if dockerfile, err = contextFile(entries, dockerfile); err != nil {
		return "", fmt.Errorf("building %s: %w", contextDir, err)
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

// contextEntry is what a packed context holds at a path: a tar type flag, and a link's target.
type contextEntry struct {
	kind byte
	link string
}

// contextFile returns the path of the regular file that name leads to in a packed context with
// entries (by slash-separated path), following the context's own symbolic links as the engine
// would, but only while they stay inside it; the engine then gets a path without links.
func contextFile(entries map[string]contextEntry, name string) (string, error) {
	clean := path.Clean(filepath.ToSlash(name))
	if !filepath.IsLocal(filepath.FromSlash(clean)) || strings.Contains(name, "://") {
		return "", fmt.Errorf("runs.image %q: want docker://IMAGE or the path of a Dockerfile inside the action's directory", name)
	}
	rest, cur := strings.Split(clean, "/"), ""
	for hops := 0; len(rest) > 0; {
		next := path.Join(cur, rest[0])
		e, ok := entries[next]
		switch {
		case !ok:
			return "", fmt.Errorf("runs.image %q: no such file in the action's directory", name)
		case e.kind == tar.TypeSymlink:
			target := path.Join(path.Dir(next), e.link)
			if hops++; hops > 16 || path.IsAbs(e.link) || !filepath.IsLocal(filepath.FromSlash(target)) {
				return "", fmt.Errorf("runs.image %q: %s is a symbolic link to %s, outside the action's directory: the Dockerfile must be inside it", name, next, e.link)
			}
			// Start again from the target, with what is left of the path after it.
			rest, cur = append(strings.Split(target, "/"), rest[1:]...), ""
			continue
		case len(rest) > 1 && e.kind != tar.TypeDir:
			return "", fmt.Errorf("runs.image %q: %s is not a directory of the action", name, next)
		case len(rest) == 1 && e.kind != tar.TypeReg:
			return "", fmt.Errorf("runs.image %q: not a regular file: the Dockerfile must be a file inside the action's directory", name)
		}
		cur, rest = next, rest[1:]
	}
	return cur, nil
}

// contextTar packs dir deterministically (sorted, no timestamps or owners) so
// that its bytes are a content hash of the build context. .git is left out.
// entries holds what each path (slash-separated) is.
func contextTar(dir string) (tarball []byte, entries map[string]contextEntry, err error) {
	var paths []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
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
		return nil, nil, fmt.Errorf("reading build context %s: %w", dir, err)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries = map[string]contextEntry{}
	for _, p := range paths {
		if err := addToTar(tw, dir, p, entries); err != nil {
			return nil, nil, fmt.Errorf("packing build context %s: %w", dir, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, nil, fmt.Errorf("packing build context %s: %w", dir, err)
	}
	return buf.Bytes(), entries, nil
}

func addToTar(tw *tar.Writer, dir, p string, entries map[string]contextEntry) error {
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
	entries[hdr.Name] = contextEntry{kind: hdr.Typeflag, link: hdr.Linkname}
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
