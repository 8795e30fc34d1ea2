package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// hostileContainer is a job whose container or service asks for more than a
// job's own files: the job must fail before any step, saying why.
type hostileContainer struct {
	key  string
	spec string // the job's container:/services: block, indented for the job
	want string // in the job's error
}

func hostileContainers(data, volume string) []hostileContainer {
	const img = serviceImage
	ctr := func(extra string) string {
		return "    container:\n      image: " + img + "\n" + extra
	}
	svc := func(extra string) string {
		return "    services:\n      evil:\n        image: " + img + "\n" + extra
	}
	const outside = "outside the job's directories"
	const unsupported = "unsupported option"
	return []hostileContainer{
		{"vol-root", ctr("      volumes: [\"/:/host\"]\n"), outside},
		{"vol-data", ctr(fmt.Sprintf("      volumes: [%q]\n", data+":/data")), outside},
		{"opt-volume", ctr("      options: -v /var/lib/containers:/x\n"), outside},
		{"opt-volume-eq", svc("        options: --volume=/etc:/hostetc:ro\n"), outside},
		{"svc-vol-data", svc(fmt.Sprintf("        volumes: [%q]\n", data+":/data")), outside},
		{"named-volume", svc(fmt.Sprintf("        volumes: [%q]\n", volume+":/x")), "named volume"},
		{"privileged", ctr("      options: --privileged\n"), "--privileged gives the container the whole machine"},
		{"svc-privileged", svc("        options: -e X=1 --privileged=true\n"), "--privileged gives the container the whole machine"},
		{"cap-add", svc("        options: --cap-add SYS_ADMIN\n"), "--cap-add SYS_ADMIN is refused"},
		{"pid-host", ctr("      options: --pid=host\n"), unsupported},
		{"net-host", svc("        options: --network=host\n"), unsupported},
		{"device", ctr("      options: --device /dev/kmsg\n"), unsupported},
		{"mount", ctr("      options: --mount type=bind,src=/,dst=/host\n"), unsupported},
		{"security-opt", svc("        options: --security-opt seccomp=unconfined\n"), unsupported},
	}
}

// hostileContainerWorkflow has one job per hostile spec, alternating between
// the embedded agent and the remote one, and a benign container job showing
// that containers do run here. A step that runs at all says ESCAPED (its script spells it apart).
func hostileContainerWorkflow(cases []hostileContainer, remote bool) string {
	var b strings.Builder
	b.WriteString("name: hostile-containers\non: push\njobs:\n")
	b.WriteString("  benign:\n    runs-on: ubuntu-latest\n    container:\n      image: " + serviceImage + "\n" +
		"      options: --cap-drop ALL\n    steps:\n      - run: echo CONTAINER-''RAN\n")
	for i, c := range cases {
		runsOn := "ubuntu-latest"
		if remote && i%2 == 1 {
			runsOn = "remote"
		}
		fmt.Fprintf(&b, "  %s:\n    runs-on: %s\n%s    steps:\n      - run: echo ESC''APED-%s; ls /host /data /hostetc 2>/dev/null | head -3\n",
			c.key, runsOn, c.spec, c.key)
	}
	return b.String()
}

// TestHostileContainerSpecsRefused pushes jobs whose container or services
// ask for the machine (host paths, the data directory, --privileged,
// --cap-add, host namespaces, devices, named volumes): through sluice serve
// (embedded and remote agent, both sandboxed) and through sluice run
// --sandbox each is refused before it starts, naming what and why; a benign
// container job runs. Plain sluice run (no sandbox) runs one, with a warning.
func TestHostileContainerSpecsRefused(t *testing.T) {
	t.Parallel()
	requireSandbox(t)
	requireContainers(t)
	s := startServer(t, 2)
	s.startAgent(t, "remote", "remote")
	s.waitAgentsOnline(t, "remote", "embedded")
	// A named volume of its own (were it made, it would not be another test's).
	cases := hostileContainers(s.data, "sluice-e2e-"+randomHex(t, 6))
	g, first := newGitRepo(t, map[string]string{"README.md": "hello\n"})
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "hostile", g, secret)
	sha := g.commit(t, map[string]string{".github/workflows/hostile.yml": hostileContainerWorkflow(cases, true)}, "hostile containers")
	id := s.pushHook(t, forge.GitHub, "hostile", g, first, sha, secret, "hostile-1")[0]
	d := s.waitRunDone(t, id, 3*runTimeout)

	if j := jobByKey(t, d, "benign"); j.Conclusion != store.ConclusionSuccess || !strings.Contains(s.jobLog(t, j.ID), "CONTAINER-RAN") {
		t.Fatalf("the benign container job: %s\n%s", j.Conclusion, s.jobLog(t, j.ID))
	}
	for _, c := range cases {
		j := jobByKey(t, d, c.key)
		log := s.jobLog(t, j.ID)
		if j.Conclusion != store.ConclusionFailure || !strings.Contains(log, c.want) || strings.Contains(log, "ESCAPED-"+c.key) {
			t.Errorf("server job %s: %s, want a failure saying %q before any step:\n%s", c.key, j.Conclusion, c.want, log)
		}
	}

	// The same workflow through sluice run --sandbox, on this machine.
	cmd := exec.Command(sluiceBin(t), "run", "--sandbox")
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "TERM=dumb")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("sluice run --sandbox succeeded with hostile containers:\n%s", out)
	}
	if !strings.Contains(string(out), "CONTAINER-RAN") {
		t.Errorf("sluice run --sandbox: the benign container job did not run:\n%s", out)
	}
	for _, c := range cases {
		if !hasJobLine(string(out), c.key, c.want) {
			t.Errorf("sluice run --sandbox: job %s does not fail saying %q:\n%s", c.key, c.want, out)
		}
		if strings.Contains(string(out), "ESCAPED-"+c.key) {
			t.Errorf("sluice run --sandbox: job %s ran a step", c.key)
		}
	}

	// Without a sandbox (sluice run on your own machine) the job already has
	// the user's authority: the container gets what it asks for, with a warning.
	cmd = exec.Command(sluiceBin(t), "run", "-j", "privileged")
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "SLUICE_STATE_DIR="+t.TempDir(), "TERM=dumb")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ESCAPED-privileged") || !strings.Contains(string(out), "allowed here because this job runs without a sandbox") {
		t.Errorf("sluice run -j privileged (no sandbox): %v, want the job to run with a warning:\n%s", err, out)
	}
}

// hasJobLine says whether some line of sluice run's output is about job key
// and holds want.
func hasJobLine(out, key, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, key) && strings.Contains(l, want) {
			return true
		}
	}
	return false
}
