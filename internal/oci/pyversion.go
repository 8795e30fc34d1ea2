package oci

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

var (
	interpreterName = lazyre.New(`^python(\d+\.\d+)$`)
	stdlibMarker    = lazyre.New(`^(?:usr/(?:local/)?)?lib/python(\d+\.\d+)/os\.py$`)
)

// basePythonVersion finds the "major.minor" of the interpreter at python
// (an absolute path inside the image) by reading the layers' tar headers:
// Debian and the official images both make python3 a symlink to pythonX.Y.
// When the link does not say, a single stdlib (lib/pythonX.Y/os.py) does.
// It returns "" when the image holds no recognisable Python, which is the
// caller's to judge.
func basePythonVersion(img v1.Image, python string) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", fmt.Errorf("listing base layers: %w", err)
	}
	links := map[string]string{} // path → symlink target ("" for a regular file)
	stdlibs := map[string]bool{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return "", fmt.Errorf("reading base layer: %w", err)
		}
		err = scanHeaders(rc, func(h *tar.Header) {
			name := path.Clean("/" + h.Name)
			if m := stdlibMarker.FindStringSubmatch(strings.TrimPrefix(name, "/")); m != nil {
				stdlibs[m[1]] = true
			}
			if strings.HasPrefix(path.Base(name), "python") && strings.Contains(name, "/bin/") {
				switch h.Typeflag {
				case tar.TypeSymlink:
					links[name] = h.Linkname
				case tar.TypeReg:
					links[name] = ""
				}
			}
		})
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("reading base layer: %w", err)
		}
	}
	p := path.Clean(python)
	for range 8 {
		if m := interpreterName.FindStringSubmatch(path.Base(p)); m != nil {
			return m[1], nil
		}
		target, ok := links[p]
		if !ok || target == "" {
			break
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		p = path.Clean(target)
	}
	if len(stdlibs) == 1 {
		for v := range stdlibs {
			return v, nil
		}
	}
	return "", nil
}

func scanHeaders(r io.Reader, fn func(*tar.Header)) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		fn(h)
	}
}

// hostPython picks the interpreter that runs pip. Wheels with compiled parts
// and pip's own choice of wheel tags follow the interpreter, so it must be
// the same minor version as the base image's (want, "" when unknown).
func hostPython(explicit, want string) (string, error) {
	var candidates []string
	if explicit != "" {
		candidates = []string{explicit}
	} else {
		if want != "" {
			candidates = append(candidates, "python"+want)
		}
		candidates = append(candidates, "python3")
	}
	var tried []string
	for _, c := range candidates {
		exe, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: not found", c))
			continue
		}
		// sys.executable skips wrappers such as pyenv shims on every later call.
		out, err := exec.Command(exe, "-c", `import sys; print("%d.%d" % sys.version_info[:2]); print(sys.executable)`).Output()
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", c, err))
			continue
		}
		got, real, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if want == "" || got == want {
			if real = strings.TrimSpace(real); real != "" {
				exe = real
			}
			return exe, nil
		}
		tried = append(tried, fmt.Sprintf("%s is %s", c, got))
	}
	return "", fmt.Errorf("no host Python %s to install the wheels with (%s)", want, strings.Join(tried, "; "))
}

// cachedBaseVersion memoises basePythonVersion per base digest, since reading
// every layer of a large base costs seconds and the answer never changes.
func cachedBaseVersion(cacheDir string, img v1.Image, baseDigest, python string) (string, error) {
	key := filepath.Join(cacheDir, "pyversion", strings.ReplaceAll(baseDigest, ":", "-")+"-"+shortHash(python))
	if b, err := os.ReadFile(key); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	v, err := basePythonVersion(img, python)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(key), 0o755); err == nil {
		_ = os.WriteFile(key, []byte(v+"\n"), 0o644) // only a memo: a failed write costs a rescan
	}
	return v, nil
}
