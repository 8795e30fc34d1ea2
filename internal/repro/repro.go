// Package repro checks that a release's Python artifacts are reproducible: it rebuilds them
// from the release's commit in fresh workspaces that differ in path, umask and time zone, with
// SOURCE_DATE_EPOCH set from the commit, and compares the digests with the release's.
package repro

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-ci/sluice/internal/cd"
)

// ErrNoPythonArtifacts is returned when a release holds no wheel or sdist to rebuild.
var ErrNoPythonArtifacts = errors.New("no Python artifacts (wheels or sdists) to rebuild")

// Options says what to rebuild and how.
type Options struct {
	// Source is a local git repository (a working tree or a bare repository) holding Commit.
	Source string
	// Commit is the commit the release was built from.
	Commit string
	// Expected are the release's artifacts; only wheels and sdists are compared, by base name.
	Expected []cd.Artifact
	// BuildCmd is a shell command that writes the distributions into the directory $OUT; it
	// runs at the root of the checkout. Empty means `uv build --out-dir "$OUT"` when uv is on
	// PATH, else `python3 -m build --outdir "$OUT"`.
	BuildCmd string
	// Log receives progress and the build's output, one line per call; nil discards them.
	Log func(string)
	// Workspaces is how many independent rebuilds to make (default 2).
	Workspaces int
}

// Workspace is how one rebuild's environment was varied.
type Workspace struct {
	Dir   string `json:"dir"` // the checkout the build ran in (removed afterwards)
	Umask string `json:"umask"`
	TZ    string `json:"tz"`
}

// File is the comparison of one expected artifact.
type File struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	// Rebuilt holds the digest each workspace produced, in workspace order; "" when that
	// workspace's build did not produce the file.
	Rebuilt   []string `json:"rebuilt"`
	Identical bool     `json:"identical"`
}

// Result is the outcome of Rebuild.
type Result struct {
	Commit          string      `json:"commit"`
	SourceDateEpoch int64       `json:"source_date_epoch"`
	BuildCmd        string      `json:"build_cmd"`
	Workspaces      []Workspace `json:"workspaces"`
	Files           []File      `json:"files"`
	// Identical is true when every file was rebuilt, in every workspace, with the release's digest.
	Identical bool `json:"identical"`
	// Differ names the files that were not: a digest differs from the release's or between
	// workspaces, or a build did not produce the file.
	Differ []string `json:"differ"`
}

// IsPython reports whether name (a file name or path) is a wheel or an sdist.
func IsPython(name string) bool {
	base := path.Base(name)
	return strings.HasSuffix(base, ".whl") || strings.HasSuffix(base, ".tar.gz")
}

// DefaultBuildCmd is the build command used when Options.BuildCmd is empty.
func DefaultBuildCmd() string {
	if _, err := exec.LookPath("uv"); err == nil {
		return `uv build --out-dir "$OUT"`
	}
	return `python3 -m build --outdir "$OUT"`
}

// variation is how workspace i differs from its neighbours: path depth and length, umask and
// time zone (some with offsets that are not whole hours).
func variation(i int) (subdir, umask, tz string) {
	vs := [...][3]string{
		{"w0/src", "022", "UTC"},
		{"workspace-1/a/deeper/and-much-longer-path/checkout", "077", "Pacific/Kiritimati"},
		{"ws2/x/y", "002", "America/St_Johns"},
		{"rebuild-3-of-a-release-in-yet-another-place/project", "027", "Asia/Kathmandu"},
	}
	v := vs[i%len(vs)]
	return v[0], v[1], v[2]
}

// Rebuild rebuilds o.Expected's Python artifacts from o.Commit of o.Source and compares them.
// A build that fails is an error; a build that produces different bytes is a Result with
// Identical false.
func Rebuild(ctx context.Context, o Options) (*Result, error) {
	if o.Workspaces <= 0 {
		o.Workspaces = 2
	}
	if o.BuildCmd == "" {
		o.BuildCmd = DefaultBuildCmd()
	}
	if o.Log == nil {
		o.Log = func(string) {}
	}
	expected := pythonArtifacts(o.Expected)
	if len(expected) == 0 {
		return nil, ErrNoPythonArtifacts
	}
	src, err := resolveSource(ctx, o.Source, o.Commit)
	if err != nil {
		return nil, err
	}
	res := &Result{Commit: src.commit, SourceDateEpoch: src.epoch, BuildCmd: o.BuildCmd}
	root, err := os.MkdirTemp("", "sluice-repro-")
	if err != nil {
		return nil, fmt.Errorf("making the rebuild directory: %w", err)
	}
	defer removeAll(root)

	built := make([]map[string]string, o.Workspaces) // per workspace: base name → digest
	for i := range o.Workspaces {
		subdir, umask, tz := variation(i)
		w := workspace{
			dir:   filepath.Join(root, fmt.Sprintf("%s-%d", subdir, i)),
			out:   filepath.Join(root, fmt.Sprintf("out-%d", i)),
			umask: umask,
			tz:    tz,
			epoch: src.epoch,
			log:   o.Log,
		}
		res.Workspaces = append(res.Workspaces, Workspace{Dir: w.dir, Umask: w.umask, TZ: w.tz})
		o.Log(fmt.Sprintf("workspace %d/%d: %s (umask %s, TZ=%s, SOURCE_DATE_EPOCH=%d)",
			i+1, o.Workspaces, w.dir, w.umask, w.tz, w.epoch))
		if built[i], err = w.rebuild(ctx, src, o.BuildCmd); err != nil {
			return nil, fmt.Errorf("rebuilding in workspace %d: %w", i+1, err)
		}
		for name := range built[i] {
			if !slices.ContainsFunc(expected, func(a cd.Artifact) bool { return path.Base(a.Name) == name }) {
				o.Log(fmt.Sprintf("workspace %d also built %s, which the release does not have", i+1, name))
			}
		}
	}
	res.compare(expected, built)
	return res, nil
}

// compare fills Files, Identical and Differ.
func (r *Result) compare(expected []cd.Artifact, built []map[string]string) {
	r.Identical, r.Differ = true, []string{}
	for _, a := range expected {
		name := path.Base(a.Name)
		f := File{Name: name, Expected: a.Digest, Identical: true}
		for _, b := range built {
			d := b[name]
			f.Rebuilt = append(f.Rebuilt, d)
			if d != a.Digest {
				f.Identical = false
			}
		}
		r.Files = append(r.Files, f)
		if !f.Identical {
			r.Identical = false
			r.Differ = append(r.Differ, name)
		}
	}
}

// pythonArtifacts are the wheels and sdists of arts, by name, each base name once.
func pythonArtifacts(arts []cd.Artifact) []cd.Artifact {
	var out []cd.Artifact
	for _, a := range arts {
		if IsPython(a.Name) && !slices.ContainsFunc(out, func(b cd.Artifact) bool { return path.Base(b.Name) == path.Base(a.Name) }) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b cd.Artifact) int { return strings.Compare(path.Base(a.Name), path.Base(b.Name)) })
	return out
}

// Summary is a one-paragraph account of r, for the record kept of the check.
func (r *Result) Summary() string {
	var b strings.Builder
	var vs []string
	for _, w := range r.Workspaces {
		vs = append(vs, fmt.Sprintf("umask %s TZ=%s", w.Umask, w.TZ))
	}
	fmt.Fprintf(&b, "rebuilt %d file(s) of commit %s in %d workspace(s) (%s) with SOURCE_DATE_EPOCH=%d using %q: ",
		len(r.Files), r.Commit, len(r.Workspaces), strings.Join(vs, "; "), r.SourceDateEpoch, r.BuildCmd)
	if r.Identical {
		b.WriteString("identical")
		return b.String()
	}
	b.WriteString("differ:")
	for _, f := range r.Files {
		if f.Identical {
			continue
		}
		got := make([]string, len(f.Rebuilt))
		for i, d := range f.Rebuilt {
			got[i] = d
			if d == "" {
				got[i] = "not built"
			}
		}
		fmt.Fprintf(&b, " %s (release %s, rebuilt %s);", f.Name, f.Expected, strings.Join(got, ", "))
	}
	return strings.TrimSuffix(b.String(), ";")
}
