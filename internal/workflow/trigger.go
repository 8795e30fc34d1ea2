package workflow

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rhysd/actionlint"
)

// Event is what happened in the repository, as much as the trigger filters need to know.
type Event struct {
	Name         string   // push, pull_request, pull_request_target, workflow_dispatch, workflow_call, schedule, ...
	Action       string   // activity type (pull_request: "opened", "synchronize", ...); "" = the event's default
	Ref          string   // push: refs/heads/<b> or refs/tags/<t>; pull_request: the PR's head ref
	BaseRef      string   // pull_request: the base branch name (branch filters match this)
	ChangedFiles []string // paths relative to the repository root; nil = unknown, then paths filters do not block
	// Workflow is, for workflow_run, the name of the workflow whose run it is (matched against
	// `workflows:`); Ref is then that run's branch, which `branches:` filters.
	Workflow string
}

// WorkflowRunFilter is what a workflow_run event's filters match, read from its payload
// (github.event): the name of the workflow whose run completed, and that run's branch as a
// ref. Both paths (the server's trigger and `sluice run workflow_run -e FILE`) read it here.
func WorkflowRunFilter(payload map[string]any) (name, ref string) {
	wr, _ := payload["workflow_run"].(map[string]any)
	name, _ = wr["name"].(string)
	if branch, _ := wr["head_branch"].(string); branch != "" {
		ref = "refs/heads/" + branch
	}
	return name, ref
}

// defaultTypes are the activity types an event triggers for when the workflow lists none; nil
// means every activity type.
func defaultTypes(event string) []string {
	switch event {
	case "pull_request", "pull_request_target":
		return []string{"opened", "synchronize", "reopened"}
	}
	return nil
}

// Triggered reports whether the workflow runs for ev, and when it does not, a short reason.
func (w *Workflow) Triggered(ev Event) (bool, string) {
	if w.AST == nil {
		return false, "workflow has no triggers"
	}
	var names []string
	for _, on := range w.AST.On {
		if !strings.EqualFold(on.EventName(), ev.Name) {
			names = append(names, on.EventName())
			continue
		}
		switch on := on.(type) {
		case *actionlint.WebhookEvent:
			return matchWebhook(on, ev)
		case *actionlint.RepositoryDispatchEvent:
			return matchTypes(ev, strs(on.Types), nil)
		default:
			return true, ""
		}
	}
	if len(names) == 0 {
		return false, "workflow has no triggers"
	}
	return false, fmt.Sprintf("workflow runs on %s, not %s", strings.Join(names, ", "), ev.Name)
}

func matchWebhook(on *actionlint.WebhookEvent, ev Event) (bool, string) {
	name := strings.ToLower(ev.Name)
	if ok, why := matchTypes(ev, strs(on.Types), defaultTypes(name)); !ok {
		return false, why
	}
	isTag := false
	switch name {
	case "push":
		ref := ev.Ref
		if ref == "" {
			break // unknown ref: ref filters cannot decide
		}
		if tag, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
			isTag = true
			if ok, why := matchRef("tag", tag, on.Tags, on.TagsIgnore, on.Branches, on.BranchesIgnore); !ok {
				return false, why
			}
			break
		}
		branch := strings.TrimPrefix(ref, "refs/heads/")
		if ok, why := matchRef("branch", branch, on.Branches, on.BranchesIgnore, on.Tags, on.TagsIgnore); !ok {
			return false, why
		}
	case "pull_request", "pull_request_target":
		if ev.BaseRef != "" {
			base := strings.TrimPrefix(ev.BaseRef, "refs/heads/")
			if ok, why := matchRef("base branch", base, on.Branches, on.BranchesIgnore, nil, nil); !ok {
				return false, why
			}
		}
	case "workflow_run":
		if ev.Workflow == "" {
			return false, "workflow_run: the event names no workflow (github.event.workflow_run.name; `sluice run workflow_run` needs -e FILE with it)"
		}
		if !slices.ContainsFunc(on.Workflows, func(w *actionlint.String) bool { return w != nil && w.Value == ev.Workflow }) {
			return false, fmt.Sprintf("workflow_run: %q is not one of workflows: %s", ev.Workflow, strings.Join(strs(on.Workflows), ", "))
		}
		if ev.Ref != "" {
			branch := strings.TrimPrefix(ev.Ref, "refs/heads/")
			if ok, why := matchRef("branch", branch, on.Branches, on.BranchesIgnore, nil, nil); !ok {
				return false, why
			}
		}
	default:
		if ev.Ref != "" {
			branch := strings.TrimPrefix(ev.Ref, "refs/heads/")
			if ok, why := matchRef("branch", branch, on.Branches, on.BranchesIgnore, nil, nil); !ok {
				return false, why
			}
		}
	}
	// GitHub does not evaluate path filters for tag pushes.
	if isTag || ev.ChangedFiles == nil {
		return true, ""
	}
	return matchPaths(ev.ChangedFiles, on.Paths, on.PathsIgnore)
}

// matchTypes checks the activity type. An event given without one stands for the event's
// default activity, which any listed type that is also a default type accepts.
func matchTypes(ev Event, types, defaults []string) (bool, string) {
	allowed := types
	if len(allowed) == 0 {
		allowed = defaults
	}
	if len(allowed) == 0 {
		return true, ""
	}
	if ev.Action == "" {
		if len(defaults) == 0 || slices.ContainsFunc(allowed, func(t string) bool { return slices.Contains(defaults, t) }) {
			return true, ""
		}
		return false, fmt.Sprintf("%s types %s do not include the default activity (%s)",
			ev.Name, strings.Join(allowed, ", "), strings.Join(defaults, ", "))
	}
	if slices.Contains(allowed, ev.Action) {
		return true, ""
	}
	return false, fmt.Sprintf("%s activity %q is not one of %s", ev.Name, ev.Action, strings.Join(allowed, ", "))
}

// matchRef applies a positive and an ignore filter to a branch or tag name. When the workflow
// filters only the other kind of ref (tags but not branches, say), this kind never matches.
func matchRef(kind, name string, include, ignore, otherInclude, otherIgnore *actionlint.WebhookEventFilter) (bool, string) {
	if include == nil && ignore == nil {
		if otherInclude != nil || otherIgnore != nil {
			return false, fmt.Sprintf("workflow filters only %s, not a %s like %q", otherKind(otherInclude, otherIgnore), kind, name)
		}
		return true, ""
	}
	if include != nil {
		ok, err := matchFilter(include, name)
		if err != nil {
			return false, err.Error()
		}
		if !ok {
			return false, fmt.Sprintf("%s %q does not match %s: %s", kind, name, include.Name.Value, strings.Join(strs(include.Values), ", "))
		}
	}
	if ignore != nil {
		ok, err := matchFilter(ignore, name)
		if err != nil {
			return false, err.Error()
		}
		if ok {
			return false, fmt.Sprintf("%s %q matches %s: %s", kind, name, ignore.Name.Value, strings.Join(strs(ignore.Values), ", "))
		}
	}
	return true, ""
}

func otherKind(include, ignore *actionlint.WebhookEventFilter) string {
	if include != nil {
		return include.Name.Value
	}
	return ignore.Name.Value
}

func matchFilter(f *actionlint.WebhookEventFilter, s string) (bool, error) {
	ps, err := compilePatterns(strs(f.Values))
	if err != nil {
		return false, fmt.Errorf("%s filter: %w", f.Name.Value, err)
	}
	return ps.match(s), nil
}

// matchPaths: paths lets the workflow run when any changed file matches; paths-ignore skips it
// only when every changed file matches.
func matchPaths(files []string, include, ignore *actionlint.WebhookEventFilter) (bool, string) {
	if include != nil {
		ps, err := compilePatterns(strs(include.Values))
		if err != nil {
			return false, fmt.Sprintf("paths filter: %v", err)
		}
		if !slices.ContainsFunc(files, ps.match) {
			return false, "no changed file matches paths: " + strings.Join(strs(include.Values), ", ")
		}
	}
	if ignore != nil && len(files) > 0 {
		ps, err := compilePatterns(strs(ignore.Values))
		if err != nil {
			return false, fmt.Sprintf("paths-ignore filter: %v", err)
		}
		if !slices.ContainsFunc(files, func(f string) bool { return !ps.match(f) }) {
			return false, "every changed file matches paths-ignore: " + strings.Join(strs(ignore.Values), ", ")
		}
	}
	return true, ""
}

func strs(ss []*actionlint.String) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s != nil {
			out = append(out, s.Value)
		}
	}
	return out
}
