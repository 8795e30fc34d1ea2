package jobrunner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sluice-ci/sluice/internal/roots"
)

// mirrors keeps a bare copy of each repository an agent builds, so a job
// fetches only the commits it lacks (usually none: the legs of a matrix
// share one) instead of cloning from the server every time.
type mirrors struct {
	dir string
	mu  sync.Mutex
	// per-URL locks: fetches into one mirror take turns.
	locks map[string]*sync.Mutex
}

func (m *mirrors) lock(url string) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks == nil {
		m.locks = map[string]*sync.Mutex{}
	}
	l, ok := m.locks[url]
	if !ok {
		l = &sync.Mutex{}
		m.locks[url] = l
	}
	return l
}

// ensure returns the mirror of url holding sha, fetching it when missing.
func (m *mirrors) ensure(ctx context.Context, url, sha string, gitConfig []string) (string, error) {
	sum := sha256.Sum256([]byte(url))
	path := filepath.Join(m.dir, hex.EncodeToString(sum[:8])+".git")
	l := m.lock(url)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(filepath.Join(path, "HEAD")); err != nil {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return "", err
		}
		if _, err := git(ctx, path, nil, "init", "-q", "--bare"); err != nil {
			return "", err
		}
	}
	if _, err := git(ctx, path, nil, "cat-file", "-e", "--end-of-options", sha+"^{commit}"); err == nil {
		return path, nil
	}
	// The ref keeps the commit from garbage collection while jobs use it.
	// --upload-pack lets a local source serve a commit no ref names (a pull
	// request head); HTTP sources are told the same by the server.
	if _, err := git(ctx, path, gitConfig, "fetch", "-q", "--no-tags", "--no-write-fetch-head",
		"--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack", "--end-of-options", url, "+"+sha+":refs/sluice/"+sha); err != nil {
		return "", fmt.Errorf("fetching %s from %s: %w", sha, url, err)
	}
	return path, nil
}

// tree returns a directory holding the commit's .github files, exported
// once per commit and shared, read-only, by every job of it (the legs of a
// matrix): the engine reads reusable workflows from there.
func (m *mirrors) tree(ctx context.Context, mirror, sha string) (string, error) {
	dir := filepath.Join(m.dir, "trees", sha)
	l := m.lock("tree:" + sha)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := exportWorkflows(ctx, mirror, sha, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("keeping the workflows of %s: %w", sha, err)
	}
	return dir, nil
}

// exportWorkflows writes the commit's .github directory (workflows and
// local actions the engine reads before any checkout) into dir.
func exportWorkflows(ctx context.Context, mirror, sha, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", `git --git-dir="$1" archive --format=tar --end-of-options "$2" .github 2>/dev/null | tar -x -C "$3"`, "sh", mirror, sha, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("exporting .github at %s: %v: %s", sha, err, strings.TrimSpace(stderr.String()))
	}
	// The agent reads these files itself (reusable workflows, local
	// actions' metadata): a link out of the tree must not lead it elsewhere.
	return roots.DropEscapingLinks(dir)
}

func git(ctx context.Context, dir string, config []string, args ...string) (string, error) {
	var full []string
	for _, c := range config {
		full = append(full, "-c", c)
	}
	cmd := exec.CommandContext(ctx, "git", append(full, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
