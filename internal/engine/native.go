package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/logs"
)

// nativeStep is the engine's side of a native action: it gives the action
// what a `run:` step has (env, runner-file effects, processes, logs).
type nativeStep struct {
	jr      *jobRun
	sc      *scope
	id      string
	display string
	stepEnv map[string]string
	lines   *lineProcessor
}

func (jr *jobRun) runNative(ctx context.Context, sc *scope, native actions.Native, id, display string, stepEnv map[string]string, with map[string]string) stepOutcome {
	ns := &nativeStep{jr: jr, sc: sc, id: id, display: display, stepEnv: stepEnv,
		lines: &lineProcessor{jr: jr, step: display, outputs: map[string]string{}}}
	outs, err := native(ctx, ns, with)
	jr.closeStepJail()
	// A native action's processes may write the runner files too.
	if _, ferr := jr.applyFiles(jr.files, map[string]string{}); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return jr.fail(display, err.Error())
	}
	if outs == nil {
		outs = map[string]string{}
	}
	return stepOutcome{outcome: logs.Success, outputs: outs}
}

func (s *nativeStep) Context() actions.StepContext {
	e := s.jr.wr.e
	env := map[string]string{}
	for _, kv := range s.jr.processEnv(s.sc, s.id, s.stepEnv, s.jr.files) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return actions.StepContext{
		Workspace:     s.jr.workspace,
		Temp:          s.jr.temp,
		JobDir:        s.jr.root,
		ToolCache:     e.opts.ToolCache,
		StateDir:      e.opts.StateDir,
		ArtifactDir:   e.opts.ArtifactDir,
		RunID:         s.jr.wr.run.ID,
		Repository:    s.jr.wr.run.Repository,
		RepoIdentity:  e.repoIdentity(),
		BaseRef:       e.baseRef(),
		DefaultBranch: e.defaultBranch,
		RepoRoot:      e.opts.RepoRoot,
		CloneSource:   e.opts.CloneSource,
		SHA:           s.jr.wr.run.SHA,
		Ref:           s.jr.wr.run.Ref,
		WorkingTree:   e.opts.WorkingTree,
		JobKey:        s.jr.key(),
		EnvReuse:      e.opts.EnvReuse,
		Env:           env,
		Cache:         e.opts.Cache,
		Roots:         s.jr.roots(),
		Contained:     e.opts.Sandbox != nil,
		ToolEnv:       toolEnv(e.opts.BaseEnv),
	}
}

// toolEnv is the environment of a process sluice runs for itself: the
// machine's base environment, nothing a workflow set.
func toolEnv(base map[string]string) []string {
	out := make([]string, 0, len(base))
	for _, k := range sortedKeys(base) {
		out = append(out, k+"="+base[k])
	}
	return out
}

func (s *nativeStep) AddRoot(dir string, writable bool) { s.jr.addRoot(dir, writable) }

func (s *nativeStep) Log(line string) { s.jr.lineOut(s.display, line) }

func (s *nativeStep) Warn(msg string) {
	s.jr.annotate(s.display, logs.Annotation{Level: "warning", Message: msg})
}

func (s *nativeStep) Debug(msg string) {
	e := s.jr.wr.e
	e.emit(logs.Event{Kind: logs.Debug, Job: s.jr.name, Step: s.display, Text: e.opts.Masker.Mask(msg)})
}

func (s *nativeStep) SetEnv(name, value string) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	s.jr.fileEnv[name] = value
}

func (s *nativeStep) AddPath(dir string) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	s.jr.path = append([]string{dir}, s.jr.path...)
}

func (s *nativeStep) AddMask(secret string) { s.jr.wr.e.opts.Masker.Add(secret) }

func (s *nativeStep) Exec(ctx context.Context, argv []string, dir string, extra map[string]string) (int, error) {
	env := s.jr.processEnv(s.sc, s.id, s.stepEnv, s.jr.files)
	for _, k := range sortedKeys(extra) {
		env = append(env, k+"="+extra[k])
	}
	if dir == "" {
		dir = s.jr.workspace
	}
	// A native's process acts for the job, with the job's environment: it
	// runs in the job's sandbox like a step.
	res, err := s.jr.hostRun(ctx, s.sc, host.Cmd{Argv: argv, Dir: dir, Env: env, Line: s.lines.line, Grace: s.jr.wr.e.opts.StepGrace})
	if err != nil {
		return -1, fmt.Errorf("running %s: %w", filepath.Base(argv[0]), err)
	}
	return res.ExitCode, nil
}

func (s *nativeStep) Output(ctx context.Context, argv []string, dir string, readOnly []string) (string, error) {
	env := s.jr.processEnv(s.sc, s.id, s.stepEnv, s.jr.files)
	env = append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	if dir == "" {
		dir = s.jr.workspace
	}
	var out strings.Builder
	var errTail []string
	res, err := s.jr.hostRun(ctx, s.sc, host.Cmd{Argv: argv, Dir: dir, Env: env, Stdout: &out, Grace: s.jr.wr.e.opts.StepGrace,
		Line: func(l string) {
			if errTail = append(errTail, l); len(errTail) > 10 {
				errTail = errTail[1:]
			}
		}}, readOnly...)
	if err != nil {
		return "", fmt.Errorf("running %s: %w", filepath.Base(argv[0]), err)
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(strings.Join(errTail, "\n"))
		if msg == "" {
			msg = fmt.Sprintf("exit code %d", res.ExitCode)
		}
		return out.String(), fmt.Errorf("%s %s: %s", filepath.Base(argv[0]), firstArg(argv), s.jr.wr.e.opts.Masker.Mask(msg))
	}
	return out.String(), nil
}

// firstArg is the first argument that is not an option (git's subcommand).
func firstArg(argv []string) string {
	for _, a := range argv[1:] {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

func (s *nativeStep) AddPost(p actions.Post) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	s.jr.posts = append(s.jr.posts, postStep{post: p, sc: s.sc, id: s.id, stepEnv: s.stepEnv})
}

type postStep struct {
	post    actions.Post
	sc      *scope
	id      string
	stepEnv map[string]string
}

// runPosts runs the registered post steps, last registered first, the way
// the runner runs actions' post: entries after the job's own steps.
func (jr *jobRun) runPosts() {
	e := jr.wr.e
	jr.mu.Lock()
	posts := jr.posts
	jr.posts = nil
	jr.mu.Unlock()
	for i := len(posts) - 1; i >= 0; i-- {
		p := posts[i]
		display := "Post " + p.post.Name
		if !p.post.Always && (p.sc.failed || jr.jobCancelled()) {
			e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: display, Result: logs.Skipped})
			continue
		}
		start := time.Now()
		e.emit(logs.Event{Kind: logs.StepStarted, Job: jr.name, Step: display})
		ns := &nativeStep{jr: jr, sc: p.sc, id: p.id, display: display, stepEnv: p.stepEnv,
			lines: &lineProcessor{jr: jr, step: display, outputs: map[string]string{}}}
		ctx := jr.ctx
		if ctx.Err() != nil {
			ctx = e.hard
		}
		res, why := logs.Success, ""
		if err := p.post.Run(ctx, ns); err != nil {
			// A failing post step is reported but, like a cache that could
			// not be saved, does not fail the job.
			ns.Warn(err.Error())
			res, why = logs.Failure, err.Error()
		}
		e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: display, Result: res, Duration: time.Since(start), Text: why})
	}
}

func (jr *jobRun) lineOut(step, text string) {
	e := jr.wr.e
	e.emit(logs.Event{Kind: logs.Line, Job: jr.name, Step: step, Text: e.opts.Masker.Mask(text)})
}
