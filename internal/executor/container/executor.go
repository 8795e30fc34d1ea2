package container

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/executor"
	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Executor runs processes in a started job's container. The engine gives it this machine's
// paths; it maps them to where the container mounts them, and keeps the host's own
// environment (HostEnv) on the host.
type Executor struct {
	Job *Job
	// Paths maps host path prefixes to where the container sees them.
	Paths [][2]string
	// HostEnv is the environment processes start from on the host; a variable with the
	// same value there is the host's and is not passed in (GITHUB_* and RUNNER_* are).
	HostEnv map[string]string
	// ImagePATH is PATH inside the container; HasBash says whether it has bash.
	ImagePATH string
	HasBash   bool
}

var _ executor.Executor = (*Executor)(nil)

// NewExecutor maps paths longest prefix first and asks the container for its PATH and
// whether it has bash (GitHub's default shell is bash when the image has it).
func NewExecutor(ctx context.Context, job *Job, paths [][2]string, hostEnv map[string]string) *Executor {
	x := &Executor{Job: job, Paths: append([][2]string(nil), paths...), HostEnv: hostEnv}
	sort.SliceStable(x.Paths, func(a, b int) bool { return len(x.Paths[a][0]) > len(x.Paths[b][0]) })
	var out []string
	code, err := job.Exec(ctx, ExecSpec{Argv: []string{"sh", "-c", "echo \"$PATH\"; command -v bash >/dev/null && echo bash"},
		Line: func(s string) { out = append(out, s) }}, 0)
	if err == nil && code == 0 && len(out) > 0 {
		x.ImagePATH = out[0]
		x.HasBash = len(out) > 1 && out[1] == "bash"
	}
	return x
}

// Path maps one host path to the container's.
func (x *Executor) Path(p string) string {
	for _, m := range x.Paths {
		if p == m[0] || strings.HasPrefix(p, m[0]+"/") {
			return m[1] + strings.TrimPrefix(p, m[0])
		}
	}
	return p
}

// Translate rewrites the host paths inside a value (an environment variable's).
func (x *Executor) Translate(v string) string {
	for _, m := range x.Paths {
		v = strings.ReplaceAll(v, m[0], m[1])
	}
	return v
}

var runnerVar = lazyre.New(`^(GITHUB_|RUNNER_)`)

// Env is env as the container sees it: paths translated, the host's own variables left out,
// and PATH made of what the job added (GITHUB_PATH) in front of the image's PATH.
func (x *Executor) Env(env []string) []string {
	var out []string
	hostPATH := x.HostEnv["PATH"]
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			added := ""
			switch {
			case v == hostPATH:
			case hostPATH != "" && strings.HasSuffix(v, ":"+hostPATH):
				added = strings.TrimSuffix(v, ":"+hostPATH)
			default:
				added = v
			}
			if x.ImagePATH == "" {
				continue
			}
			if added == "" {
				out = append(out, "PATH="+x.ImagePATH)
				continue
			}
			var parts []string
			for _, p := range strings.Split(added, ":") {
				parts = append(parts, x.Path(p))
			}
			out = append(out, "PATH="+strings.Join(append(parts, x.ImagePATH), ":"))
			continue
		}
		if hv, ok := x.HostEnv[k]; ok && hv == v && !runnerVar.MatchString(k) {
			continue
		}
		out = append(out, k+"="+x.Translate(v))
	}
	return out
}

// Run runs p in the job container.
func (x *Executor) Run(ctx context.Context, p executor.Process) (executor.Result, error) {
	argv := make([]string, len(p.Argv))
	for i, a := range p.Argv {
		argv[i] = x.Path(a)
	}
	code, err := x.Job.Exec(ctx, ExecSpec{Argv: argv, Env: x.Env(p.Env), WorkDir: x.Path(p.Dir), Line: p.Line}, p.Grace)
	return executor.Result{ExitCode: code, Interrupted: ctx.Err() != nil}, err
}

// LookPath answers for bash from what the image has; other programs are taken to be there
// (a missing one fails the process inside, with the image's own message).
func (x *Executor) LookPath(name string) (string, error) {
	if name == "bash" && !x.HasBash {
		return "", fmt.Errorf("%s is not in the image", name)
	}
	return name, nil
}
