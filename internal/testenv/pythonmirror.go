package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// A PythonBuild is an interpreter on this machine packed the way uv's managed-Python downloads
// are: CPython as python-build-standalone's install_only archive (one top directory, python/,
// holding bin/ and lib/), PyPy as pypy.org's (pypy3.X-vV-linux64/bin/...).
type PythonBuild struct {
	Impl    string // "cpython" or "pypy"
	Version string // the interpreter's own version, e.g. 3.12.1 (what the archive claims)
	Prefix  string // CPython: the install prefix (bin/, lib/); PyPy: the directory of the binary
	Binary  string // PyPy: the binary's name in Prefix, e.g. pypy3.9
	PyPyVer string // PyPy: its own version, e.g. 7.3.11
	Stdlib  string // PyPy: its standard library directory (lib/pypy3.X in the archive)
}

// PythonMirror serves PythonBuilds over HTTP where uv's UV_PYTHON_INSTALL_MIRROR and
// UV_PYPY_INSTALL_MIRROR point, with a download list (UV_PYTHON_DOWNLOADS_JSON_URL) naming
// them with their real sha256, which uv checks.
type PythonMirror struct {
	URL      string
	Env      []string // the three uv variables, NAME=VALUE
	Requests *atomic.Int64
}

// StartPythonMirror packs the builds (cached between test runs under the user cache
// directory) and serves them until the test ends.
func StartPythonMirror(t testing.TB, builds ...PythonBuild) PythonMirror {
	t.Helper()
	root := t.TempDir()
	list := map[string]any{}
	for _, b := range builds {
		major, minor, patch := splitVersion(t, b.Version)
		var rel, url, key string
		switch b.Impl {
		case "cpython":
			rel = fmt.Sprintf("cpython/20991231/cpython-%s+20991231-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz", b.Version)
			url = "https://github.com/astral-sh/python-build-standalone/releases/download/" + strings.TrimPrefix(rel, "cpython/")
			key = fmt.Sprintf("cpython-%s-linux-x86_64-gnu", b.Version)
		case "pypy":
			rel = fmt.Sprintf("pypy/pypy%d.%d-v%s-linux64.tar.gz", major, minor, b.PyPyVer)
			url = "https://downloads.python.org/pypy/" + strings.TrimPrefix(rel, "pypy/")
			key = fmt.Sprintf("pypy-%s-linux-x86_64-gnu", b.Version)
		default:
			t.Fatalf("PythonBuild: unknown implementation %q", b.Impl)
		}
		archive := cachedArchive(t, b, major, minor)
		dest := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(archive, dest); err != nil {
			copyFile(t, archive, dest)
		}
		list[key] = map[string]any{
			"name": b.Impl, "arch": map[string]any{"family": "x86_64", "variant": nil}, "os": "linux", "libc": "gnu",
			"major": major, "minor": minor, "patch": patch, "prerelease": "",
			"url": strings.ReplaceAll(url, "+", "%2B"), "sha256": fileSHA256(t, archive), "variant": nil, "build": "20991231",
		}
	}
	js, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	listFile := filepath.Join(root, "downloads.json")
	if err := os.WriteFile(listFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	reqs := &atomic.Int64{}
	files := http.FileServer(http.Dir(root))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return PythonMirror{URL: srv.URL, Requests: reqs, Env: []string{
		"UV_PYTHON_INSTALL_MIRROR=" + srv.URL + "/cpython",
		"UV_PYPY_INSTALL_MIRROR=" + srv.URL + "/pypy",
		"UV_PYTHON_DOWNLOADS_JSON_URL=" + srv.URL + "/downloads.json",
	}}
}

func splitVersion(t testing.TB, v string) (major, minor, patch int) {
	t.Helper()
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); err != nil {
		t.Fatalf("version %q: %v", v, err)
	}
	return major, minor, patch
}

// cachedArchive builds b's archive once per machine; a build in progress is never seen half
// written (it is renamed into place).
func cachedArchive(t testing.TB, b PythonBuild, major, minor int) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no user cache directory: %v", err)
	}
	dir := filepath.Join(cache, "sluice-test-tools", "python-mirror")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256([]byte(fmt.Sprintf("v2|%+v", b)))
	final := filepath.Join(dir, hex.EncodeToString(id[:8])+".tar.gz")
	if _, err := os.Stat(final); err == nil {
		return final
	}
	tmp, err := os.CreateTemp(dir, ".build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	gz, _ := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	switch b.Impl {
	case "cpython":
		packCPython(t, tw, b.Prefix, major, minor)
	case "pypy":
		packPyPy(t, tw, b, major, minor)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		t.Fatal(err)
	}
	return final
}

// packCPython writes prefix as python/: the interpreter, its shared library and the standard
// library without tests, caches and installed packages (python-build-standalone's
// install_only_stripped leaves those out too).
func packCPython(t testing.TB, tw *tar.Writer, prefix string, major, minor int) {
	t.Helper()
	ver := fmt.Sprintf("%d.%d", major, minor)
	keep := func(rel string, d fs.DirEntry) (bool, error) {
		switch {
		case rel == ".", rel == "bin", rel == "lib":
			return true, nil
		case strings.HasPrefix(rel, "bin/"):
			name := d.Name()
			return name == "python"+ver || name == "python3" || name == "python", nil
		case strings.HasPrefix(rel, "lib/libpython"):
			return true, nil
		case rel == "lib/python"+ver || strings.HasPrefix(rel, "lib/python"+ver+"/"):
			for _, skip := range []string{"/test", "/idlelib", "/tkinter", "/turtledemo", "/lib2to3", "/config-"} {
				if strings.HasPrefix(strings.TrimPrefix(rel, "lib/python"+ver), skip) {
					return false, nil
				}
			}
			if d.Name() == "__pycache__" {
				return false, nil
			}
			if strings.Contains(rel, "/site-packages/") {
				return false, nil
			}
			return true, nil
		}
		return false, nil
	}
	packDir(t, tw, prefix, "python", keep, func(rel string, b []byte) []byte { return relocateELF(b, prefix, rel) })
}

// packPyPy writes the binary as pypy.org lays it out, with the names its archives link.
func packPyPy(t testing.TB, tw *tar.Writer, b PythonBuild, major, minor int) {
	t.Helper()
	top := fmt.Sprintf("pypy%d.%d-v%s-linux64", major, minor, b.PyPyVer)
	for _, d := range []string{top, top + "/bin"} {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, tw, filepath.Join(b.Prefix, b.Binary), top+"/bin/"+b.Binary, 0o755)
	if b.Stdlib != "" {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/lib/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
		packDir(t, tw, b.Stdlib, fmt.Sprintf("%s/lib/pypy%d.%d", top, major, minor), func(rel string, d fs.DirEntry) (bool, error) {
			name := d.Name()
			return !(d.IsDir() && (name == "__pycache__" || name == "test" || name == "tests" || name == "site-packages")), nil
		}, nil)
	}
	for _, link := range []string{"pypy3", "pypy", fmt.Sprintf("python%d.%d", major, minor), "python3", "python"} {
		if link == b.Binary {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: top + "/bin/" + link, Typeflag: tar.TypeSymlink, Linkname: b.Binary, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
}

// packDir packs src as top, the entries keep says; rewrite, when set, may change a regular
// file's content (rel is its path below src).
func packDir(t testing.TB, tw *tar.Writer, src, top string, keep func(rel string, d fs.DirEntry) (bool, error), rewrite func(rel string, b []byte) []byte) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		rel = filepath.ToSlash(rel)
		ok, err := keep(rel, d)
		if err != nil {
			return err
		}
		if !ok {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		name := top
		if rel != "." {
			name = top + "/" + rel
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		case rewrite != nil:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b = rewrite(rel, b)
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: int64(info.Mode().Perm()), Size: int64(len(b))}); err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		default:
			writeFile(t, tw, p, name, int64(info.Mode().Perm()))
			return nil
		}
	})
	if err != nil {
		t.Fatalf("packing %s: %v", src, err)
	}
}

func writeFile(t testing.TB, tw *tar.Writer, src, name string, mode int64) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: fi.Size()}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// relocateELF makes an ELF file of an install prefix find the prefix's libraries the way
// python-build-standalone's do, relative to itself ($ORIGIN), instead of at the absolute path it
// was built for (pyenv links its interpreter with RUNPATH=<prefix>/lib). Packed as it is, the
// build would load its libpython from pyenv's directory, which a job's sandbox does not mount:
// the archive would not be the relocatable download it stands in for. The new path is written
// over the old in the string table (it is shorter); anything else is returned unchanged.
func relocateELF(b []byte, prefix, rel string) []byte {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return b
	}
	defer f.Close()
	dynstr := f.Section(".dynstr")
	dynamic := f.Section(".dynamic")
	if dynstr == nil || dynamic == nil || f.Class != elf.ELFCLASS64 {
		return b
	}
	dyn, err := dynamic.Data()
	if err != nil {
		return b
	}
	lib := filepath.Join(prefix, "lib")
	up, err := filepath.Rel(filepath.Dir(filepath.Join(prefix, rel)), lib)
	if err != nil {
		return b
	}
	origin := "$ORIGIN"
	if up != "." {
		origin += "/" + up
	}
	out := append([]byte(nil), b...)
	for i := 0; i+16 <= len(dyn); i += 16 {
		tag := elf.DynTag(f.ByteOrder.Uint64(dyn[i:]))
		if tag != elf.DT_RUNPATH && tag != elf.DT_RPATH {
			continue
		}
		off := dynstr.Offset + f.ByteOrder.Uint64(dyn[i+8:])
		end := bytes.IndexByte(out[off:], 0)
		if end < 0 || string(out[off:off+uint64(end)]) != lib || len(origin) > end {
			continue
		}
		copy(out[off:], origin)
		clear(out[off+uint64(len(origin)) : off+uint64(end)])
	}
	return out
}
