package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// fetchWorkflow uses an action and a reusable workflow that are not built in.
const fetchWorkflow = `on: push
jobs:
  greet:
    runs-on: ubuntu-latest
    steps:
      - uses: e2e-fetch/greet@v1
        with:
          who: server
  call:
    uses: e2e-fetch/shared/.github/workflows/called.yml@main
    with:
      who: sluice
  missing:
    runs-on: ubuntu-latest
    steps:
      - run: echo "fetched never"
      - uses: e2e-fetch/nothing@v1
`

// TestFetchedActionsBothPaths: an action and a called workflow from another repository are
// fetched from the git server standing in for GitHub, through `sluice run` and through the
// server's embedded agent, with the same jobs and lines; an action that does not exist fails
// its own job, before its steps, on both.
func TestFetchedActionsBothPaths(t *testing.T) {
	t.Parallel()
	gh := testenv.StartGitServer(t, t.TempDir(), testenv.GitServerOptions{})
	greet := gh.GitRepo(t, "e2e-fetch/greet", map[string]string{"action.yml": "name: greet\ndescription: d\ninputs:\n  who:\n    default: x\nruns:\n  using: composite\n  steps:\n    - run: echo \"fetched hello ${{ inputs.who }}\"\n      shell: bash\n"})
	testenv.Git(t, greet, "tag", "v1")
	gh.GitRepo(t, "e2e-fetch/shared", map[string]string{".github/workflows/called.yml": "on:\n  workflow_call:\n    inputs:\n      who:\n        type: string\n        required: true\njobs:\n  inner:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"fetched call ${{ inputs.who }}\"\n"})
	g, first := newGitRepo(t, map[string]string{".github/workflows/ci.yml": fetchWorkflow})
	want := []string{"fetched call sluice", "fetched hello server"}

	cmd := exec.Command(sluiceBin(t), "run")
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "SLUICE_GITHUB_URL="+gh.URL, "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), `"e2e-fetch/nothing@v1" is not built into sluice and cannot be fetched`) {
		t.Fatalf("sluice run exited %d (%v), want 1 naming the missing action:\n%s", code, err, out)
	}
	if diff := cmp.Diff(want, fetchedLines(string(out))); diff != "" {
		t.Errorf("sluice run (-want +got):\n%s\n%s", diff, out)
	}

	s := startServerEnv(t, 1, []string{"SLUICE_GITHUB_URL=" + gh.URL})
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "fetch", g, secret)
	sha := g.commit(t, map[string]string{"x.txt": "1"}, "push")
	runs := s.pushHook(t, forge.GitHub, "fetch", g, first, sha, secret, "fetch-1")
	d := s.waitRunDone(t, runs[0], runTimeout)
	got := map[string]string{}
	for _, j := range d.Jobs {
		got[j.Name] = j.Conclusion
	}
	if diff := cmp.Diff(map[string]string{"greet": store.ConclusionSuccess, "call / inner": store.ConclusionSuccess, "missing": store.ConclusionFailure}, got); diff != "" {
		t.Errorf("server jobs (-want +got):\n%s%s", diff, describeJobs(d))
	}
	var logs strings.Builder
	for _, j := range d.Jobs {
		logs.WriteString(s.jobLog(t, j.ID))
	}
	if diff := cmp.Diff(want, fetchedLines(logs.String())); diff != "" {
		t.Errorf("server (-want +got):\n%s", diff)
	}
}

// fetchedLines are the lines the fetched action and workflow print, sorted.
func fetchedLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if i := strings.LastIndex(l, "] "); i >= 0 {
			l = l[i+2:]
		}
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "fetched ") {
			out = append(out, l)
		}
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
