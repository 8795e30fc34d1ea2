package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/logs"
)

// Where a Docker action sees the job, as GitHub's runner mounts it.
const (
	dockerWorkspace = "/github/workspace"
	dockerHome      = "/github/home"
	dockerFiles     = "/github/file_commands"
	dockerWorkflow  = "/github/workflow"
)

// runnerVar names the runner's own variables, which a container always gets.
var runnerVar = lazyre.New(`^(GITHUB_|RUNNER_)`)

// runDocker runs a Docker action (`runs: using: docker`, image built from
// its Dockerfile or pulled) or a `uses: docker://image` step in a one-off
// container with the workspace mounted, INPUT_* variables, and args and
// entrypoint as GitHub passes them.
func (jr *jobRun) runDocker(ctx context.Context, sc *scope, image string, md *actions.Metadata, ref actions.Ref, id, display string, stepEnv, with map[string]string, ev *expr.Evaluator) stepOutcome {
	e := jr.wr.e
	eng, err := e.ctrs.get(ctx)
	if err != nil {
		return jr.fail(display, fmt.Sprintf("%s runs in a container, and no container engine answers: %v", ref.Raw, err))
	}
	env := map[string]string{}
	for k, v := range stepEnv {
		env[k] = v
	}
	var args []string
	entrypoint := with["entrypoint"]
	if md != nil {
		inputs, err := jr.actionInputs(md, display, with, ev)
		if err != nil {
			return jr.fail(display, err.Error())
		}
		iev := jr.evaluator(sc, stepEnv, ev.Status)
		in := map[string]any{}
		for k, v := range inputs {
			env[inputEnvName(k)] = v
			in[k] = v
		}
		iev.Contexts["inputs"] = in
		for k, v := range md.Env {
			s, err := iev.Interpolate(v)
			if err != nil {
				return jr.fail(display, fmt.Sprintf("runs.env.%s: %v", k, err))
			}
			env[k] = s
		}
		for _, a := range md.Args {
			s, err := iev.Interpolate(a)
			if err != nil {
				return jr.fail(display, fmt.Sprintf("runs.args: %v", err))
			}
			args = append(args, s)
		}
		if entrypoint == "" {
			entrypoint = md.Entrypoint
		}
		switch {
		case strings.HasPrefix(md.Image, "docker://"):
			image = strings.TrimPrefix(md.Image, "docker://")
		default:
			tag, err := eng.BuildImage(ctx, md.Dir, md.Image, func(s string) { jr.lineOut(display, s) })
			if err != nil {
				return jr.fail(display, fmt.Sprintf("building %s: %v", filepath.Join(md.Dir, md.Image), err))
			}
			image = tag
		}
	}
	if a := with["args"]; a != "" {
		if args, err = host.SplitWords(a); err != nil {
			return jr.fail(display, fmt.Sprintf("with.args: %v", err))
		}
	}
	spec := container.ContainerSpec{Image: image, Cmd: args, WorkDir: dockerWorkspace,
		Mounts: []container.Mount{
			{Source: jr.workspace, Target: dockerWorkspace},
			{Source: filepath.Join(jr.temp, "_runner_file_commands"), Target: dockerFiles},
			{Source: filepath.Dir(jr.eventPath), Target: dockerWorkflow},
		}}
	if entrypoint != "" {
		spec.Entrypoint = []string{entrypoint}
	}
	// The container sees the runner's variables with its own paths.
	paths := &container.Executor{Paths: [][2]string{
		{filepath.Join(jr.temp, "_runner_file_commands"), dockerFiles},
		{filepath.Dir(jr.eventPath), dockerWorkflow},
		{jr.workspace, dockerWorkspace},
	}}
	spec.Env = map[string]string{}
	for _, kv := range jr.processEnv(sc, id, env, jr.files) {
		k, v, _ := strings.Cut(kv, "=")
		if bv, ok := e.opts.BaseEnv[k]; (ok && bv == v && !runnerVar.MatchString(k)) || k == "PATH" {
			continue
		}
		spec.Env[k] = paths.Translate(v)
	}
	spec.Env["HOME"] = dockerHome
	network := ""
	if jr.ctr != nil {
		network = jr.ctr.job.Network()
	}
	if err := jr.mountable(spec.Mounts); err != nil {
		return jr.fail(display, fmt.Sprintf("%s: %v", ref.Raw, err))
	}
	p := &lineProcessor{jr: jr, step: display, outputs: map[string]string{}}
	code, err := eng.RunContainer(ctx, spec, network, p.line, e.opts.StepGrace)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	o := stepOutcome{outcome: logs.Success, outputs: p.outputs}
	if o.state, err = jr.applyFiles(jr.files, o.outputs); err != nil {
		return jr.fail(display, err.Error())
	}
	if code != 0 {
		o.outcome, o.why = logs.Failure, fmt.Sprintf("exit code %d", code)
	}
	return o
}
