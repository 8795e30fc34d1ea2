package release

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/python"
)

// Edit is one file the bump rewrites.
type Edit struct {
	Path string `json:"path"` // relative to the repository
	What string `json:"what"` // e.g. "[project] version", "uv.lock: app's own entry"
	old  []byte
	new  []byte
}

// project is what pyproject.toml says about the project.
type project struct {
	Name    string
	Version string // static version, "" when dynamic or absent
	Where   string // "[project]" or "[tool.poetry]"
	Hatch   string // [tool.hatch.version] path
}

func readProject(dir string) (project, error) {
	data, err := os.ReadFile(filepath.Join(dir, "pyproject.toml"))
	if os.IsNotExist(err) {
		return project{}, nil
	}
	if err != nil {
		return project{}, fmt.Errorf("reading pyproject.toml: %w", err)
	}
	var doc struct {
		Project struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
		} `toml:"project"`
		Tool struct {
			Poetry struct {
				Name    string `toml:"name"`
				Version string `toml:"version"`
			} `toml:"poetry"`
			Hatch struct {
				Version struct {
					Path string `toml:"path"`
				} `toml:"version"`
			} `toml:"hatch"`
		} `toml:"tool"`
	}
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return project{}, fmt.Errorf("pyproject.toml: %w", err)
	}
	p := project{Name: doc.Project.Name, Version: doc.Project.Version, Where: "[project]", Hatch: doc.Tool.Hatch.Version.Path}
	if p.Version == "" && doc.Tool.Poetry.Version != "" {
		p.Version, p.Where = doc.Tool.Poetry.Version, "[tool.poetry]"
	}
	if p.Name == "" {
		p.Name = doc.Tool.Poetry.Name
	}
	if p.Version == "" {
		p.Where = ""
	}
	return p, nil
}

var (
	tableRe      = lazyre.New(`^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$`)
	tomlVerRe    = lazyre.New(`^(\s*version\s*=\s*)(["'])([^"']*)(["'].*)$`)
	dunderVerRe  = lazyre.New(`(?m)^(\s*__version__\s*(?::\s*str\s*)?=\s*)(["'])([^"'\n]*)(["'])`)
	tomlNameRe   = lazyre.New(`^\s*name\s*=\s*["']([^"']*)["']`)
	lockSelfRe   = lazyre.New(`(editable|virtual|path|url)\s*=\s*"\."|type\s*=\s*"directory"`)
	maxEditBytes = int64(64 << 20)
)

// setTOMLVersion rewrites `version = "..."` in the named table, keeping everything else.
func setTOMLVersion(data []byte, table, version string) ([]byte, bool) {
	lines := strings.SplitAfter(string(data), "\n")
	in := false
	for i, l := range lines {
		if m := tableRe.FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil {
			in = "["+m[1]+"]" == table
			continue
		}
		if !in {
			continue
		}
		if m := tomlVerRe.FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil {
			nl := l[len(strings.TrimRight(l, "\r\n")):]
			lines[i] = m[1] + m[2] + version + m[4] + nl
			return []byte(strings.Join(lines, "")), true
		}
	}
	return data, false
}

// setLockSelf rewrites the version of the project's own entry in a TOML lock file: the
// [[package]] named name whose source is the project directory itself.
func setLockSelf(data []byte, name, version string) ([]byte, bool) {
	blocks := strings.SplitAfter(string(data), "\n[[package]]\n")
	want := python.NormalizeName(name)
	for i, b := range blocks {
		if i == 0 {
			continue // before the first package
		}
		body := b
		if j := strings.Index(b, "\n[[package]]\n"); j >= 0 {
			body = b[:j]
		}
		lines := strings.SplitAfter(body, "\n")
		nameOK, selfOK, verLine := false, lockSelfRe.MatchString(body), -1
		for k, l := range lines {
			if k > 0 && strings.HasPrefix(l, "[") && !strings.HasPrefix(l, "[package.source]") {
				break // a sub-table of the package: its own lines end here
			}
			if m := tomlNameRe.FindStringSubmatch(l); m != nil && k < 3 {
				nameOK = python.NormalizeName(m[1]) == want
			}
			if verLine < 0 && tomlVerRe.MatchString(strings.TrimRight(l, "\n")) {
				verLine = k
			}
		}
		if !nameOK || !selfOK || verLine < 0 {
			continue
		}
		m := tomlVerRe.FindStringSubmatch(strings.TrimRight(lines[verLine], "\n"))
		lines[verLine] = m[1] + m[2] + version + m[4] + "\n"
		blocks[i] = strings.Join(lines, "") + b[len(body):]
		return []byte(strings.Join(blocks, "")), true
	}
	return data, false
}

// dunderFiles are the modules that may hold __version__: a package's __init__, __about__,
// _version or version module, at the top or under src/, and hatch's configured path.
func dunderFiles(dir string, p project) []string {
	var out []string
	for _, pat := range []string{"src/*/", "*/"} {
		for _, f := range []string{"__init__.py", "__about__.py", "_version.py", "version.py"} {
			m, _ := filepath.Glob(filepath.Join(dir, pat+f))
			out = append(out, m...)
		}
	}
	if p.Hatch != "" && relPathOK(p.Hatch) == nil {
		out = append(out, filepath.Join(dir, filepath.FromSlash(p.Hatch)))
	}
	sort.Strings(out)
	seen := map[string]bool{}
	var uniq []string
	for _, f := range out {
		if !seen[f] {
			seen[f] = true
			uniq = append(uniq, f)
		}
	}
	return uniq
}

func readBounded(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxEditBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxEditBytes>>20)
	}
	return os.ReadFile(path)
}

// planEdits finds every place that keeps the version and what each becomes.
func planEdits(dir string, cfg Config, p project, current, next string) ([]Edit, error) {
	var edits []Edit
	add := func(rel, what string, old, new []byte) {
		for i := range edits {
			if edits[i].Path == rel { // a second change to the same file
				edits[i].new = new
				edits[i].What += "; " + what
				return
			}
		}
		edits = append(edits, Edit{Path: rel, What: what, old: old, new: new})
	}
	current440 := current
	if p.Where != "" {
		data, err := readBounded(filepath.Join(dir, "pyproject.toml"))
		if err != nil {
			return nil, err
		}
		out, ok := setTOMLVersion(data, p.Where, next)
		if !ok {
			return nil, fmt.Errorf("pyproject.toml: no version = \"...\" line found in %s", p.Where)
		}
		add("pyproject.toml", p.Where+" version", data, out)
	}
	for _, f := range dunderFiles(dir, p) {
		data, err := readBounded(f)
		if err != nil {
			continue
		}
		found := false
		out := dunderVerRe.ReplaceAllFunc(data, func(m []byte) []byte {
			sm := dunderVerRe.FindSubmatch(m)
			if !sameVersion(string(sm[3]), current440) {
				return m
			}
			found = true
			return []byte(string(sm[1]) + string(sm[2]) + next + string(sm[4]))
		})
		if found {
			rel, _ := filepath.Rel(dir, f)
			add(filepath.ToSlash(rel), "__version__", data, out)
		}
	}
	for _, spec := range cfg.VersionFiles {
		rel, key, hasKey := strings.Cut(spec, ":")
		data, err := readBounded(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, fmt.Errorf("%s names %s in version-files: %w", ConfigPath, rel, err)
		}
		for _, e := range edits {
			if e.Path == filepath.ToSlash(filepath.Clean(rel)) {
				data = e.new
			}
		}
		var out []byte
		n := 0
		if hasKey {
			re := regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `\s*(?::\s*\w+\s*)?[=:]\s*)(["']?)([^"'\s,]+)(["']?)`)
			out = re.ReplaceAllFunc(data, func(m []byte) []byte {
				sm := re.FindSubmatch(m)
				n++
				return []byte(string(sm[1]) + string(sm[2]) + next + string(sm[4]))
			})
		} else {
			n = strings.Count(string(data), current)
			out = []byte(strings.ReplaceAll(string(data), current, next))
		}
		if n == 0 {
			if hasKey {
				return nil, fmt.Errorf("%s: version-files entry %q: %s assigns no %s", ConfigPath, spec, rel, key)
			}
			return nil, fmt.Errorf("%s: version-files entry %q: %s does not contain the current version %s (write it there, or name the variable as %s:NAME)", ConfigPath, spec, rel, current, rel)
		}
		add(filepath.ToSlash(filepath.Clean(rel)), "version-files", data, out)
	}
	if p.Name != "" {
		for _, lock := range []string{"uv.lock", "poetry.lock", "pdm.lock"} {
			data, err := readBounded(filepath.Join(dir, lock))
			if err != nil {
				continue
			}
			out, ok := setLockSelf(data, p.Name, next)
			if ok {
				add(lock, lock+": "+python.NormalizeName(p.Name)+"'s own entry", data, out)
			}
		}
	}
	return edits, nil
}

func sameVersion(a, b string) bool {
	if a == b {
		return true
	}
	va, err1 := python.ParseVersion(a)
	vb, err2 := python.ParseVersion(b)
	return err1 == nil && err2 == nil && va.Compare(vb) == 0
}
