package deps

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/lazyre"
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

// reqLineRe matches a requirement with a version specifier, to check a pin written by hand.
var reqLineRe = lazyre.New(`["']?\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*((?:(?:===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*!+_-]+\s*,?\s*)+)`)

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

// FindPins lists the emergency pins in the history of rev (newest first, at most max commits
// that may touch dependency files), each marked open when it is still in effect at rev. A pin
// is a commit with a Sluice-Pin trailer, or a commit without Sluice-Update that adds an upper
// bound or exact pin to a requirement or moves a pinned or locked package back; which file
// changes are pins is python.PinChanges' decision, the same one delivery metrics count.
func FindPins(ctx context.Context, repo *gitrepo.Repo, rev string, max int) ([]Pin, error) {
	if max <= 0 {
		max = 500
	}
	commits, err := repo.Log(ctx, rev, max, python.DependencyPathspecs()...)
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
		if !python.DependencyFile(f) {
			continue
		}
		before, _ := repo.Show(ctx, c.SHA+"^", f) // absent before (or a root commit): ""
		now, _ := repo.Show(ctx, c.SHA, f)
		for _, ch := range python.PinChanges(f, []byte(before), []byte(now)) {
			p := base
			p.Package, p.Spec, p.Source, p.File, p.Reason = ch.Package, ch.To, "constraint", f, c.Subject
			if ch.Kind == python.PinDowngrade {
				p.Source = "downgrade"
				if strings.IndexAny(p.Spec, "=<>!~") != 0 { // a locked version, not a specifier
					p.Spec = "==" + p.Spec
				}
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// tree is what the revision read declares and locks, to tell open pins from lifted ones.
type tree struct {
	declared map[string][]string // package → specifiers declared in requirements, pyproject.toml, Pipfile
	locked   map[string]string   // package → locked version
}

func treeState(ctx context.Context, repo *gitrepo.Repo, rev string) tree {
	t := tree{declared: map[string][]string{}, locked: map[string]string{}}
	out, err := repo.Git(ctx, "ls-tree", "-r", "--name-only", rev)
	if err != nil {
		return t
	}
	for _, f := range strings.Split(strings.TrimSpace(out), "\n") {
		if !python.DependencyFile(f) {
			continue
		}
		data, ok := repo.Show(ctx, rev, f)
		if !ok {
			continue
		}
		declared, locked := python.DependencyState(f, []byte(data))
		for n, v := range locked {
			t.locked[n] = v
		}
		for n, spec := range declared {
			t.declared[n] = append(t.declared[n], spec)
			// A requirement pinned to one version holds a pin as a lock does ("==1.1" holds
			// "==1.1.0").
			if v, ok := strings.CutPrefix(spec, "=="); ok && !strings.ContainsAny(v, ",*") {
				if _, ok := t.locked[n]; !ok {
					t.locked[n] = v
				}
			}
		}
	}
	return t
}

// holds reports whether a pin is still in effect: its bound is still declared, or the
// version it pinned is still the locked one.
func (t tree) holds(p Pin) bool {
	for _, d := range t.declared[p.Package] {
		if d != "" && allOf(constraints(p.Spec), constraints(d)) {
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

// constraints splits a specifier into its comma-separated clauses, without spaces.
func constraints(spec string) []string {
	var out []string
	for _, c := range strings.Split(strings.ReplaceAll(spec, " ", ""), ",") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// allOf reports whether every clause of want is among have: the pin's specifier is still
// declared, alone or with others (">=1,<1.3" holds "<1.3"; "==1.10" does not hold "==1.1").
func allOf(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return len(want) > 0
}
