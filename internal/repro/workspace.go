package repro

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// source is the repository and commit to rebuild, resolved once before any workspace.
type source struct {
	gitDir string // the repository's (common) git directory: a clone of it sees every branch
	commit string // full object name
	epoch  int64  // committer time of commit
}

func resolveSource(ctx context.Context, dir, commit string) (source, error) {
	if dir == "" {
		dir = "."
	}
	if commit == "" {
		return source{}, fmt.Errorf("no commit to rebuild")
	}
	gitDir, err := git(ctx, dir, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return source{}, fmt.Errorf("source %s is not a git repository: %w", dir, err)
	}
	full, err := git(ctx, dir, "rev-parse", "--verify", "--quiet", "--end-of-options", commit+"^{commit}")
	if err != nil {
		return source{}, fmt.Errorf("commit %s is not in %s (fetch it first): %w", commit, dir, err)
	}
	ct, err := git(ctx, dir, "show", "-s", "--format=%ct", full)
	if err != nil {
		return source{}, fmt.Errorf("reading the committer time of %s: %w", full, err)
	}
	epoch, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return source{}, fmt.Errorf("committer time of %s is %q: %w", full, ct, err)
	}
	return source{gitDir: gitDir, commit: full, epoch: epoch}, nil
}

// git runs git in dir and returns its trimmed standard output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// workspace is one rebuild: a checkout at dir made and built under umask and tz.
type workspace struct {
	dir, out  string
	umask, tz string
	epoch     int64
	log       func(string)
}

// cloneScript clones $1 into $2 and checks out $3 there. A local clone copies branches and
// tags only, so a commit reachable from neither (a pull request's) is fetched by name.
const cloneScript = `git clone --quiet --no-hardlinks --no-checkout -- "$1" "$2" &&
cd "$2" &&
{ git cat-file -e "$3^{commit}" 2>/dev/null || git fetch --quiet origin "$3"; } &&
git -c advice.detachedHead=false checkout --quiet --detach "$3"`

// rebuild checks the commit out, runs buildCmd and returns the digest of every file it wrote
// to the output directory, by name.
func (w workspace) rebuild(ctx context.Context, src source, buildCmd string) (map[string]string, error) {
	if err := os.MkdirAll(filepath.Dir(w.dir), 0o755); err != nil {
		return nil, fmt.Errorf("making %s: %w", filepath.Dir(w.dir), err)
	}
	if err := os.MkdirAll(w.out, 0o755); err != nil {
		return nil, fmt.Errorf("making %s: %w", w.out, err)
	}
	// The checkout is made under the workspace's umask too: files a build copies keep their mode.
	if err := w.sh(ctx, filepath.Dir(w.dir), cloneScript, src.gitDir, w.dir, src.commit); err != nil {
		return nil, fmt.Errorf("checking out %s: %w", src.commit, err)
	}
	w.log("$ " + buildCmd)
	if err := w.sh(ctx, w.dir, buildCmd); err != nil {
		return nil, fmt.Errorf("building: %w", err)
	}
	return digests(w.out)
}

// sh runs script with sh under the workspace's umask and environment; args are $1….
func (w workspace) sh(ctx context.Context, dir, script string, args ...string) error {
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", "umask " + w.umask + "\n" + script, "sh"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(os.Environ()),
		"SOURCE_DATE_EPOCH="+strconv.FormatInt(w.epoch, 10), "TZ="+w.tz, "OUT="+w.out, "PWD="+dir)
	// A cancelled rebuild stops the whole build, not only sh: builders start many processes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out := &lineWriter{log: w.log}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	out.flush()
	if err != nil {
		if tail := out.tail(); tail != "" {
			return fmt.Errorf("%w; last output:\n%s", err, tail)
		}
		return err
	}
	return nil
}

// cleanEnv drops the variables a rebuild sets and those that would point git at another
// repository (sluice itself may run inside a git hook or a workflow step).
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "SOURCE_DATE_EPOCH", "TZ", "OUT", "PWD", "OLDPWD", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
			"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// digests returns "sha256:hex" of each regular file directly in dir, by name.
func digests(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the build output: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		d, err := fileDigest(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = d
	}
	return out, nil
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", p, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// removeAll removes dir even where a build left directories without write permission.
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}

// lineWriter passes output to log line by line and keeps the last lines for an error message.
type lineWriter struct {
	log     func(string)
	partial []byte
	last    []string
}

const tailLines = 20

func (l *lineWriter) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.line(string(bytes.TrimRight(l.partial[:i], "\r")))
		l.partial = l.partial[i+1:]
	}
}

func (l *lineWriter) line(s string) {
	l.log("  " + s)
	l.last = append(l.last, s)
	if len(l.last) > tailLines {
		l.last = l.last[1:]
	}
}

func (l *lineWriter) flush() {
	if len(l.partial) > 0 {
		l.line(string(l.partial))
		l.partial = nil
	}
}

func (l *lineWriter) tail() string { return strings.Join(l.last, "\n") }
