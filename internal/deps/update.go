package deps

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/python"
)

// Options steer one update.
type Options struct {
	Config *Config
	// Group keeps only this group's updates ("" keeps every group's).
	Group string
	// Only limits the update to these packages, each at most the version given ("" for
	// any); bisection and per-group runs use it.
	Only  map[string]string
	Index *Index
	Tools *Tools
	// Env is the environment the lock tool runs with (nil: the tools' own).
	Env []string
	Now time.Time
	Log func(string)
	// Run runs the lock tool (argv in dir with env) and returns its combined output; nil
	// runs it as a child process. The server passes one that runs it in its sandbox.
	Run func(ctx context.Context, argv []string, dir string, env []string) (string, error)
}

// runArgv runs argv as the options say.
func (o Options) runArgv(ctx context.Context, argv []string, dir string, env []string) (string, error) {
	if o.Run != nil {
		return o.Run(ctx, argv, dir, env)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Change is one package that moved.
type Change struct {
	Name      string    `json:"name"`
	Old       string    `json:"old,omitempty"` // "" when the package is new to the lock
	New       string    `json:"new,omitempty"` // "" when it left the lock
	Type      string    `json:"type"`          // major, minor, patch, other, added, removed, downgrade
	Dev       bool      `json:"dev,omitempty"`
	Group     string    `json:"group"`
	Uploaded  time.Time `json:"uploaded,omitempty"`
	AgeDays   int       `json:"age_days"`
	Changelog string    `json:"changelog,omitempty"`
}

// Held is an update kept back, and why.
type Held struct {
	Name    string `json:"name"`
	Version string `json:"version"` // what the tool would have taken
	Kept    string `json:"kept"`    // what the lock has instead
	Reason  string `json:"reason"`
}

// Result is what an update did.
type Result struct {
	Tool    Tool     `json:"tool"`
	Lock    string   `json:"lock"`
	Changes []Change `json:"changes"`
	Held    []Held   `json:"held,omitempty"`
	// Packages is how many the lock pinned before; Oldest is its oldest pinned release.
	Packages int `json:"packages"`
}

// Groups lists the groups of the changes in order of first appearance.
func (r *Result) Groups() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Changes {
		if !seen[c.Group] {
			seen[c.Group] = true
			out = append(out, c.Group)
		}
	}
	return out
}

const maxRounds = 8

// Update re-resolves the project's lock as the options say and leaves the new lock in place.
// The tool proposes (it alone knows what resolves); sluice checks each move against the
// configuration (ignore list, cooldown by upload time, the group asked for) and, when one
// breaks it, resolves again with that package held at the newest version that is allowed, or
// at its locked one. On error the lock is restored.
func Update(ctx context.Context, p Project, o Options) (*Result, error) {
	if o.Config == nil {
		o.Config, _ = ParseConfig(nil)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Tools == nil {
		o.Tools = &Tools{} // PATH only: nowhere to install a missing tool
	}
	old, err := ReadLock(p)
	if err != nil {
		return nil, err
	}
	for n, l := range old {
		if !ValidName(n) || !ValidVersion(l.Version) {
			return nil, fmt.Errorf("%s: package %q at %q is not a valid name and version; refusing to pass it to %s", p.Lock, n, l.Version, p.Tool)
		}
	}
	for n, v := range o.Only {
		if !ValidName(n) || (v != "" && !ValidVersion(v)) {
			return nil, fmt.Errorf("invalid package %q or version %q", n, v)
		}
	}
	snap, err := snapshot(p)
	if err != nil {
		return nil, err
	}
	res := &Result{Tool: p.Tool, Lock: p.Lock, Packages: len(old)}
	fail := func(err error) (*Result, error) {
		snap.restore()
		return nil, err
	}
	if p.Tool == Requirements {
		if err := updateRequirements(ctx, p, old, o, res); err != nil {
			return fail(err)
		}
		changelogs(ctx, o, res)
		return res, nil
	}
	caps := map[string]string{} // name → specifier, e.g. "<=2.1.0" or "==1.0.0"
	held := map[string]Held{}
	for round := 0; ; round++ {
		if round == maxRounds {
			return fail(fmt.Errorf("%s kept proposing updates the configuration refuses after %d tries; held: %s", p.Tool, maxRounds, strings.Join(sortedKeys(caps), ", ")))
		}
		snap.restore()
		if err := runTool(ctx, p, old, o, caps); err != nil {
			return fail(err)
		}
		snap.keepPyproject()
		now, err := ReadLock(p)
		if err != nil {
			return fail(err)
		}
		changes := diffLocks(old, now)
		infos := lookup(ctx, o, changes)
		var violations int
		res.Changes = res.Changes[:0]
		for _, c := range changes {
			info := infos[c.Name]
			grp, cool := o.Config.GroupOf(c.Name, c.Dev, c.Type)
			c.Group = grp
			if info != nil && c.New != "" {
				if r, ok := info.Release(c.New); ok && !r.Uploaded.IsZero() {
					c.Uploaded = r.Uploaded
					c.AgeDays = int(math.Floor(o.Now.Sub(r.Uploaded).Hours() / 24))
				}
			}
			reason := ""
			switch {
			case c.New == "":
				// A package no longer needed: nothing to hold.
			case o.Config.Ignored(c.Name, c.New):
				reason = "ignored by " + ConfigPath
			case o.Group != "" && grp != o.Group && c.Old != "":
				reason = "belongs to group " + grp
			case o.Only != nil && c.Old != "" && !inOnly(o.Only, c.Name, c.New):
				reason = "not part of this update"
			case cool > 0 && !c.Uploaded.IsZero() && o.Now.Sub(c.Uploaded) < time.Duration(cool)*24*time.Hour:
				reason = fmt.Sprintf("released %s ago; cooldown %d days", ago(o.Now.Sub(c.Uploaded)), cool)
			case cool > 0 && c.Uploaded.IsZero():
				reason = fmt.Sprintf("the index gives no upload time; cooldown %d days", cool)
			}
			if reason == "" {
				res.Changes = append(res.Changes, c)
				continue
			}
			violations++
			keep := allowedVersion(o, info, c, cool)
			spec := "==" + keep
			if keep == "" {
				if c.Old == "" {
					return fail(fmt.Errorf("%s %s is new to the lock but %s, and no older release is allowed", c.Name, c.New, reason))
				}
				keep, spec = c.Old, "=="+c.Old
			} else if c.Old == "" || newer(keep, c.Old) {
				spec = "<=" + keep
			} else {
				keep, spec = c.Old, "=="+c.Old
			}
			if caps[c.Name] == spec {
				return fail(fmt.Errorf("%s cannot hold %s at %s (it still resolves %s): %s", p.Tool, c.Name, spec, c.New, reason))
			}
			caps[c.Name] = spec
			held[c.Name] = Held{Name: c.Name, Version: c.New, Kept: keep, Reason: reason}
		}
		if violations == 0 {
			break
		}
		if o.Log != nil {
			o.Log(fmt.Sprintf("holding back %d package(s), resolving again", violations))
		}
	}
	for _, h := range held {
		if l, ok := old[h.Name]; ok && h.Kept == "" {
			h.Kept = l.Version
		}
		res.Held = append(res.Held, h)
	}
	sort.Slice(res.Held, func(i, j int) bool { return res.Held[i].Name < res.Held[j].Name })
	changelogs(ctx, o, res)
	sort.SliceStable(res.Changes, func(i, j int) bool {
		if res.Changes[i].Group != res.Changes[j].Group {
			return res.Changes[i].Group < res.Changes[j].Group
		}
		return res.Changes[i].Name < res.Changes[j].Name
	})
	return res, nil
}

func inOnly(only map[string]string, name, v string) bool {
	max, ok := only[name]
	if !ok {
		return false
	}
	return max == "" || !newer(v, max)
}

// allowedVersion is the newest release the configuration allows in place of c.New: not
// ignored, not yanked, old enough, no newer than c.New and within Only.
func allowedVersion(o Options, info *ProjectInfo, c Change, cool int) string {
	if info == nil {
		return ""
	}
	if o.Only != nil && c.Old != "" {
		if _, ok := o.Only[c.Name]; !ok {
			return ""
		}
	}
	for i := len(info.Releases) - 1; i >= 0; i-- {
		r := info.Releases[i]
		if r.Yanked || newer(r.Version, c.New) || !sameOrNewerPre(r.Version, c.New) {
			continue
		}
		if o.Config.Ignored(c.Name, r.Version) {
			continue
		}
		if o.Only != nil && !inOnly(o.Only, c.Name, r.Version) && c.Old != "" {
			continue
		}
		if cool > 0 && (r.Uploaded.IsZero() || o.Now.Sub(r.Uploaded) < time.Duration(cool)*24*time.Hour) {
			continue
		}
		if g, _ := o.Config.GroupOf(c.Name, c.Dev, updateType(c.Old, r.Version)); o.Group != "" && c.Old != "" && g != o.Group {
			continue
		}
		if c.Old != "" && !newer(r.Version, c.Old) {
			return c.Old
		}
		return r.Version
	}
	return ""
}

// sameOrNewerPre refuses a pre-release in place of a final one.
func sameOrNewerPre(candidate, proposed string) bool {
	c, e1 := python.ParseVersion(candidate)
	p, e2 := python.ParseVersion(proposed)
	return e1 != nil || e2 != nil || !c.IsPrerelease() || p.IsPrerelease()
}

func ago(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

// lookup asks the index about the changed packages, eight at a time. A package the index
// cannot answer for has no facts (no age, no changelog), which is not an error: the lock
// tool resolved it, so it exists.
func lookup(ctx context.Context, o Options, changes []Change) map[string]*ProjectInfo {
	out := map[string]*ProjectInfo{}
	if o.Index == nil {
		return out
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range changes {
		if c.New == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			info, err := o.Index.Project(ctx, c.Name, c.New)
			if err != nil {
				if o.Log != nil {
					o.Log(fmt.Sprintf("index: %v", err))
				}
				return
			}
			mu.Lock()
			out[c.Name] = info
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// diffLocks lists what moved between two locks, by name.
func diffLocks(old, now map[string]Locked) []Change {
	var out []Change
	for n, l := range now {
		o, ok := old[n]
		switch {
		case !ok:
			out = append(out, Change{Name: n, New: l.Version, Type: "added", Dev: l.Dev})
		case o.Version != l.Version:
			out = append(out, Change{Name: n, Old: o.Version, New: l.Version, Type: updateType(o.Version, l.Version), Dev: l.Dev && o.Dev})
		}
	}
	for n, o := range old {
		if _, ok := now[n]; !ok {
			out = append(out, Change{Name: n, Old: o.Version, Type: "removed", Dev: o.Dev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// updateType classifies a move by the first release number that changed.
func updateType(old, new string) string {
	vo, e1 := python.ParseVersion(old)
	vn, e2 := python.ParseVersion(new)
	if e1 != nil || e2 != nil {
		return "other"
	}
	if vn.Compare(vo) < 0 {
		return "downgrade"
	}
	a, b := vo.Release(), vn.Release()
	for len(a) < 3 {
		a = append(a, 0)
	}
	for len(b) < 3 {
		b = append(b, 0)
	}
	switch {
	case vo.Epoch() != vn.Epoch() || a[0] != b[0]:
		return "major"
	case a[1] != b[1]:
		return "minor"
	}
	return "patch"
}

// runTool re-resolves the lock. Without Only and caps every package may move; otherwise
// only the listed ones, capped as given, while the tool keeps the rest where the lock has
// them unless a moved package needs more.
func runTool(ctx context.Context, p Project, old map[string]Locked, o Options, caps map[string]string) error {
	argv, err := o.Tools.Argv(ctx, p.Tool)
	if err != nil {
		return err
	}
	var upgrade []string // "name" or "name<=1.2" / "name==1.0"
	all := o.Only == nil && o.Group == "" && len(caps) == 0
	if !all {
		names := map[string]bool{}
		if o.Only != nil {
			for n := range o.Only {
				names[n] = true
			}
		} else {
			for n := range old {
				names[n] = true
			}
		}
		for n := range caps {
			names[n] = true
		}
		for _, n := range sortedKeys(names) {
			spec := caps[n]
			if spec == "" && o.Only != nil && o.Only[n] != "" {
				spec = "<=" + o.Only[n]
			}
			upgrade = append(upgrade, n+spec)
		}
	}
	for _, u := range upgrade {
		n := u
		if i := strings.IndexAny(u, "<=>!~"); i >= 0 {
			n = u[:i]
		}
		if !ValidName(n) {
			return fmt.Errorf("refusing to pass %q to %s: not a package name", u, p.Tool)
		}
	}
	var args []string
	var cleanup func()
	switch p.Tool {
	case UV:
		args = []string{"lock"}
		if all {
			args = append(args, "--upgrade")
		}
		for _, u := range upgrade {
			args = append(args, "--upgrade-package", u)
		}
	case PipTools, UVPip:
		args = compileArgs(p)
		if all {
			args = append(args, "--upgrade")
		}
		for _, u := range upgrade {
			args = append(args, "--upgrade-package", u)
		}
	case PDM:
		// pdm wants named packages to be direct dependencies of the groups selected, so
		// nothing is named: every package may move, and the overrides file pins what may not
		// (at its locked version) and caps what may only go so far.
		args = []string{"update", "--no-sync", "--no-self"}
		var overrides []string
		if !all {
			listed := map[string]string{}
			for _, u := range upgrade {
				listed[nameOf(u)] = u[len(nameOf(u)):]
			}
			for _, n := range sortedKeys(old) {
				spec, ok := listed[n]
				switch {
				case !ok:
					overrides = append(overrides, n+"=="+old[n].Version)
				case spec != "":
					overrides = append(overrides, n+spec)
				}
			}
			for _, n := range sortedKeys(listed) {
				if _, ok := old[n]; !ok && listed[n] != "" {
					overrides = append(overrides, n+listed[n])
				}
			}
		}
		if len(overrides) > 0 {
			// Beside the lock, so a sandboxed pdm can read it; only the lock is committed.
			f, err := os.CreateTemp(p.Dir, ".sluice-pdm-overrides-*.txt")
			if err != nil {
				return err
			}
			f.WriteString(strings.Join(overrides, "\n") + "\n")
			f.Close()
			cleanup = func() { os.Remove(f.Name()) }
			args = append(args, "--override", f.Name())
		}
	case Poetry:
		args = []string{"update", "--lock", "--no-interaction"}
		if !all {
			// Poetry takes no version caps on its command line. A direct dependency is capped
			// for the run by narrowing its declared requirement (pyproject.toml and the lock's
			// content-hash are put back afterwards); a transitive one that must stay is left
			// out of the list, so the lock keeps it unless another update needs it.
			pyproject := filepath.Join(p.Dir, "pyproject.toml")
			orig, err := os.ReadFile(pyproject)
			if err != nil {
				return err
			}
			edited := orig
			args = append(args, "--")
			for _, u := range upgrade {
				n := nameOf(u)
				if spec := u[len(n):]; spec != "" {
					var ok bool
					if edited, ok = capRequirement(edited, n, spec); !ok && strings.HasPrefix(spec, "==") {
						continue
					}
				}
				args = append(args, n)
			}
			if !bytes.Equal(edited, orig) {
				if err := os.WriteFile(pyproject, edited, 0o644); err != nil {
					return err
				}
				lockPath := filepath.Join(p.Dir, p.Lock)
				origLock, _ := os.ReadFile(lockPath)
				cleanup = func() {
					_ = os.WriteFile(pyproject, orig, 0o644)
					restoreContentHash(lockPath, origLock)
				}
			}
		}
	default:
		return fmt.Errorf("%s cannot be re-resolved by a tool", p.Tool)
	}
	if cleanup != nil {
		defer cleanup()
	}
	full := append(append([]string{}, argv...), args...)
	env := o.Env
	if env == nil {
		env = o.Tools.env()
	}
	if o.Log != nil {
		o.Log("$ " + strings.Join(append([]string{filepath.Base(argv[len(argv)-1])}, args...), " "))
	}
	if out, err := o.runArgv(ctx, full, p.Dir, env); err != nil {
		return &ToolError{Tool: p.Tool, Err: err, Output: tail(out, 40)}
	}
	return nil
}

// ToolError is a lock tool that failed: most often no resolution satisfies the constraints.
type ToolError struct {
	Tool   Tool
	Err    error
	Output string
}

func (e *ToolError) Error() string {
	return fmt.Sprintf("%s could not re-resolve the lock (%v):\n%s", e.Tool, e.Err, e.Output)
}

func nameOf(u string) string {
	if i := strings.IndexAny(u, "<=>!~"); i >= 0 {
		return u[:i]
	}
	return u
}

// compileArgs is the recorded compile command without its program name and without the
// upgrade options it may carry (they are chosen here).
func compileArgs(p Project) []string {
	words := p.Command[1:]
	if p.Tool == UVPip {
		words = p.Command[3:]
	}
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-U" || w == "--upgrade":
		case w == "-P" || w == "--upgrade-package":
			i++
		case strings.HasPrefix(w, "--upgrade-package="):
		default:
			out = append(out, w)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// snapshot keeps the lock and pyproject.toml as they were, so a failed or refused
// resolution leaves the project untouched, and no tool rewrites pyproject.toml behind us.
type snap struct {
	files map[string][]byte
	lock  string
}

func snapshot(p Project) (*snap, error) {
	s := &snap{files: map[string][]byte{}, lock: filepath.Join(p.Dir, p.Lock)}
	for _, f := range []string{p.Lock, "pyproject.toml"} {
		b, err := os.ReadFile(filepath.Join(p.Dir, f))
		if err == nil {
			s.files[filepath.Join(p.Dir, f)] = b
		}
	}
	return s, nil
}

func (s *snap) restore() {
	for path, b := range s.files {
		if cur, err := os.ReadFile(path); err != nil || !bytes.Equal(cur, b) {
			_ = os.WriteFile(path, b, 0o644)
		}
	}
}

// keepPyproject undoes a tool's edit of pyproject.toml: an update changes the lock only.
func (s *snap) keepPyproject() {
	for path, b := range s.files {
		if path == s.lock {
			continue
		}
		if cur, err := os.ReadFile(path); err == nil && !bytes.Equal(cur, b) {
			_ = os.WriteFile(path, b, 0o644)
		}
	}
}

var reqPinRe = lazyre.New(`^(\s*)([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?(\s*==\s*)([A-Za-z0-9.!+_-]+)(.*)$`)

// updateRequirements moves each `name==version` line of a requirements file no tool wrote
// to the newest release the configuration allows (pip install --upgrade semantics: no
// resolver, transitive dependencies are the file's own business).
func updateRequirements(ctx context.Context, p Project, old map[string]Locked, o Options, res *Result) error {
	path := filepath.Join(p.Dir, p.Lock)
	data, err := readLimited(path)
	if err != nil {
		return err
	}
	if o.Index == nil {
		return fmt.Errorf("updating %s needs a package index", p.Lock)
	}
	var names []string
	for n := range old {
		if o.Only == nil {
			names = append(names, n)
		} else if _, ok := o.Only[n]; ok {
			names = append(names, n)
		}
	}
	var changes []Change
	for _, n := range names {
		changes = append(changes, Change{Name: n, Old: old[n].Version, New: old[n].Version, Dev: old[n].Dev})
	}
	infos := lookup(ctx, o, changes)
	target := map[string]Change{}
	for _, c := range changes {
		info := infos[c.Name]
		if info == nil || len(info.Releases) == 0 {
			continue
		}
		newest := ""
		for i := len(info.Releases) - 1; i >= 0; i-- {
			r := info.Releases[i]
			if !r.Yanked && sameOrNewerPre(r.Version, c.Old) {
				newest = r.Version
				break
			}
		}
		if newest == "" || !newer(newest, c.Old) {
			continue
		}
		grp, cool := o.Config.GroupOf(c.Name, c.Dev, updateType(c.Old, newest))
		c2 := Change{Name: c.Name, Old: c.Old, New: newest, Dev: c.Dev, Type: updateType(c.Old, newest), Group: grp}
		keep := allowedVersion(o, info, c2, cool)
		if keep != newest && o.Group != "" && grp != o.Group && !o.Config.Ignored(c.Name, newest) {
			// Another group's update; this group may still take an older release.
			if keep == "" || !newer(keep, c.Old) {
				continue
			}
			newest = keep
			c2.New, c2.Type = keep, updateType(c.Old, keep)
			c2.Group, _ = o.Config.GroupOf(c.Name, c.Dev, c2.Type)
		}
		if keep != newest {
			reason := "held by " + ConfigPath
			switch {
			case o.Config.Ignored(c.Name, newest):
				reason = "ignored by " + ConfigPath
			case cool > 0:
				reason = fmt.Sprintf("cooldown %d days", cool)
			}
			res.Held = append(res.Held, Held{Name: c.Name, Version: newest, Kept: firstNonEmpty(keep, c.Old), Reason: reason})
			if keep == "" || !newer(keep, c.Old) {
				continue
			}
			newest = keep
			c2.New, c2.Type = keep, updateType(c.Old, keep)
			c2.Group, _ = o.Config.GroupOf(c.Name, c.Dev, c2.Type)
		}
		if r, ok := info.Release(newest); ok && !r.Uploaded.IsZero() {
			c2.Uploaded = r.Uploaded
			c2.AgeDays = int(o.Now.Sub(r.Uploaded).Hours() / 24)
		}
		target[c.Name] = c2
	}
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		m := reqPinRe.FindStringSubmatch(body)
		if m == nil {
			continue
		}
		c, ok := target[python.NormalizeName(m[2])]
		if !ok || !ValidVersion(c.New) {
			continue
		}
		lines[i] = m[1] + m[2] + m[3] + m[4] + c.New + m[6] + l[len(body):]
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		return err
	}
	for _, n := range sortedKeys(target) {
		res.Changes = append(res.Changes, target[n])
	}
	sort.Slice(res.Held, func(i, j int) bool { return res.Held[i].Name < res.Held[j].Name })
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// capRequirement narrows every PEP 508 string in a pyproject.toml that declares name (in
// quotes: dependencies, optional-dependencies, dependency-groups) with one more clause.
func capRequirement(data []byte, name, clause string) ([]byte, bool) {
	words := strings.Split(python.NormalizeName(name), "-")
	for i := range words {
		words[i] = regexp.QuoteMeta(words[i])
	}
	re := regexp.MustCompile(`(?i)(["'])(` + strings.Join(words, `[-_.]+`) + `)(\s*\[[^\]"']*\])?([^"';]*?)(\s*(?:;[^"']*)?)(["'])`)
	found := false
	out := re.ReplaceAllFunc(data, func(m []byte) []byte {
		sm := re.FindSubmatch(m)
		if sm[1][0] != sm[6][0] {
			return m
		}
		found = true
		spec := strings.TrimSpace(string(sm[4]))
		if spec != "" {
			spec += ","
		}
		return []byte(string(sm[1]) + string(sm[2]) + string(sm[3]) + spec + clause + string(sm[5]) + string(sm[6]))
	})
	return out, found
}

var contentHashRe = lazyre.New(`(?m)^content-hash = "[^"]*"$`)

// restoreContentHash puts the lock's content-hash back to what it was before a run on a
// transiently narrowed pyproject.toml: the restored pyproject.toml hashes to it again.
func restoreContentHash(lockPath string, orig []byte) {
	old := contentHashRe.Find(orig)
	cur, err := os.ReadFile(lockPath)
	if old == nil || err != nil {
		return
	}
	_ = os.WriteFile(lockPath, contentHashRe.ReplaceAllLiteral(cur, old), 0o644)
}

// changelogs fills each change's changelog link, in parallel.
func changelogs(ctx context.Context, o Options, res *Result) {
	infos := lookup(ctx, o, res.Changes)
	var wg sync.WaitGroup
	for i := range res.Changes {
		c := &res.Changes[i]
		if info := infos[c.Name]; info != nil && c.New != "" && o.Index != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Changelog = o.Index.Changelog(ctx, info, c.New) }()
		}
	}
	wg.Wait()
}

// Oldest finds the locked package whose locked release is the oldest on the index: the age
// of the stalest dependency. Packages the index cannot date are skipped.
func Oldest(ctx context.Context, ix *Index, locked map[string]Locked) (Locked, time.Time) {
	var changes []Change
	for n, l := range locked {
		changes = append(changes, Change{Name: n, New: l.Version})
	}
	infos := lookup(ctx, Options{Index: ix}, changes)
	var best Locked
	var at time.Time
	for _, n := range sortedKeys(locked) {
		info := infos[n]
		if info == nil {
			continue
		}
		if r, ok := info.Release(locked[n].Version); ok && !r.Uploaded.IsZero() && (at.IsZero() || r.Uploaded.Before(at)) {
			best, at = locked[n], r.Uploaded
		}
	}
	return best, at
}
