package plan

import (
	"fmt"
	"strings"

	"github.com/sluice-ci/sluice/internal/jobspec"
)

// GitHub builds the `github` context of a run: the one place it is made, for `sluice run` and
// for the server alike, wherever GitHub evaluates expressions (concurrency groups, job `if:`,
// runs-on, names, environments, steps). The engine adds what only exists on the runner
// (workspace, event_path, action, job). Jobs of a called workflow see the caller's context,
// as GitHub documents for reusable workflows.
func GitHub(r jobspec.Run) map[string]any {
	refName, refType := r.Ref, "branch"
	switch {
	case strings.HasPrefix(r.Ref, "refs/heads/"):
		refName = strings.TrimPrefix(r.Ref, "refs/heads/")
	case strings.HasPrefix(r.Ref, "refs/tags/"):
		refName, refType = strings.TrimPrefix(r.Ref, "refs/tags/"), "tag"
	case strings.HasPrefix(r.Ref, "refs/pull/"):
		refName = strings.TrimPrefix(r.Ref, "refs/pull/")
	}
	owner, _, _ := strings.Cut(r.Repository, "/")
	payload := r.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	name := r.WorkflowName
	if name == "" {
		name = r.WorkflowPath
	}
	g := map[string]any{
		"event_name":          r.Event,
		"event":               payload,
		"sha":                 r.SHA,
		"ref":                 r.Ref,
		"ref_name":            refName,
		"ref_type":            refType,
		"ref_protected":       false,
		"head_ref":            "",
		"base_ref":            "",
		"repository":          r.Repository,
		"repository_owner":    owner,
		"repositoryUrl":       "git://github.com/" + r.Repository + ".git",
		"actor":               r.Actor,
		"triggering_actor":    r.Actor,
		"run_id":              r.ID,
		"run_number":          fmt.Sprint(r.Number),
		"run_attempt":         fmt.Sprint(max(r.Attempt, 1)),
		"retention_days":      "90",
		"server_url":          "https://github.com",
		"api_url":             "https://api.github.com",
		"graphql_url":         "https://api.github.com/graphql",
		"workflow":            name,
		"workflow_ref":        r.Repository + "/" + r.WorkflowPath + "@" + r.Ref,
		"workflow_sha":        r.SHA,
		"job_workflow_sha":    r.SHA,
		"token":               "",
		"secret_source":       "None",
		"action_repository":   "",
		"repository_id":       "",
		"repository_owner_id": "",
		"actor_id":            "",
	}
	if repo, ok := payload["repository"].(map[string]any); ok {
		if id, ok := repo["id"]; ok {
			g["repository_id"] = fmt.Sprint(id)
		}
		if o, ok := repo["owner"].(map[string]any); ok {
			if id, ok := o["id"]; ok {
				g["repository_owner_id"] = fmt.Sprint(id)
			}
		}
	}
	if s, ok := payload["sender"].(map[string]any); ok {
		if id, ok := s["id"]; ok {
			g["actor_id"] = fmt.Sprint(id)
		}
	}
	// head_ref and base_ref exist only for pull requests (GitHub: "only available when the
	// event that triggers a workflow run is either pull_request or pull_request_target").
	if r.Event == "pull_request" || r.Event == "pull_request_target" {
		if pr, ok := payload["pull_request"].(map[string]any); ok {
			if h, ok := pr["head"].(map[string]any); ok {
				if s, ok := h["ref"].(string); ok {
					g["head_ref"] = s
				}
			}
			if b, ok := pr["base"].(map[string]any); ok {
				if s, ok := b["ref"].(string); ok {
					g["base_ref"] = s
				}
			}
		}
	}
	return g
}
