package metrics

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// The repository mirror the server keeps (a bare clone per repository) is where commits, their
// times and their changes come from. Every call is one git process reading the mirror; output is
// bounded, since the history comes from pushes.

const (
	// maxGraph bounds the commits one computation reads from the mirror.
	maxGraph = 500_000
	// maxGitOutput bounds what one git command may print.
	maxGitOutput = 256 << 20
)

var (
	// errNoMirror is returned when the repository has no mirror yet (nothing was pushed).
	errNoMirror = errors.New("the repository has no mirror yet")
	shaRe       = lazyre.New(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
)

type gitRepo struct{ dir string }

func openGit(dir string) (gitRepo, error) {
	if dir == "" {
		return gitRepo{}, errNoMirror
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return gitRepo{}, errNoMirror
	}
	return gitRepo{dir: dir}, nil
}

// run runs git with args in the mirror, feeding it stdin, and returns its output.
func (g gitRepo) run(ctx context.Context, stdin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir", g.dir, "-c", "core.quotePath=false",
		"-c", "log.showSignature=false"}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	b, rerr := io.ReadAll(io.LimitReader(out, maxGitOutput+1))
	if len(b) > maxGitOutput {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("git %s printed more than %d MiB", args[0], maxGitOutput>>20)
	}
	if err := cmd.Wait(); err != nil || rerr != nil {
		return nil, fmt.Errorf("git %s: %v: %s", args[0], errors.Join(err, rerr), strings.TrimSpace(stderr.String()))
	}
	return b, nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// present returns which of shas are commits in the mirror.
func (g gitRepo) present(ctx context.Context, shas []string) (map[string]bool, error) {
	out := map[string]bool{}
	var in strings.Builder
	for _, s := range shas {
		if shaRe.MatchString(s) && !out[s] {
			out[s] = false
			in.WriteString(s + "\n")
		}
	}
	if in.Len() == 0 {
		return out, nil
	}
	b, err := g.run(ctx, in.String(), "cat-file", "--batch-check=%(objectname) %(objecttype)")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] == "commit" {
			out[f[0]] = true
		}
	}
	return out, nil
}

// commitNode is a commit of the graph read by graph.
type commitNode struct {
	time    time.Time // committer time
	parents []string
}

// graph reads the commits reachable from tips and not from exclude, with their committer times
// and parents. Every tip and exclude must be present in the mirror.
func (g gitRepo) graph(ctx context.Context, tips, exclude []string) (map[string]commitNode, error) {
	out := map[string]commitNode{}
	if len(tips) == 0 {
		return out, nil
	}
	var in strings.Builder
	for _, t := range tips {
		in.WriteString(t + "\n")
	}
	for _, x := range exclude {
		in.WriteString("^" + x + "\n")
	}
	b, err := g.run(ctx, in.String(), "log", "--stdin", "--format=%H %ct %P",
		fmt.Sprintf("--max-count=%d", maxGraph+1))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		sec, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		out[f[0]] = commitNode{time: time.Unix(sec, 0).UTC(), parents: f[2:]}
	}
	if len(out) > maxGraph {
		return nil, fmt.Errorf("more than %d commits between the deployments", maxGraph)
	}
	return out, nil
}

// descendants returns the commits among shas that have pivot as an ancestor (pivot included).
func (g gitRepo) descendants(ctx context.Context, pivot string, shas []string) (map[string]bool, error) {
	out := map[string]bool{}
	var in strings.Builder
	in.WriteString("^" + pivot + "\n")
	for _, s := range shas {
		in.WriteString(s + "\n")
	}
	b, err := g.run(ctx, in.String(), "rev-list", "--ancestry-path", "--stdin")
	if err != nil {
		return nil, err
	}
	path := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		path[l] = true
	}
	for _, s := range shas {
		if s == pivot || path[s] {
			out[s] = true
		}
	}
	return out, nil
}

// resolve turns a commit-ish the user named into a full SHA.
func (g gitRepo) resolve(ctx context.Context, rev string) (string, error) {
	b, err := g.run(ctx, "", "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("no commit %q in the repository", rev)
	}
	return strings.TrimSpace(string(b)), nil
}

// changedFiles lists, for each pair of commits (from, to), the paths that differ between them,
// in one git process.
func (g gitRepo) changedFiles(ctx context.Context, pairs [][2]string) (map[[2]string][]string, error) {
	out := map[[2]string][]string{}
	var in strings.Builder
	var order [][2]string
	for _, p := range pairs {
		if _, seen := out[p]; seen || !shaRe.MatchString(p[0]) || !shaRe.MatchString(p[1]) {
			continue
		}
		out[p] = nil
		order = append(order, p)
		in.WriteString(p[0] + " " + p[1] + "\n")
	}
	if len(order) == 0 {
		return out, nil
	}
	// With --always every pair prints its first commit, then the paths: the commits delimit them.
	b, err := g.run(ctx, in.String(), "diff-tree", "--stdin", "--always", "--no-renames", "-r", "--name-only", "-z")
	if err != nil {
		return nil, err
	}
	i := -1
	for _, tok := range splitZ(b) {
		if i+1 < len(order) && tok == order[i+1][0] {
			i++
			continue
		}
		if i >= 0 {
			out[order[i]] = append(out[order[i]], tok)
		}
	}
	return out, nil
}

func splitZ(b []byte) []string {
	var out []string
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) > 0 {
			out = append(out, string(p))
		}
	}
	return out
}

// blobs reads files at commits: names are "<sha>:<path>"; a missing one is absent from the result.
// A file larger than maxBlob is left out too.
func (g gitRepo) blobs(ctx context.Context, names []string, maxBlob int) (map[string][]byte, error) {
	out := map[string][]byte{}
	var in strings.Builder
	for _, n := range names {
		if strings.ContainsAny(n, "\n") {
			continue
		}
		in.WriteString(n + "\n")
	}
	if in.Len() == 0 {
		return out, nil
	}
	b, err := g.run(ctx, in.String(), "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(bytes.NewReader(b))
	for _, n := range names {
		if strings.ContainsAny(n, "\n") {
			continue
		}
		head, err := r.ReadString('\n')
		if err != nil {
			break
		}
		f := strings.Fields(head)
		if len(f) != 3 {
			continue // "<name> missing"
		}
		size, err := strconv.Atoi(f[2])
		if err != nil || size < 0 {
			break
		}
		data := make([]byte, size+1) // the content and its newline
		if _, err := io.ReadFull(r, data); err != nil {
			break
		}
		if f[1] == "blob" && size <= maxBlob {
			out[n] = data[:size]
		}
	}
	return out, nil
}

// logCommit is a commit of the default branch's history with the files it changed.
type logCommit struct {
	SHA, Author, Subject string
	Time                 time.Time // committer time
	Parent               string    // first parent ("" for a root commit)
	Trailers             map[string][]string
	Files                []string
}

// history lists the commits of ref committed at or after since (newest first, at most limit),
// with their trailers and the files they changed (merges list none, as git log does).
func (g gitRepo) history(ctx context.Context, ref string, since time.Time, limit int) ([]logCommit, error) {
	// Separators carry a random nonce: a commit message may contain any byte, and must not be
	// able to forge another commit's record or fields.
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	rec, fs := fmt.Sprintf("\x1e%x\x1e", nonce), fmt.Sprintf("\x1f%x\x1f", nonce)
	format := rec + strings.Join([]string{"%H", "%ct", "%P", "%an", "%s", "%(trailers:unfold,only)", ""}, fs)
	b, err := g.run(ctx, "", "log", "-z", "--no-renames", "--name-only", fmt.Sprintf("--max-count=%d", limit),
		fmt.Sprintf("--since=%d", since.Unix()), "--format="+format, "--end-of-options", ref, "--")
	if err != nil {
		return nil, err
	}
	var out []logCommit
	for _, r := range strings.Split(string(b), rec) {
		f := strings.Split(r, fs)
		if len(f) != 7 || !shaRe.MatchString(f[0]) {
			continue
		}
		sec, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		c := logCommit{SHA: f[0], Time: time.Unix(sec, 0).UTC(), Author: f[3], Subject: f[4], Trailers: parseTrailers(f[5])}
		if since.After(c.Time) {
			continue // --since stops late on skewed history; the window is by committer time
		}
		if ps := strings.Fields(f[2]); len(ps) > 0 {
			c.Parent = ps[0]
		}
		c.Files = splitZ([]byte(strings.TrimLeft(f[6], "\n\x00")))
		out = append(out, c)
	}
	return out, nil
}

func parseTrailers(s string) map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "" && !strings.ContainsAny(k, " \t") {
			out[strings.ToLower(k)] = append(out[strings.ToLower(k)], v)
		}
	}
	return out
}
