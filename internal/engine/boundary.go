package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sluice-ci/sluice/internal/executor"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/python"
	"github.com/sluice-ci/sluice/internal/roots"
)

// A job's boundary (DESIGN.md §5a) is decided here, once: which
// directories are the job's own (writable to its steps and the only places
// its native actions read and write), what its sandbox mounts read-only,
// and the environment that points its tools at its own directories.

// jobDirs are one job's own directories, all below root.
type jobDirs struct {
	root      string // the job's directory, removed when it ends
	work      string // RUNNER_WORKSPACE: the workspace and sibling checkouts
	workspace string // GITHUB_WORKSPACE
	temp      string // RUNNER_TEMP
	// Under a sandbox only: the job's own home, /tmp, tool cache and pip/uv
	// caches, so that nothing a job writes is seen by another job.
	home, tmp, toolCache, pipCache, uvCache string
	// Under a sandbox only: the job's own uv-managed Python directory, where
	// uv installs what a step asks of it (`uv python install`, a
	// --python-preference only-managed download), as on GitHub's runner; the
	// machine's uv interpreters appear in it as links (see linkUVPythons).
	uvPython string
}

// jobDirs are the directories of the job in its slot (see jobSlot): under
// a sandbox, its own home, /tmp and tool cache are made there too.
func (e *Engine) jobDirs(slot *jobSlot) (jobDirs, error) {
	root := slot.root
	d := jobDirs{root: root, work: filepath.Dir(slot.workspace), workspace: slot.workspace, temp: slot.temp}
	var dirs []string
	if e.opts.Sandbox != nil {
		d.home, d.tmp = filepath.Join(root, "home"), filepath.Join(root, "tmp")
		d.toolCache = filepath.Join(root, "toolcache")
		d.pipCache, d.uvCache = filepath.Join(root, "cache", "pip"), filepath.Join(root, "cache", "uv")
		d.uvPython = filepath.Join(root, "uv-python")
		dirs = append(dirs, d.home, d.tmp, d.toolCache, d.pipCache, d.uvCache, d.uvPython)
	} else if e.opts.ToolCache != "" {
		d.toolCache = e.opts.ToolCache
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return jobDirs{}, fmt.Errorf("creating job directory: %w", err)
		}
	}
	if d.uvPython != "" {
		if err := linkUVPythons(uvPythonDir(e.opts.BaseEnv), d.uvPython); err != nil {
			return jobDirs{}, err
		}
	}
	return d, nil
}

// linkUVPythons makes the machine's uv-managed interpreters (machine, read-only
// in the sandbox) visible in a job's own uv Python directory (own), one link
// per installation, so that uv finds them there as managed Pythons while what
// the job installs goes into its own directory instead of failing on the
// read-only one. uv's own files there (.lock, .cache, .temp) are not linked.
func linkUVPythons(machine, own string) error {
	entries, err := os.ReadDir(machine)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || machine == "" {
			return nil
		}
		return fmt.Errorf("listing uv's interpreters: %w", err)
	}
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			continue
		}
		if err := os.Symlink(filepath.Join(machine, en.Name()), filepath.Join(own, en.Name())); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("linking uv's interpreter %s into the job: %w", en.Name(), err)
		}
	}
	return nil
}

// roots are the directories the job's native actions may act in: its
// workspace (and RUNNER_WORKSPACE around it), runner temp and home. Without
// a sandbox the home is the user's own, which the job's steps can write
// anyway.
func (jr *jobRun) roots() roots.Set {
	home := jr.dirs.home
	if home == "" {
		home = jr.wr.e.opts.BaseEnv["HOME"]
	}
	jr.mu.Lock()
	ro := append([]string(nil), jr.roRoots...)
	jr.mu.Unlock()
	return roots.New(jr.workspace, home, jr.dirs.work, jr.temp, jr.dirs.tmp).WithReadOnly(ro...)
}

// addRoot records a directory a native action prepared for the job's
// processes: writable (the job's own Python environment) or read-only (an
// interpreter, a tool). Only natives add roots; a step cannot.
func (jr *jobRun) addRoot(path string, writable bool) {
	if path == "" {
		return
	}
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if writable {
		jr.rwRoots = append(jr.rwRoots, path)
	} else {
		jr.roRoots = append(jr.roRoots, path)
	}
}

// writableRoots are the directories a sandboxed process of this job may
// write: its slot (workspace, runner temp, its home, /tmp, tool cache and
// its own Python environments, copies of the kept ones), its repository's
// pip/uv caches, and what natives added. The kept environments in the
// state directory are never among them. Called with jr.mu held.
func (jr *jobRun) writableRoots() []string {
	out := append([]string{jr.dirs.root}, jr.rwRoots...)
	for _, k := range sortedKeys(jr.cacheEnv) {
		out = append(out, jr.cacheEnv[k])
	}
	return out
}

// jailSpec is the sandbox of the job's processes. The job's directory is
// writable, its /tmp is its own; read-only are the interpreters' and tools'
// directories this machine offers (pyenv's, uv's, the directories on
// sluice's own PATH), what natives added, and the files of the actions the
// job used (kept once used: a job reading an action's files is harmless,
// and the jail need not be rebuilt when it leaves the action).
func (jr *jobRun) jailSpec(sc *scope, readOnly ...string) host.Spec {
	e := jr.wr.e
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if sc != nil && sc.actionPath != "" && !slices.Contains(jr.actionRoots, sc.actionPath) {
		jr.actionRoots = append(jr.actionRoots, sc.actionPath)
	}
	spec := host.Spec{
		Writable: jr.writableRoots(),
		ReadOnly: append(append(append([]string(nil), e.machineRO...), jr.roRoots...), jr.actionRoots...),
		Binds:    []host.Bind{{Src: jr.dirs.tmp, Dst: "/tmp"}},
	}
	spec.ReadOnly = append(spec.ReadOnly, readOnly...)
	return spec
}

// jail is a one-process sandbox for a process of the job, nil without a
// sandbox.
func (jr *jobRun) jail(sc *scope, readOnly ...string) (*host.Sandbox, error) {
	if jr.wr.e.opts.Sandbox == nil {
		return nil, nil
	}
	return jr.wr.e.opts.Sandbox.Sandbox(jr.jailSpec(sc, readOnly...))
}

// jobJail is the job's long-lived jail for spec, started (or restarted, when
// natives gave the job more roots) as needed; nil when the policy has no
// helper to serve one.
func (jr *jobRun) jobJail(spec host.Spec) (*host.Jail, error) {
	p := jr.wr.e.opts.Sandbox
	if p == nil || p.Helper() == "" {
		return nil, nil
	}
	key := fmt.Sprint(spec)
	jr.jailMu.Lock()
	defer jr.jailMu.Unlock()
	if jr.jobJailRun != nil && jr.jobJailKey == key {
		return jr.jobJailRun, nil
	}
	if jr.jobJailRun != nil {
		jr.jobJailRun.Close()
		jr.jobJailRun = nil
	}
	j, err := p.Start(spec, p.Helper())
	if err != nil {
		return nil, err
	}
	jr.jobJailRun, jr.jobJailKey = j, key
	return j, nil
}

// stepJail is a jail for the processes of one native step that read more
// than the job's jail holds (a checkout's source): started once for all of
// them, closed when the step ends (closeStepJail).
func (jr *jobRun) stepJail(spec host.Spec) (*host.Jail, error) {
	p := jr.wr.e.opts.Sandbox
	if p == nil || p.Helper() == "" {
		return nil, nil
	}
	key := fmt.Sprint(spec)
	jr.jailMu.Lock()
	defer jr.jailMu.Unlock()
	if jr.stepJailRun != nil && jr.stepJailKey == key {
		return jr.stepJailRun, nil
	}
	if jr.stepJailRun != nil {
		jr.stepJailRun.Close()
	}
	j, err := p.Start(spec, p.Helper())
	if err != nil {
		jr.stepJailRun = nil
		return nil, err
	}
	jr.stepJailRun, jr.stepJailKey = j, key
	return j, nil
}

// closeStepJail ends a native step's own jail, if it had one.
func (jr *jobRun) closeStepJail() {
	jr.jailMu.Lock()
	defer jr.jailMu.Unlock()
	if jr.stepJailRun != nil {
		jr.stepJailRun.Close()
		jr.stepJailRun = nil
	}
}

// closeJail ends the job's jails and whatever still runs in them.
func (jr *jobRun) closeJail() {
	jr.closeStepJail()
	jr.jailMu.Lock()
	defer jr.jailMu.Unlock()
	if jr.jobJailRun != nil {
		jr.jobJailRun.Close()
		jr.jobJailRun = nil
	}
}

// machineReadOnly are the machine's tool directories every sandboxed
// process reads: each directory on sluice's own PATH (never one a job
// added) and where pyenv and uv keep interpreters.
func machineReadOnly(base map[string]string) []string {
	var out []string
	for _, d := range filepath.SplitList(base["PATH"]) {
		if filepath.IsAbs(d) {
			out = append(out, d)
		}
	}
	return append(out, interpreterDirs(base)...)
}

// interpreterDirs are where pyenv and uv keep interpreters for the user
// sluice runs as: read-only in the sandbox so that their pythons (and
// pyenv's shims on PATH) work there.
func interpreterDirs(base map[string]string) []string {
	pyenv, uv := python.ManagedDirs(base["HOME"], os.Getenv)
	return []string{pyenv, uv}
}

func uvPythonDir(base map[string]string) string {
	_, uv := python.ManagedDirs(base["HOME"], os.Getenv)
	return uv
}

// sandboxEnv points a sandboxed process's home, temporary files, tool
// cache and pip/uv caches at the job's own directories, and uv at the job's
// own Python directory (the machine's interpreters linked in, read-only). Set last, so a job cannot point
// them back at shared state.
func (jr *jobRun) sandboxEnv(m map[string]string) {
	d := jr.dirs
	if jr.wr.e.opts.Sandbox == nil {
		return
	}
	m["HOME"] = d.home
	m["TMPDIR"] = d.tmp
	m["RUNNER_TOOL_CACHE"] = d.toolCache
	// pip's and uv's caches: the repository's own (repoCaches) when it has
	// them, else the job's.
	m["PIP_CACHE_DIR"] = firstNonEmpty(jr.cacheEnv["PIP_CACHE_DIR"], d.pipCache)
	m["UV_CACHE_DIR"] = firstNonEmpty(jr.cacheEnv["UV_CACHE_DIR"], d.uvCache)
	// The job's files and its environment are on different mounts: uv's
	// hard links cannot cross them, so it copies without warning.
	if _, ok := m["UV_LINK_MODE"]; !ok {
		m["UV_LINK_MODE"] = "copy"
	}
	if _, ok := m["UV_PYTHON_INSTALL_DIR"]; !ok && d.uvPython != "" {
		m["UV_PYTHON_INSTALL_DIR"] = d.uvPython
	}
}

// confine checks a container a job asks for: no privileges, and only the
// job's own directories mounted from the host. A contained job (it runs
// under a sandbox) is refused what breaks the rule. Without a sandbox the
// job's steps already act with the user's whole authority (sluice run on
// your own machine), so the container gets what it asks for and the job
// says so with a warning.
func (jr *jobRun) confine(what string, cs container.ContainerSpec) error {
	c := container.Confinement{Inside: func(p string) bool {
		_, _, err := roots.New(jr.dirs.root, "").Locate(p)
		return err == nil
	}}
	err := c.Check(what, cs)
	var refusal *container.Refusal
	if err == nil || jr.wr.e.opts.Sandbox != nil || !errors.As(err, &refusal) {
		return err
	}
	jr.annotate("Initialize containers", logs.Annotation{Level: "warning",
		Message: err.Error() + " — allowed here because this job runs without a sandbox (a sandboxed agent, or sluice run --sandbox, refuses it)"})
	return nil
}

// mountable checks, for a contained job, the host directories a container
// started in the middle of the job (a Docker action) gets: the container
// engine mounts them by name, outside the job's sandbox, so each must still
// be the job's own directory, with no symbolic link from the job's
// directory down to it. A step may have replaced its workspace with a link
// to anywhere on the machine. The job's jail is closed first: no process
// of the job is left to swap a directory for a link between this check and
// the mount.
func (jr *jobRun) mountable(mounts []container.Mount) error {
	if jr.wr.e.opts.Sandbox == nil {
		return nil
	}
	jr.closeJail()
	root := filepath.Clean(jr.dirs.root)
	for _, m := range mounts {
		rel, err := filepath.Rel(root, filepath.Clean(m.Source))
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("%s is outside the job's directory %s: a container of the job mounts only the job's own files", m.Source, root)
		}
		cur := root
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			if part == "." {
				continue
			}
			cur = filepath.Join(cur, part)
			fi, err := os.Lstat(cur)
			if err != nil {
				return fmt.Errorf("mounting %s into the container: %w", m.Source, err)
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(cur)
				return fmt.Errorf("%s is now a symbolic link (to %s), not the job's own directory: a container of the job mounts only the job's own files; leave the workspace and runner temp directories in place", cur, target)
			}
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory: a container of the job mounts only the job's own directories", cur)
			}
		}
	}
	return nil
}

// hostRun runs a process of the job on this machine, inside its sandbox
// when it has one: in the job's jail, or, for a process that reads more
// than the job's jail holds (readOnly: a checkout's source), in a jail of
// its own.
func (jr *jobRun) hostRun(ctx context.Context, sc *scope, c host.Cmd, readOnly ...string) (host.Result, error) {
	if jr.wr.e.opts.Sandbox == nil {
		return host.Run(ctx, c)
	}
	if len(readOnly) == 0 {
		j, err := jr.jobJail(jr.jailSpec(sc))
		if err != nil {
			return host.Result{}, err
		}
		if j != nil {
			return j.Run(ctx, c)
		}
	} else if j, err := jr.stepJail(jr.jailSpec(sc, readOnly...)); err != nil {
		return host.Result{}, err
	} else if j != nil {
		return j.Run(ctx, c)
	}
	sb, err := jr.jail(sc, readOnly...)
	if err != nil {
		return host.Result{}, err
	}
	c.Sandbox = sb
	return host.Run(ctx, c)
}

// hostExec runs the job's processes on this machine through hostRun (in
// the job's jail under --sandbox), for the scope sc when it has one.
type hostExec struct {
	jr *jobRun
	sc *scope
}

var _ executor.Executor = hostExec{}

func (x hostExec) Run(ctx context.Context, p executor.Process) (executor.Result, error) {
	c := host.Cmd{Argv: p.Argv, Dir: p.Dir, Env: p.Env, Line: p.Line, Grace: p.Grace}
	if len(p.Argv) > 0 && isShellName(p.Argv[0]) {
		c.Path, _ = x.LookPath(p.Argv[0])
	}
	res, err := x.jr.hostRun(ctx, x.sc, c)
	return executor.Result{ExitCode: res.ExitCode, Interrupted: res.Interrupted}, err
}

// LookPath looks name up on this machine's PATH (the jail mounts the
// machine's programs read-only where they are).
func (x hostExec) LookPath(name string) (string, error) {
	if x.jr == nil || !isShellName(name) {
		return exec.LookPath(name)
	}
	return x.jr.lookShell(name)
}

// isShellName is whether name is a shell every run step may start: those are found on PATH
// once per job (see lookShell).
func isShellName(name string) bool { return name == "bash" || name == "sh" }

// lookShell finds a shell on sluice's PATH once per job: searching PATH twice per step for
// the same bash cost a step some 20 stat calls. Only a shell that was found is kept; sluice's
// own PATH does not change while the job runs.
func (jr *jobRun) lookShell(name string) (string, error) {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if p, ok := jr.shells[name]; ok {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	if jr.shells == nil {
		jr.shells = map[string]string{}
	}
	jr.shells[name] = p
	return p, nil
}

// inWorkspace resolves a path relative to the workspace and says whether it
// stays inside it after symlinks.
func (jr *jobRun) inWorkspace(p string) (string, error) {
	ws := roots.New(jr.workspace, "")
	abs := ws.Abs(p)
	outside := fmt.Errorf("%s is outside the repository checked out in the workspace (%s): a local action must be inside it", p, jr.workspace)
	if _, _, err := ws.Locate(abs); err != nil {
		return "", outside
	}
	if _, err := ws.Stat(abs); err != nil {
		if roots.IsEscape(err) {
			return "", outside
		}
		return "", fmt.Errorf("local action %s: %w", p, err)
	}
	// Its metadata is read by sluice itself: a link leading out is refused.
	for _, name := range []string{"action.yml", "action.yaml"} {
		if _, err := ws.Stat(filepath.Join(abs, name)); roots.IsEscape(err) {
			return "", fmt.Errorf("%s/%s leads outside the repository checked out in the workspace (%s)", p, name, jr.workspace)
		}
	}
	return abs, nil
}
