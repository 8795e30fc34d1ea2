// Package release decides a project's next version from its conventional commits and writes
// it everywhere the project keeps it — pyproject.toml, __version__, files the config names,
// and the project's own entry in its lock file — with a changelog section, in one commit and
// a tag (`sluice bump`).
package release

import (
	"strings"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Increment is how far a version moves.
type Increment int

// Increments, ordered so that the largest of several commits wins.
const (
	None Increment = iota
	Patch
	Minor
	Major
)

func (i Increment) String() string {
	return [...]string{"none", "patch", "minor", "major"}[i]
}

// ParseIncrement reads "major", "minor" or "patch" (any case).
func ParseIncrement(s string) (Increment, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "major":
		return Major, true
	case "minor":
		return Minor, true
	case "patch":
		return Patch, true
	}
	return None, false
}

// Change is one commit read as a conventional commit.
type Change struct {
	SHA         string `json:"sha"`
	Type        string `json:"type"` // feat, fix, ...; "" when the subject is not conventional
	Scope       string `json:"scope,omitempty"`
	Breaking    bool   `json:"breaking,omitempty"`
	Description string `json:"description"`
	// BreakingNote is the text of a BREAKING CHANGE footer, when there is one.
	BreakingNote string `json:"breaking_note,omitempty"`
}

// Conventional reports whether the subject followed the convention.
func (c Change) Conventional() bool { return c.Type != "" }

// Increment is what this change asks of the version: breaking → major, feat → minor,
// fix/perf/refactor → patch, anything else (docs, chore, ci, ...) → none.
func (c Change) Increment() Increment {
	switch {
	case c.Breaking:
		return Major
	case c.Type == "feat":
		return Minor
	case c.Type == "fix" || c.Type == "perf" || c.Type == "refactor":
		return Patch
	}
	return None
}

var (
	subjectRe  = lazyre.New(`^([A-Za-z][A-Za-z0-9_-]*)(?:\(([^()\r\n]*)\))?(!)?: +(\S.*)$`)
	breakingRe = lazyre.New(`(?m)^BREAKING[ -]CHANGE: *(.*)$`)
	mergeRe    = lazyre.New(`^(Merge (branch|pull request|remote-tracking branch|tag|commit) |Merge [0-9a-f]{7,40} into )`)
)

// ParseCommit reads a commit's subject and body as a conventional commit.
func ParseCommit(c gitrepo.Commit) Change {
	ch := Change{SHA: c.SHA, Description: c.Subject}
	m := subjectRe.FindStringSubmatch(strings.TrimSpace(c.Subject))
	if m == nil {
		return ch
	}
	ch.Type = strings.ToLower(m[1])
	ch.Scope = strings.TrimSpace(m[2])
	ch.Breaking = m[3] == "!"
	ch.Description = strings.TrimSpace(m[4])
	if b := breakingRe.FindStringSubmatch(c.Body); b != nil {
		ch.Breaking = true
		ch.BreakingNote = strings.TrimSpace(b[1])
	}
	return ch
}

// isMerge is a merge commit's default subject: merges carry no change of their own.
func isMerge(subject string) bool { return mergeRe.MatchString(subject) }
