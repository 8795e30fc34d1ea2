package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// hostileContainer is a job whose container or service asks for more than a
// job's own files: the job must fail before any step, saying why.
type hostileContainer struct {
	key   string
	spec  string            // the job's container:/services: block, indented for the job
	want  string            // in the job's error
	steps string            // the job's steps, when not the one that says ESCAPED
	files map[string]string // files of the repository the job needs
	links map[string]string // symbolic links of the repository (path → target)
}

// hostileContainers are the specs; hostDir is a directory of the machine
// holding secret.txt, which a Docker action must not get mounted.
func hostileContainers(data, volume, hostDir string) []hostileContainer {
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
		{key: "vol-root", spec: ctr("      volumes: [\"/:/host\"]\n"), want: outside},
		{key: "vol-data", spec: ctr(fmt.Sprintf("      volumes: [%q]\n", data+":/data")), want: outside},
		{key: "opt-volume", spec: ctr("      options: -v /var/lib/containers:/x\n"), want: outside},
		{key: "opt-volume-eq", spec: svc("        options: --volume=/etc:/hostetc:ro\n"), want: outside},
		{key: "svc-vol-data", spec: svc(fmt.Sprintf("        volumes: [%q]\n", data+":/data")), want: outside},
		{key: "named-volume", spec: svc(fmt.Sprintf("        volumes: [%q]\n", volume+":/x")), want: "named volume"},
		{key: "privileged", spec: ctr("      options: --privileged\n"), want: "--privileged gives the container the whole machine"},
		{key: "svc-privileged", spec: svc("        options: -e X=1 --privileged=true\n"), want: "--privileged gives the container the whole machine"},
		{key: "cap-add", spec: svc("        options: --cap-add SYS_ADMIN\n"), want: "--cap-add SYS_ADMIN is refused"},
		{key: "pid-host", spec: ctr("      options: --pid=host\n"), want: unsupported},
		{key: "net-host", spec: svc("        options: --network=host\n"), want: unsupported},
		{key: "device", spec: ctr("      options: --device /dev/kmsg\n"), want: unsupported},
		{key: "mount", spec: ctr("      options: --mount type=bind,src=/,dst=/host\n"), want: unsupported},
		{key: "security-opt", spec: svc("        options: --security-opt seccomp=unconfined\n"), want: unsupported},
		// A step swaps the workspace for a link to the machine; the Docker action
		// after it would get the link's target mounted by the container engine.
		{key: "docker-link", want: "is now a symbolic link (to " + hostDir + ")", steps: fmt.Sprintf(`      - run: |
          cd /
          rm -rf "$GITHUB_WORKSPACE"
          ln -s %q "$GITHUB_WORKSPACE"
      - uses: docker://%s
        with:
          args: sh -c "cat /github/workspace/secret.txt; echo ESC''APED-docker-link; touch /github/workspace/pwned"
`, hostDir, img)},
		// A Docker action of the repository whose Dockerfile is a host file: the container
		// engine reads the Dockerfile on the host and echoes its lines in the build's errors.
		{key: "dockerfile-up", want: "want docker://IMAGE or the path of a Dockerfile inside the action's directory",
			files: map[string]string{".hostile/up/action.yml": "name: up\nruns:\n  using: docker\n  image: " +
				strings.Repeat("../", 24) + strings.TrimPrefix(filepath.Join(hostDir, "secret.txt"), "/") + "\n"},
			steps: "      - uses: actions/checkout@v4\n      - uses: ./.hostile/up\n"},
		{key: "dockerfile-link", want: "outside the action's directory",
			files: map[string]string{".hostile/link/action.yml": "name: link\nruns:\n  using: docker\n  image: Dockerfile\n"},
			links: map[string]string{".hostile/link/Dockerfile": filepath.Join(hostDir, "secret.txt")},
			steps: "      - uses: actions/checkout@v4\n      - uses: ./.hostile/link\n"},
		{key: "dockerfile-url", want: "want docker://IMAGE or the path of a Dockerfile inside the action's directory",
			files: map[string]string{".hostile/url/action.yml": "name: url\nruns:\n  using: docker\n  image: http://127.0.0.1:9/Dockerfile\n"},
			steps: "      - uses: actions/checkout@v4\n      - uses: ./.hostile/url\n"},
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
		steps := c.steps
		if steps == "" {
			steps = fmt.Sprintf("      - run: echo ESC''APED-%s; ls /host /data /hostetc 2>/dev/null | head -3\n", c.key)
		}
		fmt.Fprintf(&b, "  %s:\n    runs-on: %s\n%s    steps:\n%s", c.key, runsOn, c.spec, steps)
	}
	return b.String()
}

// TestHostileContainerSpecsRefused pushes jobs whose container or services
// ask for the machine (host paths, the data directory, --privileged,
// --cap-add, host namespaces, devices, named volumes, a Docker action after
// the workspace was swapped for a link to the machine): through sluice serve
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
	hostDir := t.TempDir()
	secretText := "HOST-SECRET-" + randomHex(t, 8)
	if err := os.WriteFile(filepath.Join(hostDir, "secret.txt"), []byte(secretText+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := hostileContainers(s.data, "sluice-e2e-"+randomHex(t, 6), hostDir)
	g, first := newGitRepo(t, map[string]string{"README.md": "hello\n"})
	secret := "hook-" + randomHex(t, 8)
	s.addRepo(t, "hostile", g, secret)
	files := map[string]string{".github/workflows/hostile.yml": hostileContainerWorkflow(cases, true)}
	for _, c := range cases {
		for name, body := range c.files {
			files[name] = body
		}
		for name, target := range c.links {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(g.work, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(g.work, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	sha := g.commit(t, files, "hostile containers")
	id := s.pushHook(t, forge.GitHub, "hostile", g, first, sha, secret, "hostile-1")[0]
	d := s.waitRunDone(t, id, 3*runTimeout)

	if j := jobByKey(t, d, "benign"); j.Conclusion != store.ConclusionSuccess || !strings.Contains(s.jobLog(t, j.ID), "CONTAINER-RAN") {
		t.Fatalf("the benign container job: %s\n%s", j.Conclusion, s.jobLog(t, j.ID))
	}
	for _, c := range cases {
		j := jobByKey(t, d, c.key)
		log := s.jobLog(t, j.ID)
		if j.Conclusion != store.ConclusionFailure || !strings.Contains(log, c.want) || strings.Contains(log, "ESCAPED-"+c.key) || strings.Contains(log, secretText) {
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
	if strings.Contains(string(out), secretText) {
		t.Errorf("sluice run --sandbox: a container read %s", filepath.Join(hostDir, "secret.txt"))
	}
	if _, err := os.Stat(filepath.Join(hostDir, "pwned")); err == nil {
		t.Errorf("a container wrote into %s", hostDir)
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
