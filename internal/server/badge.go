package server

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// badgeScan bounds how many runs a badge looks through for its workflow.
const badgeScan = 500

// apiBadge draws /badge/{repo}.svg?branch=&workflow=: the result of the
// latest completed run. Badges are public, as READMEs embed them.
func (s *Server) apiBadge(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok || name == "" {
		apiError(w, http.StatusNotFound, "badges are at /badge/REPO.svg")
		return
	}
	q := r.URL.Query()
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache, max-age=0")
	repo, err := s.cfg.DB.GetRepoByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
		w.Write(forge.Badge(name, "not found", ""))
		return
	}
	if err != nil {
		s.apiStoreError(w, err, "repository "+name)
		return
	}
	wf := q.Get("workflow")
	label := repo.Name
	var runs []store.Run
	if wf != "" {
		label = wf
		run, err := s.latestCompletedRun(r.Context(), repo, q.Get("branch"), wf)
		if err != nil {
			s.apiStoreError(w, err, "runs")
			return
		}
		if run != nil {
			runs = []store.Run{*run}
			if run.WorkflowName != "" {
				label = run.WorkflowName
			}
		}
	} else {
		var err error
		if runs, err = s.latestCompletedRuns(r.Context(), repo, q.Get("branch")); err != nil {
			s.apiStoreError(w, err, "runs")
			return
		}
	}
	if len(runs) == 0 {
		w.Write(forge.Badge(label, "no runs", ""))
		return
	}
	msg, st := badgeMessage(badgeConclusion(runs))
	w.Write(forge.Badge(label, msg, st))
}

// badgeConclusion sums up the latest run of each workflow: failing if any
// failed, passing if all passed, else the first other conclusion.
func badgeConclusion(runs []store.Run) string {
	out := store.ConclusionSuccess
	for _, r := range runs {
		switch {
		case r.Conclusion == store.ConclusionFailure:
			return store.ConclusionFailure
		case r.Conclusion != store.ConclusionSuccess && out == store.ConclusionSuccess:
			out = r.Conclusion
		}
	}
	return out
}

// latestCompletedRuns finds the newest completed run of each workflow of
// repo on branch (default: the repository's default branch), looking at the
// newest badgeScan completed runs.
func (s *Server) latestCompletedRuns(ctx context.Context, repo *store.Repo, branch string) ([]store.Run, error) {
	f := badgeFilter(repo, branch)
	seen := map[string]bool{}
	var out []store.Run
	for n := 0; n < badgeScan; {
		runs, err := s.cfg.DB.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if !seen[r.Workflow] {
				seen[r.Workflow] = true
				out = append(out, r)
			}
		}
		if len(runs) < f.Limit {
			break
		}
		n += len(runs)
		f.Before = runs[len(runs)-1].ID
	}
	return out, nil
}

func badgeFilter(repo *store.Repo, branch string) store.RunFilter {
	f := store.RunFilter{RepoID: repo.ID, Status: store.StatusCompleted, Limit: 100}
	if branch == "" {
		branch = repo.DefaultBranch
	}
	if branch != "" {
		f.Ref = "refs/heads/" + strings.TrimPrefix(branch, "refs/heads/")
	}
	return f
}

func badgeMessage(conclusion string) (string, forge.State) {
	switch conclusion {
	case store.ConclusionSuccess:
		return "passing", forge.Success
	case store.ConclusionFailure:
		return "failing", forge.Failure
	case store.ConclusionCancelled:
		return "cancelled", ""
	}
	return conclusion, ""
}

// latestCompletedRun finds the newest completed run of repo on branch
// (default: the repository's default branch, or any when it has none) of
// workflow (a path, a file name or a workflow name; "" for any).
func (s *Server) latestCompletedRun(ctx context.Context, repo *store.Repo, branch, workflow string) (*store.Run, error) {
	f := badgeFilter(repo, branch)
	for seen := 0; seen < badgeScan; {
		runs, err := s.cfg.DB.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		for i := range runs {
			if workflowMatches(&runs[i], workflow) {
				return &runs[i], nil
			}
		}
		if len(runs) < f.Limit {
			return nil, nil
		}
		seen += len(runs)
		f.Before = runs[len(runs)-1].ID
	}
	return nil, nil
}

func workflowMatches(r *store.Run, wf string) bool {
	return wf == "" || r.Workflow == wf || path.Base(r.Workflow) == wf || strings.EqualFold(r.WorkflowName, wf)
}
