package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// source is a work tree whose commits are pushed to a bare repository, the
// URL the server is given: a forge on the local disk.
type source struct {
	dir, bare string
	n         int // commits made so far
}

func newSource(ctx context.Context, root string) (*source, error) {
	s := &source{dir: filepath.Join(root, "src"), bare: filepath.Join(root, "origin.git")}
	if _, err := git(ctx, root, "init", "-q", "--bare", s.bare); err != nil {
		return nil, err
	}
	if _, err := git(ctx, root, "init", "-q", "-b", "main", s.dir); err != nil {
		return nil, err
	}
	return s, nil
}

// commit writes files (path → content) plus a counter file, so each commit
// is distinct, commits, pushes, and returns the previous and new SHAs.
func (s *source) commit(ctx context.Context, files map[string]string) (before, after string, err error) {
	before = strings.Repeat("0", 40)
	if s.n > 0 {
		if before, err = git(ctx, s.dir, "rev-parse", "HEAD"); err != nil {
			return "", "", err
		}
	}
	s.n++
	files["counter.txt"] = fmt.Sprintln(s.n)
	for p, content := range files {
		full := filepath.Join(s.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", "", fmt.Errorf("creating %s: %w", filepath.Dir(full), err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", "", fmt.Errorf("writing %s: %w", full, err)
		}
	}
	if _, err := git(ctx, s.dir, "add", "-A"); err != nil {
		return "", "", err
	}
	if _, err := git(ctx, s.dir, "-c", "user.name=bench", "-c", "user.email=bench@example.com",
		"commit", "-q", "-m", fmt.Sprintf("bench commit %d", s.n)); err != nil {
		return "", "", err
	}
	if _, err := git(ctx, s.dir, "push", "-q", s.bare, "main"); err != nil {
		return "", "", err
	}
	after, err = git(ctx, s.dir, "rev-parse", "HEAD")
	return before, after, err
}

// pushPayload is the part of GitHub's push event the server reads.
func pushPayload(before, after string, n int, changed []string) ([]byte, error) {
	commit := map[string]any{
		"id": after, "message": fmt.Sprintf("bench commit %d", n), "timestamp": time.Now().Format(time.RFC3339),
		"added": []string{}, "removed": []string{}, "modified": changed,
	}
	p := map[string]any{
		"ref": "refs/heads/main", "before": before, "after": after,
		"head_commit": commit, "commits": []any{commit},
		"repository": map[string]any{"full_name": "bench/bench", "default_branch": "main"},
		"pusher":     map[string]any{"name": "bench"},
		"sender":     map[string]any{"login": "bench"},
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding the push payload: %w", err)
	}
	return b, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}
