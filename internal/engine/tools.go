package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/fslock"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/venvs"
)

// imageTool is a command GitHub's ubuntu-latest image has that Python
// workflows call, and what sluice does about it on a machine without it.
type imageTool struct {
	name string
	hint string // what to do when the machine lacks it
}

// imageTools are documented in the README ("Tools from GitHub's image").
// pipx is provided by sluice itself; the rest are named with what to
// install when a step finds them missing.
var imageTools = []imageTool{
	{"pipx", "sluice provides pipx to jobs that call it; this one could not be installed (see the job's set-up lines)"},
	{"gh", "install the GitHub CLI on this machine (https://cli.github.com, or apt-get install gh)"},
	{"jq", "apt-get install jq"},
	{"yq", "install yq (https://github.com/mikefarah/yq)"},
	{"zstd", "apt-get install zstd"},
	{"xvfb-run", "apt-get install xvfb"},
	{"docker", "use a container job (`container:`) with Podman's Docker API, or install Docker"},
	{"sudo", "run steps that need root on a machine where the runner user may use sudo"},
	{"apt-get", "install the packages on this machine beforehand (sluice runs on the host)"},
	{"node", "add actions/setup-node, or install Node.js"},
	{"npm", "add actions/setup-node, or install Node.js"},
	{"java", "add actions/setup-java, or install a JDK"},
	{"go", "add actions/setup-go, or install Go"},
	{"cargo", "install Rust (rustup)"},
	{"rustc", "install Rust (rustup)"},
	{"make", "apt-get install make"},
	{"gcc", "apt-get install build-essential"},
	{"pkg-config", "apt-get install pkg-config"},
	{"shellcheck", "apt-get install shellcheck"},
	{"aws", "install the AWS CLI"},
	{"az", "install the Azure CLI"},
	{"gcloud", "install the Google Cloud CLI"},
	{"kubectl", "install kubectl"},
	{"helm", "install helm"},
	{"poetry", "not on GitHub's image either: install it in a step (pipx install poetry) or use snok/install-poetry"},
	{"tox", "not on GitHub's image either: pip install tox in a step"},
	{"nox", "not on GitHub's image either: pip install nox in a step"},
	{"uv", "add astral-sh/setup-uv (sluice installs uv from PyPI for it)"},
}

var commandNotFound = lazyre.New(`(?:^|: )([A-Za-z0-9._+-]+): (?:command )?not found$`)

// missingTool says what to do about a command a step did not find, when
// it is one GitHub's image has.
func missingTool(line string) (name, hint string, ok bool) {
	m := commandNotFound.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return "", "", false
	}
	for _, t := range imageTools {
		if t.name == m[1] {
			return t.name, t.hint, true
		}
	}
	return "", "", false
}

var pipxWord = lazyre.New(`(^|[^A-Za-z0-9_-])pipx([^A-Za-z0-9_-]|$)`)

// needsPipx says whether a job's steps call pipx.
func needsPipx(steps []*actionlint.Step) bool {
	for _, st := range steps {
		if x, ok := st.Exec.(*actionlint.ExecRun); ok && x.Run != nil && pipxWord.MatchString(x.Run.Value) {
			return true
		}
	}
	return false
}

// providePipx puts pipx on the job's PATH when the machine has none, as
// GitHub's image has it (PIPX_HOME and PIPX_BIN_DIR the job's own, its bin
// directory on PATH): pipx itself is installed from the index once into
// sluice's tools directory, outside any job.
func (jr *jobRun) providePipx(ctx context.Context) {
	e := jr.wr.e
	if !needsPipx(jr.node.job.Steps) || (jr.ctr != nil && jr.ctr.inside) {
		return
	}
	pipxHome := filepath.Join(jr.root, "pipx")
	bin := filepath.Join(pipxHome, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		jr.notice("", fmt.Sprintf("preparing pipx: %v", err))
		return
	}
	jr.mu.Lock()
	jr.fileEnv["PIPX_HOME"] = pipxHome
	jr.fileEnv["PIPX_BIN_DIR"] = bin
	jr.path = append(jr.path, bin)
	jr.mu.Unlock()
	if onPath("pipx", e.opts.BaseEnv["PATH"]) {
		return // the machine's own pipx, with the job's home
	}
	tools := filepath.Join(e.opts.StateDir, "tools", "pipx")
	py := filepath.Join(tools, "bin", "python")
	if _, err := os.Stat(filepath.Join(tools, ".ready")); err != nil {
		if err := installTool(ctx, tools, "pipx", e.opts.BaseEnv); err != nil {
			jr.notice("", fmt.Sprintf("pipx is on GitHub's image but not on this machine, and installing it from the index failed: %v", err))
			return
		}
	}
	// The job gets its own copy (its sandbox sees its slot, not sluice's
	// state, and a job must not change the pipx the next one runs).
	own := filepath.Join(jr.root, "tools", "pipx")
	if err := venvs.CopyTree(tools, own); err != nil {
		jr.notice("", fmt.Sprintf("copying pipx for the job: %v", err))
		return
	}
	py = filepath.Join(own, "bin", "python")
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %q -m pipx \"$@\"\n", py)
	shim := filepath.Join(jr.root, "tools", "bin")
	if err := os.MkdirAll(shim, 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(shim, "pipx"), []byte(wrapper), 0o755); err == nil {
			jr.mu.Lock()
			jr.path = append(jr.path, shim)
			jr.mu.Unlock()
			e.emit(logs.Event{Kind: logs.Debug, Job: jr.name, Text: "pipx: provided from " + tools})
		}
	}
}

// onPath says whether name is an executable in one of path's directories.
func onPath(name, path string) bool {
	for _, d := range filepath.SplitList(path) {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// installTool makes a virtual environment holding pkg under dir (beside
// it, then renamed, so a half-made one is never used), unless another job
// or process has made it: installs of one dir take turns, and a ready one is
// never replaced, since jobs copy it without a lock (two packaging jobs
// asking for pipx at once: the second install removed the first's tool while
// a job was copying it).
func installTool(ctx context.Context, dir, pkg string, base map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	unlock, err := fslock.LockContext(ctx, dir+".lock", 100*time.Millisecond)
	if err != nil {
		return fmt.Errorf("waiting for another install of %s: %w", pkg, err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".ready")); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	env := make([]string, 0, len(base))
	for k, v := range base {
		env = append(env, k+"="+v)
	}
	var out strings.Builder
	line := func(s string) { out.WriteString(s + "\n") }
	py, err := exec.LookPath("python3")
	if err != nil {
		return fmt.Errorf("no python3 to install %s with", pkg)
	}
	for _, argv := range [][]string{{py, "-m", "venv", tmp}, {filepath.Join(tmp, "bin", "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", pkg}} {
		res, err := host.Run(ctx, host.Cmd{Argv: argv, Env: env, Line: line})
		if err != nil || res.ExitCode != 0 {
			return fmt.Errorf("%s: exit %d %v: %s", strings.Join(argv, " "), res.ExitCode, err, out.String())
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".ready"), nil, 0o644); err != nil {
		return err
	}
	_ = os.RemoveAll(dir) // a half-made one of a process that died
	return os.Rename(tmp, dir)
}
