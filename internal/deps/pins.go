package deps

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/python"
)

// Trailers sluice writes and reads (see the shared conventions).
const (
	TrailerUpdate    = "Sluice-Update"
	TrailerPin       = "Sluice-Pin"
	TrailerPinReason = "Sluice-Pin-Reason"
)

// Pin is an emergency pin: a dependency held at or below a version on purpose.
type Pin struct {
	Package string    `json:"package"`
	Spec    string    `json:"spec"` // e.g. "==1.2.3", "<2"
	Reason  string    `json:"reason,omitempty"`
	Commit  string    `json:"commit"`
	Date    time.Time `json:"date"`
	Author  string    `json:"author"`
	// Source is "trailer" for a Sluice-Pin commit, "constraint" for a bound added by hand to
	// a requirement, "downgrade" for a lock that moved a package back.
	Source string `json:"source"`
	File   string `json:"file,omitempty"`
	Open   bool   `json:"open"` // still in effect at the revision read
}

// AgeDays is how long the pin has been in place at now.
func (p Pin) AgeDays(now time.Time) int { return int(now.Sub(p.Date).Hours() / 24) }

// dependencyInputs are the files where a person declares requirements; lockFiles are written
// by tools.
var (
	dependencyInputs = []string{"pyproject.toml", "requirements*.txt", "requirements*.in", "*requirements.txt", "requirements/*.txt", "requirements/*.in", "constraints*.txt", "setup.cfg"}
	lockFiles        = []string{"uv.lock", "poetry.lock", "pdm.lock"}
	reqLineRe        = regexp.MustCompile(`["']?\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*((?:(?:===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*!+_-]+\s*,?\s*)+)`)
)

// ParsePinSpec splits "pkg==1.2" / "pkg<2" into name and specifier.
func ParsePinSpec(s string) (name, spec string, err error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=<>!~")
	if i <= 0 {
		return "", "", fmt.Errorf("pin %q: write NAME==VERSION (or NAME<VERSION)", s)
	}
	name, spec = strings.TrimSpace(s[:i]), strings.ReplaceAll(s[i:], " ", "")
	if !ValidName(name) {
		return "", "", fmt.Errorf("pin %q: %q is not a package name", s, name)
	}
	m := reqLineRe.FindStringSubmatch(name + spec)
	if m == nil || strings.TrimRight(m[2], ", ") != spec {
		return "", "", fmt.Errorf("pin %q: %q is not a version specifier", s, spec)
	}
	if _, err := python.SpecifierContains(spec, python.NewVersion(0, []int{0}, "", 0, -1, -1)); err != nil {
		return "", "", fmt.Errorf("pin %q: %v", s, err)
	}
	return python.NormalizeName(name), spec, nil
}

// upperBound reports whether a specifier caps the version: ==, ===, <, <= or ~=.
func upperBound(spec string) bool {
	for _, c := range strings.Split(spec, ",") {
		c = strings.TrimSpace(c)
		if strings.HasPrefix(c, "==") || strings.HasPrefix(c, "<") || strings.HasPrefix(c, "~=") {
			return true
		}
	}
	return false
}

func isDependencyFile(p string, patterns []string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// FindPins lists the emergency pins in the history of rev (newest first, at most max commits
// that touch dependency files), each marked open when it is still in effect at rev. A pin is
// a commit with a Sluice-Pin trailer, or a commit without Sluice-Update that adds an upper
// bound or exact pin to a requirement or moves a locked package back. This is the one
// place that decides what a pin is; delivery metrics read it too.
func FindPins(ctx context.Context, repo *gitrepo.Repo, rev string, max int) ([]Pin, error) {
	if max <= 0 {
		max = 500
	}
	paths := append(append([]string{}, dependencyInputs...), lockFiles...)
	commits, err := repo.Log(ctx, rev, max, paths...)
	if err != nil {
		return nil, err
	}
	var pins []Pin
	for _, c := range commits {
		ps, err := PinsInCommit(ctx, repo, c)
		if err != nil {
			return nil, err
		}
		pins = append(pins, ps...)
	}
	// Also the Sluice-Pin commits that touched nothing the path filter sees.
	tagged, err := repo.Log(ctx, rev, max)
	if err == nil {
		seen := map[string]bool{}
		for _, p := range pins {
			seen[p.Commit] = true
		}
		for _, c := range tagged {
			if _, ok := c.Trailer(TrailerPin); ok && !seen[c.SHA] {
				ps, _ := PinsInCommit(ctx, repo, c)
				pins = append(pins, ps...)
			}
		}
	}
	state := treeState(ctx, repo, rev)
	for i := range pins {
		pins[i].Open = state.holds(pins[i])
	}
	sort.SliceStable(pins, func(i, j int) bool { return pins[i].Date.After(pins[j].Date) })
	return pins, nil
}

// PinsInCommit decides which pins one commit makes.
func PinsInCommit(ctx context.Context, repo *gitrepo.Repo, c gitrepo.Commit) ([]Pin, error) {
	base := Pin{Commit: c.SHA, Date: c.Date, Author: c.Author}
	var out []Pin
	for _, t := range c.Trailers {
		if !strings.EqualFold(t.Key, TrailerPin) {
			continue
		}
		name, spec, err := ParsePinSpec(t.Value)
		if err != nil {
			continue
		}
		p := base
		p.Package, p.Spec, p.Source = name, spec, "trailer"
		p.Reason, _ = c.Trailer(TrailerPinReason)
		out = append(out, p)
	}
	if len(out) > 0 {
		return out, nil
	}
	if _, ok := c.Trailer(TrailerUpdate); ok {
		return nil, nil // sluice's own updates move versions on purpose
	}
	files, err := repo.Git(ctx, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", c.SHA)
	if err != nil {
		return nil, err
	}
	for _, f := range strings.Split(strings.TrimSpace(files), "\n") {
		switch {
		case isDependencyFile(f, lockFiles) || (isDependencyFile(f, dependencyInputs) && lockLike(ctx, repo, c.SHA, f)):
			for _, d := range downgrades(ctx, repo, c.SHA, f) {
				p := base
				p.Package, p.Spec, p.Source, p.File = d.Name, "=="+d.New, "downgrade", f
				p.Reason = c.Subject
				out = append(out, p)
			}
		case isDependencyFile(f, dependencyInputs):
			for _, b := range addedBounds(ctx, repo, c.SHA, f) {
				p := base
				p.Package, p.Spec, p.Source, p.File = b[0], b[1], "constraint", f
				p.Reason = c.Subject
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// lockLike is a requirements file that pins everything: a tool's output, or pinned by hand
// the way a lock is. Its == lines are versions, not bounds; moving one back is the pin.
func lockLike(ctx context.Context, repo *gitrepo.Repo, sha, f string) bool {
	if !strings.HasSuffix(f, ".txt") {
		return false
	}
	data, ok := repo.Show(ctx, sha, f)
	if !ok {
		return false
	}
	if python.CompileCommand([]byte(data)) != "" {
		return true
	}
	reqs, pinned := 0, 0
	for _, l := range strings.Split(data, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "-") {
			continue
		}
		reqs++
		if pinnedLineRe.MatchString(l) {
			pinned++
		}
	}
	return reqs > 0 && reqs == pinned
}

// requirementBounds maps each package a text declares to its upper-bounding specifiers.
func requirementBounds(text string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		for _, m := range reqLineRe.FindAllStringSubmatch(l, -1) {
			spec := strings.TrimRight(strings.ReplaceAll(m[2], " ", ""), ",")
			if upperBound(spec) {
				out[python.NormalizeName(m[1])] = spec
			}
		}
	}
	return out
}

// addedBounds are the [name, spec] bounds a commit's version of f has that its parent's has
// not.
func addedBounds(ctx context.Context, repo *gitrepo.Repo, sha, f string) [][2]string {
	now, _ := repo.Show(ctx, sha, f)
	before, _ := repo.Show(ctx, sha+"^", f)
	if len(now) > maxLockBytes || len(before) > maxLockBytes {
		return nil
	}
	was := requirementBounds(before)
	var out [][2]string
	is := requirementBounds(now)
	for _, n := range sortedKeys(is) {
		if was[n] != is[n] {
			out = append(out, [2]string{n, is[n]})
		}
	}
	return out
}

// downgrades are the packages a commit's lock f pins lower than its parent's.
func downgrades(ctx context.Context, repo *gitrepo.Repo, sha, f string) []Change {
	read := func(rev string) map[string]Locked {
		data, ok := repo.Show(ctx, rev, f)
		if !ok || len(data) > maxLockBytes {
			return nil
		}
		var m map[string]Locked
		var err error
		switch path.Base(f) {
		case "uv.lock":
			m, err = readUVLock([]byte(data))
		case "poetry.lock":
			m, err = readGroupLock([]byte(data), Poetry)
		case "pdm.lock":
			m, err = readGroupLock([]byte(data), PDM)
		default:
			m, err = readRequirements([]byte(data), false)
		}
		if err != nil {
			return nil
		}
		return m
	}
	before, now := read(sha+"^"), read(sha)
	var out []Change
	for _, c := range diffLocks(before, now) {
		if c.Type == "downgrade" {
			out = append(out, c)
		}
	}
	return out
}

// tree is what the revision read declares and locks, to tell open pins from lifted ones.
type tree struct {
	bounds map[string][]string // package → bounds declared in input files
	locked map[string]string   // package → locked version
}

func treeState(ctx context.Context, repo *gitrepo.Repo, rev string) tree {
	t := tree{bounds: map[string][]string{}, locked: map[string]string{}}
	out, err := repo.Git(ctx, "ls-tree", "-r", "--name-only", rev)
	if err != nil {
		return t
	}
	for _, f := range strings.Split(strings.TrimSpace(out), "\n") {
		if !isDependencyFile(f, dependencyInputs) && !isDependencyFile(f, lockFiles) {
			continue
		}
		data, ok := repo.Show(ctx, rev, f)
		if !ok || len(data) > maxLockBytes {
			continue
		}
		if isDependencyFile(f, lockFiles) || python.CompileCommand([]byte(data)) != "" {
			var m map[string]Locked
			switch path.Base(f) {
			case "uv.lock":
				m, _ = readUVLock([]byte(data))
			case "poetry.lock":
				m, _ = readGroupLock([]byte(data), Poetry)
			case "pdm.lock":
				m, _ = readGroupLock([]byte(data), PDM)
			default:
				m, _ = readRequirements([]byte(data), false)
			}
			for n, l := range m {
				t.locked[n] = l.Version
			}
			continue
		}
		for n, spec := range requirementBounds(data) {
			t.bounds[n] = append(t.bounds[n], spec)
		}
		// A plain requirements file pins as a lock does.
		if !strings.HasSuffix(f, ".toml") && !strings.HasSuffix(f, ".cfg") {
			m, _ := readRequirements([]byte(data), false)
			for n, l := range m {
				if _, ok := t.locked[n]; !ok {
					t.locked[n] = l.Version
				}
			}
		}
	}
	return t
}

// holds reports whether a pin is still in effect: its bound is still declared, or the
// version it pinned is still the locked one.
func (t tree) holds(p Pin) bool {
	for _, b := range t.bounds[p.Package] {
		if b == p.Spec || strings.Contains(b, p.Spec) {
			return true
		}
	}
	if v, ok := strings.CutPrefix(p.Spec, "=="); ok {
		if l, ok := t.locked[p.Package]; ok && sameVersion(l, v) {
			return true
		}
	}
	return false
}
