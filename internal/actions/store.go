package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/workflow"
)

// DefaultBaseURL is where actions and reusable workflows come from unless a mirror or another
// base URL says otherwise, as on GitHub's own runners.
const DefaultBaseURL = "https://github.com"

// Resolver finds remote actions and reusable workflows the way GitHub's runner does: it
// fetches OWNER/REPO at any ref (tag, branch, commit) from GitHub, or from a mirror, and keeps
// each commit's files in the cache, so a commit is fetched once and runs offline afterwards. A
// local action store (directories of checkouts) comes first, for machines with no network.
type Resolver struct {
	// Store is a directory holding OWNER/REPO@REF or OWNER/REPO (a plain copy, or a git
	// repository from which REF is exported).
	Store string
	// Mirror is a git URL template with {owner} and {repo}, e.g.
	// https://git.example.com/mirrors/{owner}/{repo}.git; it replaces BaseURL.
	Mirror string
	// BaseURL is the git server standing for GitHub: OWNER/REPO is fetched from
	// BaseURL/OWNER/REPO. Empty means https://github.com.
	BaseURL string
	// CacheDir holds fetched commits (OWNER/REPO/commits/SHA) and the commit each ref last
	// resolved to (OWNER/REPO/refs/REF), for offline runs.
	CacheDir string
	// Note, when set, receives what a user should know about a resolution (a ref reused from
	// the cache because the source was unreachable).
	Note func(string)

	// session remembers refs resolved since Session was called, so the jobs of one run agree
	// on a moving tag and ask the remote once.
	session *sync.Map
}

// Session returns a copy of rs that resolves each ref against its source at most once: one per
// run (sluice run) or per job (an agent).
func (rs Resolver) Session() Resolver {
	rs.session = &sync.Map{}
	return rs
}

// source is where OWNER/REPO is fetched from: the mirror, else the base URL.
func (rs Resolver) source(r Ref) string {
	if rs.Mirror != "" {
		return strings.NewReplacer("{owner}", r.Owner, "{repo}", r.Repo).Replace(rs.Mirror)
	}
	base := strings.TrimRight(rs.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	return base + "/" + r.Owner + "/" + r.Repo
}

func (rs Resolver) storeDirs(r Ref) (exact, repo string) {
	if rs.Store == "" {
		return "", ""
	}
	return filepath.Join(rs.Store, r.Owner, r.Repo+"@"+r.Ref), filepath.Join(rs.Store, r.Owner, r.Repo)
}

// repoCache is the cache directory of one repository; GitHub names are case-insensitive.
func (rs Resolver) repoCache(r Ref) string {
	return filepath.Join(rs.CacheDir, strings.ToLower(r.Owner), strings.ToLower(r.Repo))
}

func (rs Resolver) commitDir(r Ref, sha string) string {
	return filepath.Join(rs.repoCache(r), "commits", sha)
}

func (rs Resolver) refFile(r Ref) string {
	return filepath.Join(rs.repoCache(r), "refs", strings.ReplaceAll(r.Ref, "/", "%2F"))
}

// Resolve returns the directory of the action (with r.Path applied).
func (rs Resolver) Resolve(ctx context.Context, r Ref) (string, error) {
	root, _, err := rs.ResolveRepo(ctx, r)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, filepath.FromSlash(r.Path))
	// An action's repository is anyone's: a symbolic link in it must not lead the agent to a
	// directory, or an action.yml, of the machine (TestResolveStaysInsideTheRepository).
	rt, err := os.OpenRoot(root)
	if err != nil {
		return "", fmt.Errorf("uses %q: %w", r.Raw, err)
	}
	defer rt.Close()
	sub := filepath.FromSlash(path.Clean(r.Path))
	for _, rel := range []string{sub, filepath.Join(sub, "action.yml"), filepath.Join(sub, "action.yaml")} {
		if _, err := rt.Stat(rel); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("uses %q: %s leads outside the action's repository (a symbolic link?): %w", r.Raw, filepath.ToSlash(rel), err)
		}
	}
	return dir, nil
}

// ResolveRepo returns the directory holding r's repository at r's ref and the commit it is
// (empty for a plain copy in the action store, which has none).
func (rs Resolver) ResolveRepo(ctx context.Context, r Ref) (dir, commit string, err error) {
	if r.Kind != Remote && r.Kind != Workflow {
		return "", "", fmt.Errorf("%s is not a remote action", r.Raw)
	}
	if !validName(r.Owner) || !validName(r.Repo) {
		return "", "", fmt.Errorf("uses %q: %q/%q is not a repository name", r.Raw, r.Owner, r.Repo)
	}
	if !validRef(r.Ref) {
		return "", "", fmt.Errorf("uses %q: %q is not a tag, branch or commit name", r.Raw, r.Ref)
	}
	exact, repo := rs.storeDirs(r)
	if exact != "" && isDir(exact) {
		return exact, "", nil
	}
	source := rs.source(r)
	looked := []string{}
	if repo != "" && isDir(repo) {
		if !exists(filepath.Join(repo, ".git")) {
			return repo, "", nil // a plain copy serves every ref
		}
		source = repo
	} else if rs.Store != "" {
		looked = append(looked, "the action store "+rs.Store)
	}
	dir, commit, err = rs.fetch(ctx, r, source)
	if err != nil {
		return "", "", rs.unresolvable(r, source, looked, err)
	}
	return dir, commit, nil
}

// fetch resolves r's ref to a commit at source and returns the commit's cached files.
func (rs Resolver) fetch(ctx context.Context, r Ref, source string) (string, string, error) {
	if rs.CacheDir == "" {
		return "", "", errors.New("no cache directory to fetch actions into")
	}
	sha, want := strings.ToLower(r.Ref), ""
	if !gitrepo.IsSHA(sha) {
		var err error
		if sha, want, err = rs.resolveRef(ctx, r, source); err != nil {
			return "", "", err
		}
	}
	dir := rs.commitDir(r, sha)
	if isDir(dir) {
		return dir, sha, nil
	}
	if want == "" {
		want = sha // a commit by itself; ExportCommit looks through the branches and tags if needed
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", "", fmt.Errorf("creating the action cache: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".fetch-")
	if err != nil {
		return "", "", fmt.Errorf("creating the action cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	got, err := gitrepo.ExportCommit(ctx, source, want, filepath.Join(tmp, "tree"))
	if err != nil {
		return "", "", err
	}
	// A tag moved since it was listed gives its new commit, as a later run would.
	dir = rs.commitDir(r, got)
	// Another job may have cached the same commit meanwhile; either copy is the same files.
	if err := os.Rename(filepath.Join(tmp, "tree"), dir); err != nil && !isDir(dir) {
		return "", "", fmt.Errorf("caching %s: %w", r.Raw, err)
	}
	return dir, got, nil
}

// resolveRef asks source which commit a tag or branch names, once per session, and remembers
// the answer for runs that cannot reach source. It returns the commit and, when source was
// asked, the full ref name to fetch it by (servers hand out what a ref names most readily).
func (rs Resolver) resolveRef(ctx context.Context, r Ref, source string) (sha, fullRef string, err error) {
	key := source + "@" + r.Ref
	if rs.session != nil {
		if sha, ok := rs.session.Load(key); ok {
			return sha.(string), "", nil
		}
	}
	file := rs.refFile(r)
	sha, fullRef, err = gitrepo.ResolveRemote(ctx, source, r.Ref)
	switch {
	case err == nil:
		if werr := writeAtomic(file, sha+"\n"); werr != nil {
			return "", "", fmt.Errorf("remembering %s: %w", r.Raw, werr)
		}
	case errors.Is(err, gitrepo.ErrNotFound):
		return "", "", err
	default:
		// Unreachable: a ref resolved before still runs, as GitHub would have run it then.
		b, rerr := os.ReadFile(file)
		remembered := strings.TrimSpace(string(b))
		if rerr != nil || !gitrepo.IsSHA(remembered) || !isDir(rs.commitDir(r, remembered)) {
			return "", "", err
		}
		sha = remembered
		if rs.Note != nil {
			rs.Note(fmt.Sprintf("%s: %v; using commit %s, which %s named when last resolved", r.Raw, err, sha[:12], r.Ref))
		}
	}
	if rs.session != nil {
		rs.session.Store(key, sha)
	}
	return sha, fullRef, nil
}

// unresolvable says which action, which ref, where sluice looked and what to do.
func (rs Resolver) unresolvable(r Ref, source string, looked []string, err error) error {
	what := "action"
	if r.Kind == Workflow {
		what = "reusable workflow"
	}
	looked = append(looked, source)
	if rs.CacheDir != "" {
		looked = append(looked, "the cache "+rs.CacheDir)
	}
	var why string
	switch {
	case errors.Is(err, gitrepo.ErrNotFound) && gitrepo.IsSHA(strings.ToLower(r.Ref)):
		why = fmt.Sprintf("commit %s is not in %s/%s", r.Ref, r.Owner, r.Repo)
	case errors.Is(err, gitrepo.ErrNotFound):
		why = fmt.Sprintf("%s/%s has no tag, branch or commit %q (or the repository does not exist)", r.Owner, r.Repo, r.Ref)
	default:
		why = fmt.Sprintf("fetching %s/%s failed (%v)", r.Owner, r.Repo, err)
	}
	msg := fmt.Sprintf("%s %q is not built into sluice and cannot be fetched: %s; looked in %s", what, r.Raw, why, strings.Join(looked, ", "))
	if s := Suggest(r); s != "" {
		msg += fmt.Sprintf("; did you mean %s@%s?", s, r.Ref)
	}
	if !errors.Is(err, gitrepo.ErrNotFound) {
		msg += fmt.Sprintf(". Without access to %s, pass --action-store DIR holding %s/%s@%s (or a git checkout at %s/%s), set --action-mirror 'https://host/{owner}/{repo}.git', or vendor it and use it as a local action (uses: ./path)",
			hostOf(source), r.Owner, r.Repo, r.Ref, r.Owner, r.Repo)
	}
	return errors.New(msg)
}

// CheckUses says whether a step's or job's `uses:` can run here: built in, local, a container
// image, or a remote action or reusable workflow that resolves (fetching it into the cache, so
// the run that follows finds it there).
func (rs Resolver) CheckUses(ctx context.Context, uses string, call bool) error {
	parse := Parse
	if call {
		parse = ParseCall
	}
	r, err := parse(uses)
	if err != nil {
		return err
	}
	switch r.Kind {
	case Builtin, Local, Docker:
		return nil
	case Workflow:
		_, err := rs.WorkflowFile(ctx, r)
		return err
	}
	_, _, err = rs.ResolveRepo(ctx, r)
	return err
}

// Fetched is a reusable workflow read from another repository.
type Fetched struct {
	Display string // owner/repo/path@ref, as a user wrote it
	Source  []byte
	Commit  string // the commit it was read at ("" from a plain copy in the action store)
	Root    string // the repository's files at that commit
}

// WorkflowFile reads a reusable workflow from another repository (`uses:
// owner/repo/.github/workflows/x.yml@ref`) through the same resolution and cache as actions.
// Like GitHub, only files directly in .github/workflows are callable.
func (rs Resolver) WorkflowFile(ctx context.Context, r Ref) (*Fetched, error) {
	p := path.Clean(r.Path)
	if path.Dir(p) != ".github/workflows" || !(strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
		return nil, fmt.Errorf("reusable workflow %q: a called workflow must be a .yml or .yaml file directly in .github/workflows", r.Raw)
	}
	root, commit, err := rs.ResolveRepo(ctx, Ref{Raw: r.Raw, Kind: Workflow, Owner: r.Owner, Repo: r.Repo, Ref: r.Ref})
	if err != nil {
		return nil, err
	}
	src, err := readInside(root, p)
	if err != nil {
		return nil, fmt.Errorf("reusable workflow %q: %w", r.Raw, err)
	}
	return &Fetched{Display: r.Raw, Source: src, Commit: commit, Root: root}, nil
}

// WorkflowSource is WorkflowFile for a job's `uses:` as written ("owner/repo/.github/workflows/
// x.yml@ref"), in plain types, so a planner can take it as a one-method interface without
// importing this package: it returns how to name the file and its bytes.
func (rs Resolver) WorkflowSource(ctx context.Context, uses string) (display string, src []byte, err error) {
	r, err := ParseCall(uses)
	if err != nil {
		return "", nil, err
	}
	if r.Kind != Workflow {
		return "", nil, fmt.Errorf("%q is in this repository, not fetched", uses)
	}
	f, err := rs.WorkflowFile(ctx, r)
	if err != nil {
		return "", nil, err
	}
	return f.Display, f.Source, nil
}

// maxWorkflowFile bounds what is read of a called workflow (see workflow.MaxFileSize).
const maxWorkflowFile = 1 << 20

// readInside reads rel under root without following a symlink out of it.
func readInside(root, rel string) ([]byte, error) {
	rt, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	f, err := rt.Open(rel)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist at that ref", rel)
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxWorkflowFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxWorkflowFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, maxWorkflowFile)
	}
	return b, nil
}

// validName accepts GitHub owner and repository names, so a `uses:` cannot point a URL or a
// cache path anywhere else.
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validRef accepts what git accepts as a ref name (a subset of git check-ref-format), so a
// ref can neither become an option of git nor leave the cache directory.
func validRef(s string) bool {
	if s == "" || len(s) > 255 || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") || strings.Contains(s, "..") || strings.Contains(s, "//") ||
		strings.Contains(s, "@{") || s == "@" {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	for _, part := range strings.Split(s, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

func hostOf(url string) string {
	rest := url
	if _, after, ok := strings.Cut(url, "://"); ok {
		rest = after
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

func writeAtomic(file, content string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".ref-")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), file)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

// LoadWorkflow loads another repository's reusable workflow for the planner (plan.Loader:
// key is "owner/repo/.github/workflows/x.yml@ref", a job's `uses:` or a ./ call inside a
// fetched workflow made absolute), fetched and cached like an action.
func (rs Resolver) LoadWorkflow(ctx context.Context, key string) (*workflow.Workflow, error) {
	r, err := ParseCall(key)
	if err != nil {
		return nil, err
	}
	if r.Kind != Workflow {
		return nil, fmt.Errorf("%q is in this repository, not fetched", key)
	}
	f, err := rs.WorkflowFile(ctx, r)
	if err != nil {
		return nil, err
	}
	wf, err := workflow.LoadSource(ctx, f.Root, filepath.Join(f.Root, filepath.FromSlash(path.Clean(r.Path))), f.Display, f.Source)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	return wf, nil
}
