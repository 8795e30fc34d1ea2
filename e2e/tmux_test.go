package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxPane runs a script in a detached tmux session of its own (a private
// server socket) with a pane of the given size, and reads the pane back.
type tmuxPane struct {
	t      *testing.T
	socket string
}

func startTmux(t *testing.T, cols, rows int, script string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("SLUICE_REQUIRE_TMUX") == "1" {
			t.Fatal("tmux is not installed (make deps installs it)")
		}
		t.Skip("tmux is not installed: make deps installs it")
	}
	dir := t.TempDir()
	p := &tmuxPane{t: t, socket: filepath.Join(dir, "tmux.sock")}
	sh := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(sh, []byte(script+"\necho SLUICE-DONE-$?\nsleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// -f /dev/null: the machine's tmux.conf must not change the pane (its
	// default history and scroll-on-clear are what users have).
	p.run("-f", "/dev/null", "new-session", "-d", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), "-s", "t", "sh "+sh)
	t.Cleanup(func() { exec.Command("tmux", "-S", p.socket, "kill-server").Run() })
	return p
}

func (p *tmuxPane) run(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screen is the visible pane; history is the scrollback and the pane.
func (p *tmuxPane) screen() string  { return p.run("capture-pane", "-p", "-t", "t") }
func (p *tmuxPane) history() string { return p.run("capture-pane", "-p", "-S", "-", "-t", "t") }

// waitFor polls the pane until cond holds, up to a deadline.
func (p *tmuxPane) waitFor(what string, cond func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := p.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s; the pane shows:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spinnerRows are the lines of text that start with a spinner frame: a job
// line as drawn while it ran.
func spinnerRows(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l != "" && strings.ContainsRune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏", []rune(l)[0]) {
			out = append(out, l)
		}
	}
	return out
}

// tmuxRepo is a repository whose push workflow has two jobs running a few
// seconds and a third waiting for both.
func tmuxRepo(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	wf := `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: for i in 1 2 3 4 5 6 7 8; do echo "build line $i"; sleep 0.25; done
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 1.5; echo lint ok
  deploy:
    needs: [build, lint]
    runs-on: ubuntu-latest
    steps:
      - run: echo deploying
` + extra
	if err := os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".github", "workflows", "ci.yml"), []byte(wf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "ci"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func tmuxScript(t *testing.T, repo, args string) string {
	return fmt.Sprintf("cd %q && SLUICE_STATE_DIR=%q TERM=screen-256color %q run %s", repo, t.TempDir(), sluiceBin(t), args)
}

// The live view in tmux: a job waiting for others is listed while it waits,
// --follow-output streams the followed job's lines, and once the run ends
// the scrollback holds no spinner frame: every redraw overwrote the block in
// place (tmux saves a screen erased from its top-left corner to the
// history, which is where the frames used to pile up).
func TestTmuxLiveView(t *testing.T) {
	repo := tmuxRepo(t, "")
	// Two runs in a fresh pane: the first draws its block from the pane's
	// top-left corner (where an erase of the screen below would be saved
	// to the scrollback), the second follows the build job's output.
	p := startTmux(t, 110, 30, tmuxScript(t, repo, "")+"\n"+tmuxScript(t, repo, "--follow-output=build"))
	p.waitFor("deploy waiting for build and lint", func(s string) bool {
		return strings.Contains(s, "· deploy  waiting for build, lint")
	})
	p.waitFor("the runs to end", func(s string) bool { return strings.Contains(s, "SLUICE-DONE-0") })
	hist := p.history()
	if rows := spinnerRows(hist); len(rows) != 0 {
		t.Errorf("%d spinner frames left in the scrollback, e.g. %q:\n%s", len(rows), rows[0], hist)
	}
	for _, job := range []string{"build", "lint", "deploy"} {
		if n := strings.Count(hist, "✓ "+job+" "); n != 2 {
			t.Errorf("%q: %d final lines in two runs, want 2:\n%s", job, n, hist)
		}
	}
	for i := 1; i <= 8; i++ {
		line := fmt.Sprintf("build line %d", i)
		if n := strings.Count(hist, "] "+line+"\n"); n != 1 {
			t.Errorf("followed output %q appears %d times, want once:\n%s", line, n, hist)
		}
	}
	if strings.Contains(hist, "lint ok\n") && strings.Contains(hist, "[lint/") {
		t.Errorf("output of a job not followed was streamed:\n%s", hist)
	}
}

// A pane shorter than the job list: the block keeps to the pane, and the
// scrollback still holds no spinner frames.
func TestTmuxSmallPane(t *testing.T) {
	var extra strings.Builder
	for i := range 8 {
		fmt.Fprintf(&extra, "  extra%d:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sleep 1\n", i)
	}
	repo := tmuxRepo(t, extra.String())
	p := startTmux(t, 80, 8, tmuxScript(t, repo, "--jobs 4"))
	p.waitFor("the run to end", func(s string) bool { return strings.Contains(s, "SLUICE-DONE-0") })
	if rows := spinnerRows(p.history()); len(rows) != 0 {
		t.Errorf("%d spinner frames left in the scrollback of a small pane, e.g. %q", len(rows), rows[0])
	}
}
