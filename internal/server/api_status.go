package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// ReportStatus sets the commit statuses of run on its forge when the repository has a forge
// and a status token; otherwise it does nothing. It posts one status for the workflow
// ("sluice/<workflow> (<event>)") and one per job that is queued, running or done
// ("<workflow> / <job> (<event>)", as GitHub names check runs), each linking to the run page,
// so a push run and a pull_request run of one commit, or two jobs, never overwrite each
// other's result. A status already posted with the same state and description is not posted
// again. Call it whenever the run or one of its jobs changes.
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
	// One report of a run at a time, reading the run under the lock: reports started in one
	// order reach the forge in that order, so an older "running" never lands after "failed".
	sent := s.statuses.lock(run.ID)
	defer s.statuses.unlock(run.ID, sent)
	if fresh, err := s.cfg.DB.GetRun(ctx, run.ID); err == nil {
		run = fresh
	}
	jobs, err := s.cfg.DB.ListJobStates(ctx, run.ID)
	if err != nil {
		return fmt.Errorf("reporting the status of run %d: listing its jobs: %w", run.ID, err)
	}
	target := strings.TrimSuffix(s.cfg.BaseURL, "/") + fmt.Sprintf("/runs/%d", run.ID)
	for _, st := range runStatuses(run, jobs) {
		st.SHA, st.TargetURL = run.SHA, target
		key := string(st.State) + " " + st.Description
		if sent.contexts[st.Context] == key {
			continue
		}
		if err := c.SetStatus(ctx, full, st); err != nil {
			return fmt.Errorf("reporting the status of run %d to %s: %w", run.ID, c.Kind, err)
		}
		sent.contexts[st.Context] = key
	}
	sent.done = run.Status == store.StatusCompleted
	return nil
}

// runStatuses are the commit statuses run and its jobs stand at: the workflow's, then one per
// job that an agent may take or has finished (a job waiting for its needs has none yet, and a
// matrix job expanded into legs is stood for by its legs).
func runStatuses(run *store.Run, jobs []store.Job) []forge.Status {
	state, desc := runStatusState(run)
	out := []forge.Status{{Context: statusContext(run), State: state, Description: desc}}
	for _, j := range store.Shown(jobs) {
		state, desc, ok := jobStatusState(&j)
		if !ok {
			continue
		}
		out = append(out, forge.Status{Context: jobStatusContext(run, &j), State: state, Description: desc})
	}
	return out
}

// statusWorkflow is the workflow's part of run's status contexts.
func statusWorkflow(run *store.Run) string {
	switch {
	case run.StatusName != "":
		return run.StatusName
	case run.WorkflowName != "":
		return run.WorkflowName
	}
	return path.Base(run.Workflow)
}

// statusContext names run's workflow status: "sluice/<workflow> (<event>)", after its event as
// GitHub names check runs, so a push run and a pull_request run of one workflow on one commit
// report apart and neither overwrites the other's result.
func statusContext(run *store.Run) string {
	if run.Event == "" {
		return "sluice/" + statusWorkflow(run)
	}
	return fmt.Sprintf("sluice/%s (%s)", statusWorkflow(run), run.Event)
}

// jobStatusContext names job j's status as GitHub shows its check run: "CI / test (push)";
// a matrix leg is "CI / test (3.12) (push)", a called workflow's job "CI / call / build (push)".
func jobStatusContext(run *store.Run, j *store.Job) string {
	name := j.Name
	if name == "" {
		name = j.Key
	}
	if run.Event == "" {
		return statusWorkflow(run) + " / " + name
	}
	return fmt.Sprintf("%s / %s (%s)", statusWorkflow(run), name, run.Event)
}

// jobStatusState is job j's commit status; ok is false while it waits for its needs.
func jobStatusState(j *store.Job) (forge.State, string, bool) {
	switch j.Status {
	case store.StatusWaiting:
		return "", "", false
	case store.StatusQueued:
		return forge.Pending, "queued", true
	case store.StatusInProgress:
		return forge.Pending, "running", true
	}
	switch j.Conclusion {
	case store.ConclusionSuccess:
		return forge.Success, "succeeded", true
	case store.ConclusionSkipped:
		return forge.Success, "skipped", true
	case store.ConclusionCancelled:
		return forge.Error, "cancelled", true
	}
	if j.Tolerated {
		return forge.Failure, "failed (continue-on-error: the run goes on)", true
	}
	return forge.Failure, "failed", true
}

// sentStatuses remembers, per run, the statuses posted to the forge, and serialises a run's
// reports. A run's entry goes when the run has completed and its last report is done (a
// re-run starts a new one; posting a status again is harmless).
type sentStatuses struct {
	mu   sync.Mutex
	runs map[int64]*runStatusesSent
}

type runStatusesSent struct {
	mu       sync.Mutex
	users    int
	done     bool
	contexts map[string]string // context → "state description" last posted
}

func (m *sentStatuses) lock(runID int64) *runStatusesSent {
	m.mu.Lock()
	if m.runs == nil {
		m.runs = map[int64]*runStatusesSent{}
	}
	r := m.runs[runID]
	if r == nil {
		r = &runStatusesSent{contexts: map[string]string{}}
		m.runs[runID] = r
	}
	r.users++
	m.mu.Unlock()
	r.mu.Lock()
	return r
}

func (m *sentStatuses) unlock(runID int64, r *runStatusesSent) {
	done := r.done
	r.mu.Unlock()
	m.mu.Lock()
	r.users--
	if r.users == 0 && done {
		delete(m.runs, runID)
	}
	m.mu.Unlock()
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
