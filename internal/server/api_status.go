package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// ReportStatus sets the commit status of run's workflow on its forge
// (statusContext: "sluice/<workflow name> (<event>)", linking to BaseURL/runs/{id}) when the
// repository has a forge and a status token; otherwise it does nothing.
// Call it when a run is created, starts and completes.
func (s *Server) ReportStatus(ctx context.Context, run *store.Run) error {
	if run.SHA == "" {
		return nil
	}
	repo, err := s.cfg.DB.GetRepo(ctx, run.RepoID)
	if err != nil {
		return fmt.Errorf("reporting the status of run %d: %w", run.ID, err)
	}
	c, full, err := s.forgeClient(repo, run.Payload)
	if err != nil || c == nil {
		if err != nil {
			return fmt.Errorf("reporting the status of run %d: %w", run.ID, err)
		}
		return nil
	}
	state, desc := runStatusState(run)
	err = c.SetStatus(ctx, full, forge.Status{SHA: run.SHA, Context: statusContext(run), Description: desc,
		TargetURL: strings.TrimSuffix(s.cfg.BaseURL, "/") + fmt.Sprintf("/runs/%d", run.ID), State: state})
	if err != nil {
		return fmt.Errorf("reporting the status of run %d to %s: %w", run.ID, c.Kind, err)
	}
	return nil
}

// statusContext names run's commit status: "sluice/<workflow name> (<event>)", as GitHub
// names check runs after their event, so a push run and a pull_request run of one workflow on
// one commit report apart and neither overwrites the other's result.
func statusContext(run *store.Run) string {
	wf := run.WorkflowName
	if wf == "" {
		wf = path.Base(run.Workflow)
	}
	if run.Event == "" {
		return "sluice/" + wf
	}
	return fmt.Sprintf("sluice/%s (%s)", wf, run.Event)
}

// forgeClient is the API client of repo's forge and the repository's full
// name there; nil when the repository has no forge or status token.
// payload is a webhook payload naming the repository, if any.
func (s *Server) forgeClient(repo *store.Repo, payload []byte) (*forge.Client, string, error) {
	st, err := OpenRepoSettings(s.cfg.Keys, repo)
	if err != nil {
		return nil, "", err
	}
	if st.Forge == "" || st.StatusToken == "" {
		return nil, "", nil
	}
	kind, err := forge.ParseKind(st.Forge)
	if err != nil {
		return nil, "", err
	}
	full := payloadFullName(payload)
	if full == "" {
		full = repoMatchKeyCase(repo.URL)
	}
	if full == "" {
		return nil, "", fmt.Errorf("cannot tell the repository's full name from %s", redactURL(repo.URL))
	}
	api := st.APIURL
	if api == "" {
		if api, err = forge.APIBaseURL(kind, webURL(repo.URL), full); err != nil {
			return nil, "", fmt.Errorf("%w; set api_url on the repository", err)
		}
	}
	return &forge.Client{Kind: kind, BaseURL: api, Token: st.StatusToken, HTTP: &http.Client{Timeout: 30 * time.Second}}, full, nil
}

func runStatusState(run *store.Run) (forge.State, string) {
	switch run.Status {
	case store.StatusQueued:
		return forge.Pending, "queued"
	case store.StatusInProgress:
		return forge.Pending, "running"
	}
	switch run.Conclusion {
	case store.ConclusionSuccess, store.ConclusionSkipped:
		return forge.Success, "succeeded"
	case store.ConclusionCancelled:
		return forge.Error, "cancelled"
	}
	return forge.Failure, "failed"
}

// payloadFullName is the webhook payload's repository full name.
func payloadFullName(payload []byte) string {
	ids := payloadRepoIDs(payload)
	if len(ids) == 0 || strings.Contains(ids[0], "://") {
		return ""
	}
	return ids[0]
}

// repoMatchKeyCase is repoMatchKey keeping the case: "owner/name".
func repoMatchKeyCase(raw string) string {
	k := repoMatchKey(raw)
	if k == "" {
		return ""
	}
	low := strings.ToLower(raw)
	if i := strings.LastIndex(low, k); i >= 0 {
		return raw[i : i+len(k)]
	}
	return k
}

// webURL turns a clone URL into the repository's web URL for APIBaseURL.
func webURL(raw string) string {
	if !strings.Contains(raw, "://") {
		// git@host:owner/name.git
		if at := strings.Index(raw, "@"); at >= 0 {
			host, p, _ := strings.Cut(raw[at+1:], ":")
			return "https://" + host + "/" + strings.TrimSuffix(p, ".git")
		}
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = nil
	if u.Scheme == "ssh" || u.Scheme == "git" {
		u.Scheme = "https"
		u.Host = u.Hostname()
	}
	u.Path = strings.TrimSuffix(u.Path, ".git")
	return u.String()
}
