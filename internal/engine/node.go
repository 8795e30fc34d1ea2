package engine

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
)

// inputEnvName is how the runner passes input NAME to a JavaScript action.
func inputEnvName(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// runNode runs a JavaScript action with the machine's node: pre (when it
// asks for one), main now, and post after the job's steps, with INPUT_*
// variables and the state main saved through GITHUB_STATE.
func (jr *jobRun) runNode(ctx context.Context, sc *scope, md *actions.Metadata, ref actions.Ref, id, display string, stepEnv map[string]string, with map[string]string, ev *expr.Evaluator) stepOutcome {
	node, err := exec.LookPath("node")
	if err != nil {
		return jr.fail(display, fmt.Sprintf("%s is a JavaScript action (%s) and needs node on PATH: install Node.js (apt-get install nodejs)", md.File, md.Using))
	}
	inputs, err := jr.actionInputs(md, display, with, ev)
	if err != nil {
		return jr.fail(display, err.Error())
	}
	env := map[string]string{}
	for k, v := range stepEnv {
		env[k] = v
	}
	for k, v := range inputs {
		env[inputEnvName(k)] = v
	}
	env["GITHUB_ACTION_REPOSITORY"] = strings.TrimSuffix(ref.Owner+"/"+ref.Repo, "/")
	env["GITHUB_ACTION_REF"] = ref.Ref
	asc := &scope{steps: sc.steps, inputs: sc.inputs, env: sc.env, actionPath: md.Dir, display: sc.display, depth: sc.depth}
	run := func(ctx context.Context, display, script string, extra map[string]string) stepOutcome {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range extra {
			e[k] = v
		}
		return jr.runProcess(ctx, asc, id, display, e, []string{node, filepath.Join(md.Dir, script)}, jr.workspace, "", false)
	}
	if md.Pre != "" && condTrue(ev, md.PreIf) {
		if o := run(ctx, display, md.Pre, nil); o.outcome != logs.Success {
			o.why = "pre: " + o.why
			return o
		}
	}
	if md.Main == "" {
		return jr.fail(display, md.File+": runs.main is missing")
	}
	o := run(ctx, display, md.Main, nil)
	if md.Post != "" {
		state := map[string]string{}
		for k, v := range o.state {
			state["STATE_"+k] = v
		}
		postIf := md.PostIf
		jr.mu.Lock()
		jr.posts = append(jr.posts, postStep{post: actions.Post{
			Name:   md.Name,
			Always: postIf == "" || strings.Contains(postIf, "always()"),
			Run: func(ctx context.Context, s actions.Step) error {
				if p := run(ctx, "Post "+md.Name, md.Post, state); p.outcome != logs.Success {
					return fmt.Errorf("post: %s", p.why)
				}
				return nil
			},
		}, sc: sc, id: id, stepEnv: stepEnv})
		jr.mu.Unlock()
	}
	return o
}

// condTrue evaluates a pre-if/post-if; empty means always.
func condTrue(ev *expr.Evaluator, cond string) bool {
	if strings.TrimSpace(cond) == "" {
		return true
	}
	ok, err := ev.Condition(cond)
	return err == nil && ok
}
