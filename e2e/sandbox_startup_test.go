package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// pathWithout is a PATH directory holding git and, when bwrap is not "",
// a program of that content named bwrap: the machine as sluice serve sees it
// without bubblewrap, or with one that cannot make a sandbox.
func pathWithout(t *testing.T, bwrap string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"git", "sh"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s is not installed", name)
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if bwrap != "" {
		if err := os.WriteFile(filepath.Join(dir, "bwrap"), []byte(bwrap), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestServeSaysWhenItCannotSandbox starts the real sluice serve on a machine
// without bubblewrap, and with a bubblewrap that cannot create namespaces:
// with --sandbox auto it starts and says plainly that jobs run without a
// sandbox, why, and what that means; with --sandbox on it refuses to start.
func TestServeSaysWhenItCannotSandbox(t *testing.T) {
	t.Parallel()
	unusable := "#!/bin/sh\necho 'bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces' >&2\nexit 1\n"
	for _, c := range []struct {
		name, bwrap, why string
	}{
		{"missing", "", "--sandbox needs bubblewrap (bwrap) on PATH: install it with `apt-get install bubblewrap`"},
		{"unusable", unusable, "bubblewrap is installed but cannot create a sandbox here (it needs user namespaces, or to run as root): exit status 1: bwrap: No permissions to create new namespace"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := "PATH=" + pathWithout(t, c.bwrap)
			s := startServerEnv(t, 1, []string{path})
			out := waitFor(t, "the start-up line about the sandbox", 10*time.Second, func() (string, bool, error) {
				out := s.proc.output()
				return out, strings.Contains(out, "sandbox: "), nil
			})
			for _, want := range []string{"sandbox: jobs run WITHOUT a sandbox: " + c.why,
				"a job's steps can then read and write everything this user can, including sluice's data directory"} {
				if !strings.Contains(out, want) {
					t.Errorf("sluice serve --sandbox auto does not say %q:\n%s", want, out)
				}
			}

			// --sandbox on: no server at all.
			on := &srv{addr: freeAddr(t), data: filepath.Join(t.TempDir(), "data"), dir: t.TempDir(), env: []string{path}}
			cmd := exec.Command(sluiceBin(t), "serve", "--data", on.data, "--addr", on.addr, "--sandbox", "on")
			cmd.Env = append(os.Environ(), on.procEnv("serve")...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(stderr.String(), c.why) {
					t.Errorf("sluice serve --sandbox on: %v, want a failure saying %q:\n%s", err, c.why, stderr.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Errorf("sluice serve --sandbox on started without a usable sandbox:\n%s", stderr.String())
			}
		})
	}
}

// TestKilledAgentWorkspaceSwept kills -9 a sandboxed agent while its job
// runs: the job's processes die with it (nothing of the job's directory
// stays in use), and the agent's next start removes the dead job's
// workspace and says so.
func TestKilledAgentWorkspaceSwept(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	s := startServer(t, 0)
	agent := s.startAgent(t, "sweeper", "default")
	s.waitAgentsOnline(t, "sweeper")
	g, first := newGitRepo(t, map[string]string{"README.md": "x\n"})
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "swept", g, secret)
	sha := g.commit(t, map[string]string{".github/workflows/long.yml": `on: push
jobs:
  long:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo kept > "$GITHUB_WORKSPACE/dead-job-file"
          echo "job st""arted"
          sleep 600
`}, "long job")
	id := s.pushHook(t, forge.GitHub, "swept", g, first, sha, secret, "swept-1")[0]
	s.waitJob(t, id, "long", "running its step", runTimeout, func(j server.JobView) bool {
		return j.Status == store.StatusInProgress && strings.Contains(s.jobLog(t, j.ID), "job started")
	})
	slots := filepath.Join(s.dir, "tmp-agent-sweeper", "sluice-agent", "slots")
	left, _ := filepath.Glob(filepath.Join(slots, "*", "work", "*", "dead-job-file"))
	if len(left) != 1 {
		t.Fatalf("the job's workspace file is not where the test looks (%s): %v", slots, left)
	}
	slot := strings.TrimSuffix(left[0], "/work/"+filepath.Base(filepath.Dir(left[0]))+"/dead-job-file")

	// The agent alone is killed, as a crash would: not its process group.
	if err := syscall.Kill(agent.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-agent.done
	waitFor(t, "the job's processes to die with the agent", 10*time.Second, func() (string, bool, error) {
		p := processUsing(slot)
		return p, p == "", nil
	})
	if _, err := os.Stat(left[0]); err != nil {
		t.Fatalf("the dead job's workspace is gone before the agent restarts: %v", err)
	}
	// The run is cancelled so that no restarted agent takes the job again.
	s.mustCLI(t, "cancel", fmt.Sprint(id))

	again := s.startAgent(t, "sweeper", "default")
	waitFor(t, "the restarted agent to sweep", 30*time.Second, func() (string, bool, error) {
		out := again.output()
		return out, strings.Contains(out, "agent sweeper serving"), nil
	})
	// The dead job's slot, and its lease's directory when it still had one.
	if out := again.output(); !regexp.MustCompile(`removed [12] workspace\(s\) of jobs that died with an earlier agent`).MatchString(out) {
		t.Errorf("the restarted agent does not say it swept the dead job's workspace:\n%s", out)
	}
	if _, err := os.Stat(slot); err == nil {
		t.Errorf("the dead job's workspace %s is still there", slot)
	}
}

// processUsing names a process whose command line mentions dir, "" for none.
func processUsing(dir string) string {
	pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			return p + ": " + string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	return ""
}
