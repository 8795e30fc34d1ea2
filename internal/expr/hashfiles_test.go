package expr

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// expectedHash computes hashFiles' value for files (relative to root, in the given order) from
// first principles: SHA-256 over the concatenated raw SHA-256 digests of the contents.
func expectedHash(t *testing.T, root string, files ...string) string {
	t.Helper()
	if len(files) == 0 {
		return ""
	}
	var cat []byte
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		cat = append(cat, sum[:]...)
	}
	sum := sha256.Sum256(cat)
	return hex.EncodeToString(sum[:])
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHashFiles(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "ws")
	writeTree(t, root, map[string]string{
		"requirements.txt":          "flask\n",
		"requirements-dev.txt":      "pytest\n",
		"a/b.txt":                   "b\n",
		"a-c.txt":                   "c\n",
		"a/deep/d.txt":              "d\n",
		"pkg/requirements-test.txt": "tox\n",
		".hidden/h.txt":             "h\n",
		".dot.txt":                  "dot\n",
		"src/main.py":               "print()\n",
	})
	writeTree(t, parent, map[string]string{"outside.txt": "no\n"})

	for _, c := range []struct {
		name     string
		patterns []string
		files    []string // expected, in the runner's order
	}{
		{"one file", []string{"requirements.txt"}, []string{"requirements.txt"}},
		// Depth first with byte-ordered entries: a/… comes before a-c.txt although '-' < '/'.
		{"globstar order", []string{"**/*.txt"}, []string{".dot.txt", ".hidden/h.txt", "a/b.txt", "a/deep/d.txt", "a-c.txt", "pkg/requirements-test.txt", "requirements-dev.txt", "requirements.txt"}},
		{"globstar prefix", []string{"**/requirements*.txt"}, []string{"pkg/requirements-test.txt", "requirements-dev.txt", "requirements.txt"}},
		{"star is one level", []string{"*.txt"}, []string{".dot.txt", "a-c.txt", "requirements-dev.txt", "requirements.txt"}},
		{"question mark and class", []string{"a/?.txt", "[ab]-c.txt"}, []string{"a/b.txt", "a-c.txt"}},
		{"negated class", []string{"[!r]-c.txt", "requirements[!-]*"}, []string{"a-c.txt", "requirements.txt"}},
		{"directory means everything below", []string{"a"}, []string{"a/b.txt", "a/deep/d.txt"}},
		{"trailing slash", []string{"a/"}, []string{"a/b.txt", "a/deep/d.txt"}},
		// `!.*` also excludes everything below .hidden, as a directory match covers its descendants.
		{"exclusion", []string{"**/*.txt", "!a/**", "!.*"}, []string{"a-c.txt", "pkg/requirements-test.txt", "requirements-dev.txt", "requirements.txt"}},
		{"exclude a directory", []string{"**/*.txt", "!a", "!.hidden"}, []string{".dot.txt", "a-c.txt", "pkg/requirements-test.txt", "requirements-dev.txt", "requirements.txt"}},
		{"later include wins", []string{"a/**", "!a/**", "a/deep/d.txt"}, []string{"a/deep/d.txt"}},
		{"newline separated with comment", []string{"requirements.txt\n# a comment\n\n  src/*.py  "}, []string{"requirements.txt", "src/main.py"}},
		{"dot segments", []string{"./src/../requirements.txt"}, []string{"requirements.txt"}},
		{"patterns in argument order", []string{"src/*.py", "requirements.txt"}, []string{"src/main.py", "requirements.txt"}},
		{"absolute inside root", []string{filepath.Join(root, "a-c.txt")}, []string{"a-c.txt"}},
		{"outside root is ignored", []string{"../outside.txt", filepath.Join(parent, "*.txt")}, nil},
		{"no match", []string{"**/*.lock"}, nil},
		{"only exclusions", []string{"!**"}, nil},
		{"comment only", []string{"#requirements.txt"}, nil},
		{"follow option", []string{"--follow-symbolic-links", "a-c.txt"}, []string{"a-c.txt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := HashFiles(root, c.patterns...)
			if err != nil {
				t.Fatal(err)
			}
			if want := expectedHash(t, root, c.files...); got != want {
				t.Errorf("HashFiles(%q) = %q, want %q (files %q)", c.patterns, got, want, c.files)
			}
		})
	}
}

func TestHashFilesKnownValue(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"x": "hello\n"})
	got, err := HashFiles(root, "x")
	if err != nil {
		t.Fatal(err)
	}
	// sha256("hello\n") is 5891b5b5…be03; the result is the sha256 of those 32 raw bytes.
	inner, _ := hex.DecodeString("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03")
	outer := sha256.Sum256(inner)
	if want := hex.EncodeToString(outer[:]); got != want {
		t.Errorf("HashFiles = %q, want %q", got, want)
	}
}

func TestHashFilesSymlinks(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "ws")
	writeTree(t, root, map[string]string{"real/f.txt": "f\n"})
	writeTree(t, parent, map[string]string{"target.txt": "target\n", "outdir/g.txt": "g\n"})
	if err := os.Symlink(filepath.Join(root, "real", "f.txt"), filepath.Join(root, "link.txt")); err != nil {
		t.Skip("symlinks unavailable:", err)
	}
	for link, target := range map[string]string{"dirlink": filepath.Join(root, "real"), "out.txt": filepath.Join(parent, "target.txt"),
		"outlink": filepath.Join(parent, "outdir")} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	// A link to a file is hashed by its target's content; a link to a directory is not walked
	// unless --follow-symbolic-links is given. A link leading out of the root is never followed:
	// not to a file (out.txt), not to a directory (outlink), not as a literal path through it.
	got, err := HashFiles(root, "**/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := expectedHash(t, root, "link.txt", "real/f.txt"); got != want {
		t.Errorf("without follow: got %q, want %q", got, want)
	}
	got, err = HashFiles(root, "--follow-symbolic-links", "**/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := expectedHash(t, root, "dirlink/f.txt", "link.txt", "real/f.txt"); got != want {
		t.Errorf("with follow: got %q, want %q", got, want)
	}
	for _, pattern := range []string{"out.txt", "outlink/g.txt", "outlink/*", "outlink"} {
		if got, err := HashFiles(root, pattern); err != nil || got != "" {
			t.Errorf("HashFiles(%q) = %q, %v; want nothing (a link out of the workspace)", pattern, got, err)
		}
	}
}

func TestHashFilesErrors(t *testing.T) {
	root := t.TempDir()
	for _, c := range []struct {
		root     string
		patterns []string
		want     string
	}{
		{"", []string{"x"}, "no root directory"},
		{root, []string{"--nope", "x"}, "invalid glob option --nope"},
	} {
		_, err := HashFiles(c.root, c.patterns...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("HashFiles(%q, %q) error = %v, want %q", c.root, c.patterns, err, c.want)
		}
	}
}

func TestHashFilesInExpression(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"uv.lock": "lock\n", "pyproject.toml": "[project]\n"})
	e := &Evaluator{Workspace: root}
	got, err := e.Interpolate("py-${{ hashFiles('**/uv.lock', 'pyproject.toml') }}")
	if err != nil {
		t.Fatal(err)
	}
	// Both patterns are searched in one walk from the root (the second's search path lies inside
	// the first's), so files come in walk order, not argument order.
	if want := "py-" + expectedHash(t, root, "pyproject.toml", "uv.lock"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	v, err := e.Eval("hashFiles('none/*')")
	if err != nil || v != "" {
		t.Errorf("hashFiles with no match = %#v, %v; want \"\"", v, err)
	}
}
