package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/python"
)

// Options choose what PlanBump does beyond the commits' own verdict.
type Options struct {
	Increment        Increment // forced increment; None lets the commits decide
	Prerelease       string    // alpha, beta, rc (or a, b, rc)
	Devrelease       int       // ≥ 0 appends .devN; -1 for none
	MajorVersionZero bool      // also settable in the config
	Now              time.Time // the changelog's date; zero means now
}

// Plan is what a bump will do.
type Plan struct {
	Current    string   `json:"current"`
	LastTag    string   `json:"last_tag,omitempty"`
	Next       string   `json:"next"`
	Tag        string   `json:"tag"`
	Increment  string   `json:"increment"`
	Changes    []Change `json:"changes"`
	Skipped    []string `json:"skipped,omitempty"` // subjects that are not conventional commits
	Edits      []Edit   `json:"files"`
	Changelog  string   `json:"changelog,omitempty"`
	Section    string   `json:"changelog_section,omitempty"`
	CommitMsg  string   `json:"commit_message"`
	changelogB []byte
}

// ErrNothingToRelease is wrapped by the errors that mean "no release is due".
var ErrNothingToRelease = errors.New("nothing to release")

// PlanBump reads the repository at root and decides the next version. It writes nothing.
func PlanBump(ctx context.Context, repo *gitrepo.Repo, o Options) (*Plan, error) {
	cfg, err := LoadConfig(repo.Root)
	if err != nil {
		return nil, err
	}
	if o.MajorVersionZero {
		cfg.MajorVersionZero = true
	}
	pre, err := NormalizePre(o.Prerelease)
	if err != nil {
		return nil, err
	}
	if dirty, err := repo.Dirty(ctx); err != nil {
		return nil, err
	} else if len(dirty) > 0 {
		shown := dirty
		if len(shown) > 5 {
			shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(dirty)-5))
		}
		return nil, fmt.Errorf("the working tree has uncommitted changes (%s): commit or stash them first, since the release commit must hold only the version change", strings.Join(shown, ", "))
	}
	proj, err := readProject(repo.Root)
	if err != nil {
		return nil, err
	}
	lastTag, lastV, finalTag, finalV, err := lastTags(ctx, repo, cfg)
	if err != nil {
		return nil, err
	}
	var current python.Version
	switch {
	case lastTag != "":
		current = lastV
	case proj.Version != "":
		current, err = python.ParseVersion(proj.Version)
		if err != nil {
			return nil, fmt.Errorf("pyproject.toml %s version %q is not a PEP 440 version: %w", proj.Where, proj.Version, err)
		}
		finalV = current
	default:
		return nil, fmt.Errorf("no version tag (%s) and no version in pyproject.toml: tag the current version first, e.g. `git tag %s`", cfg.Tag("X.Y.Z"), cfg.Tag("0.1.0"))
	}
	if lastTag == "" || !current.IsPrerelease() {
		finalTag, finalV = lastTag, current
	}

	rangeOf := func(tag string) string {
		if tag == "" {
			return "HEAD"
		}
		return tag + "..HEAD"
	}
	commits, err := repo.Log(ctx, rangeOf(lastTag), 0)
	if err != nil {
		return nil, err
	}
	if len(commits) == 0 {
		return nil, fmt.Errorf("no commits since %s: %w", lastTag, ErrNothingToRelease)
	}
	// The increment counts everything since the last final release, so a pre-release series
	// grows to a larger base when a bigger change lands in it.
	incCommits := commits
	if finalTag != lastTag {
		if incCommits, err = repo.Log(ctx, rangeOf(finalTag), 0); err != nil {
			return nil, err
		}
	}
	plan := &Plan{Current: current.String(), LastTag: lastTag}
	conventional := 0
	considered := 0
	for _, c := range commits {
		if isMerge(c.Subject) {
			continue
		}
		considered++
		ch := ParseCommit(c)
		if !ch.Conventional() {
			plan.Skipped = append(plan.Skipped, fmt.Sprintf("%.7s %s", c.SHA, c.Subject))
			continue
		}
		conventional++
		plan.Changes = append(plan.Changes, ch)
	}
	inc := None
	for _, c := range incCommits {
		if isMerge(c.Subject) {
			continue
		}
		if i := ParseCommit(c).Increment(); i > inc {
			inc = i
		}
	}
	since := "since " + lastTag
	if lastTag == "" {
		since = "in the history"
	}
	if o.Increment != None {
		inc = o.Increment
	} else if conventional == 0 && considered > 0 {
		return nil, fmt.Errorf("none of the %d commits %s is a conventional commit (e.g. %q): write subjects as `fix: …`, `feat: …` or `feat!: …` (breaking), or choose the increment with --increment patch|minor|major", considered, since, plan.Skipped[0])
	} else if inc == None && !(current.IsPrerelease() && pre != "") {
		var types []string
		for _, c := range plan.Changes {
			types = appendUnique(types, c.Type)
		}
		return nil, fmt.Errorf("the %d commits %s call for no release (only %s; feat, fix, perf, refactor or a breaking change do): choose one with --increment if you want a release anyway: %w", considered, since, strings.Join(types, ", "), ErrNothingToRelease)
	}
	plan.Increment = inc.String()
	next, err := Next(current, finalV, inc, Rules{MajorVersionZero: cfg.MajorVersionZero, Prerelease: pre, Devrelease: o.Devrelease})
	if err != nil {
		return nil, fmt.Errorf("computing the next version of %s: %w", current, err)
	}
	plan.Next = next.String()
	plan.Tag = cfg.Tag(plan.Next)
	if repo.HasRef(ctx, "refs/tags/"+plan.Tag) {
		return nil, fmt.Errorf("tag %s already exists: the history and the tags disagree; delete the stray tag or pass --increment", plan.Tag)
	}
	replaceFrom := current.String()
	if proj.Version != "" {
		replaceFrom = proj.Version
	}
	plan.Edits, err = planEdits(repo.Root, cfg, proj, replaceFrom, plan.Next)
	if err != nil {
		return nil, err
	}
	if cl := cfg.ChangelogFile(); cl != "" {
		now := o.Now
		if now.IsZero() {
			now = time.Now()
		}
		commitURL := cfg.CommitURL
		if commitURL == "" {
			commitURL = commitURLFromOrigin(ctx, repo)
		}
		plan.Changelog = cl
		plan.Section = Section(plan.Next, now, plan.Changes, commitURL)
		existing, err := readBounded(filepath.Join(repo.Root, filepath.FromSlash(cl)))
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("reading %s: %w", cl, err)
		}
		plan.changelogB = []byte(Prepend(string(existing), plan.Section))
	}
	plan.CommitMsg = fmt.Sprintf("bump: version %s → %s\n\nSluice-Bump: %s -> %s\n", plan.Current, plan.Next, plan.Current, plan.Next)
	return plan, nil
}

func appendUnique(xs []string, s string) []string {
	for _, x := range xs {
		if x == s {
			return xs
		}
	}
	return append(xs, s)
}

// lastTags finds the newest version tag reachable from HEAD and the newest final one.
func lastTags(ctx context.Context, repo *gitrepo.Repo, cfg Config) (tag string, v python.Version, finalTag string, finalV python.Version, err error) {
	tags, err := repo.TagsMerged(ctx, "HEAD")
	if err != nil {
		return "", v, "", finalV, err
	}
	for _, t := range tags {
		s, ok := cfg.VersionOfTag(t)
		if !ok {
			continue
		}
		pv, perr := python.ParseVersion(s)
		if perr != nil {
			continue
		}
		if tag == "" || pv.Compare(v) > 0 {
			tag, v = t, pv
		}
		if !pv.IsPrerelease() && (finalTag == "" || pv.Compare(finalV) > 0) {
			finalTag, finalV = t, pv
		}
	}
	if finalTag == "" && tag != "" {
		// Only pre-releases so far: the series' base is what they grow from.
		// A base below the series, so that any increment stays inside it.
		finalV = python.NewVersion(v.Epoch(), []int{0}, "", 0, -1, -1)
	}
	return tag, v, finalTag, finalV, nil
}

var scpURLRe = lazyre.New(`^[\w.-]+@([\w.-]+):(.+)$`)

// commitURLFromOrigin guesses the web address of a commit from the origin remote: GitHub and
// Gitea/Forgejo use /commit/SHA, GitLab /-/commit/SHA. Paths and unknown schemes give "".
func commitURLFromOrigin(ctx context.Context, repo *gitrepo.Repo) string {
	out, err := repo.Git(ctx, "config", "--get", "remote.origin.url")
	if err != nil {
		return ""
	}
	u := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(out), "/"), ".git")
	if m := scpURLRe.FindStringSubmatch(u); m != nil {
		u = "https://" + m[1] + "/" + m[2]
	}
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return ""
	}
	// Credentials in a remote URL never reach a changelog.
	if at := strings.Index(u, "@"); at >= 0 && at < strings.Index(u[8:]+"/", "/")+8 {
		scheme, rest, _ := strings.Cut(u, "://")
		u = scheme + "://" + rest[strings.Index(rest, "@")+1:]
	}
	if strings.Contains(u, "gitlab") {
		return u + "/-/commit/{sha}"
	}
	return u + "/commit/{sha}"
}

// Apply writes the plan's files, commits them with the Sluice-Bump trailer and tags the commit.
func (p *Plan) Apply(ctx context.Context, repo *gitrepo.Repo) error {
	var paths []string
	for _, e := range p.Edits {
		path := filepath.Join(repo.Root, filepath.FromSlash(e.Path))
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, e.new, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("writing %s: %w", e.Path, err)
		}
		paths = append(paths, e.Path)
	}
	if p.Changelog != "" {
		path := filepath.Join(repo.Root, filepath.FromSlash(p.Changelog))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, p.changelogB, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p.Changelog, err)
		}
		paths = append(paths, p.Changelog)
	}
	if len(paths) == 0 {
		return fmt.Errorf("nothing keeps the version: add [project] version to pyproject.toml or name files in %s (version-files)", ConfigPath)
	}
	if _, err := repo.Git(ctx, append([]string{"add", "--"}, paths...)...); err != nil {
		return err
	}
	if _, err := repo.Git(ctx, "commit", "-q", "-m", p.CommitMsg); err != nil {
		return fmt.Errorf("committing the release: %w", err)
	}
	if _, err := repo.Git(ctx, "tag", "-a", p.Tag, "-m", p.Tag); err != nil {
		return fmt.Errorf("tagging the release: %w", err)
	}
	return nil
}
