// Package actions resolves a step's `uses:` to something sluice can run:
// a native built-in (matched on owner/repo with any ref), a local composite
// action read from the workspace, or a clear error naming what is missing.
package actions

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Kind says how a `uses:` reference is run.
type Kind int

// The kinds of action reference.
const (
	Builtin  Kind = iota // built into sluice
	Local                // ./path in the workspace: composite (or node) action
	Remote               // owner/repo[/path]@ref that is not native
	Docker               // docker://image
	Workflow             // a reusable workflow (job-level uses)
)

// Ref is a parsed `uses:` value.
type Ref struct {
	Raw   string
	Kind  Kind
	Owner string
	Repo  string
	Path  string // sub-directory inside the repository, or the local path
	Ref   string // the part after @
}

// Name is owner/repo in lower case.
func (r Ref) Name() string { return strings.ToLower(r.Owner + "/" + r.Repo) }

// NativeName is owner/repo[/path] in lower case, the key natives are
// matched on (actions/cache/restore is its own action).
func (r Ref) NativeName() string {
	if r.Path == "" {
		return r.Name()
	}
	return r.Name() + "/" + strings.ToLower(r.Path)
}

// Parse splits a step's `uses:` value.
func Parse(uses string) (Ref, error) {
	uses = strings.TrimSpace(uses)
	switch {
	case uses == "":
		return Ref{}, fmt.Errorf("empty uses")
	case strings.HasPrefix(uses, "./") || strings.HasPrefix(uses, "../"):
		return Ref{Raw: uses, Kind: Local, Path: uses}, nil
	case strings.HasPrefix(uses, "docker://"):
		return Ref{Raw: uses, Kind: Docker, Path: strings.TrimPrefix(uses, "docker://")}, nil
	}
	name, ref, ok := strings.Cut(uses, "@")
	if !ok || ref == "" {
		return Ref{}, fmt.Errorf("uses %q: a remote action needs a ref, as in owner/repo@v1", uses)
	}
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return Ref{}, fmt.Errorf("uses %q: expected owner/repo[/path]@ref", uses)
	}
	r := Ref{Raw: uses, Kind: Remote, Owner: parts[0], Repo: parts[1], Ref: ref}
	if len(parts) == 3 {
		// The path names a directory of the action's repository: one that leaves it (..,
		// an absolute path) would have the agent run whatever action.yml it reaches on the
		// machine, another job's included (TestParseRefusesPathsLeavingTheRepository).
		if p := parts[2]; strings.Contains(p, "\\") || !filepath.IsLocal(filepath.FromSlash(path.Clean(p))) {
			return Ref{}, fmt.Errorf("uses %q: %q leaves the repository %s/%s: an action's path is a directory inside it", uses, p, parts[0], parts[1])
		}
		r.Path = parts[2]
	}
	if isNative(r.NativeName()) {
		r.Kind = Builtin
	}
	return r, nil
}

// ParseCall splits a job's `uses:` (a reusable workflow): ./.github/workflows/x.yml in this
// repository (Local) or owner/repo/.github/workflows/x.yml@ref (Workflow).
func ParseCall(uses string) (Ref, error) {
	uses = strings.TrimSpace(uses)
	if strings.HasPrefix(uses, "./") {
		return Ref{Raw: uses, Kind: Local, Path: uses}, nil
	}
	name, ref, ok := strings.Cut(uses, "@")
	parts := strings.SplitN(name, "/", 3)
	if !ok || ref == "" || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Ref{}, fmt.Errorf("uses %q: a reusable workflow is ./.github/workflows/FILE or OWNER/REPO/.github/workflows/FILE@REF", uses)
	}
	return Ref{Raw: uses, Kind: Workflow, Owner: parts[0], Repo: parts[1], Path: parts[2], Ref: ref}, nil
}
