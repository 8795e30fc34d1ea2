package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// agentOnlineWindow is how recently an agent must have been seen to be
// listed as online (the store's default for pending reasons).
const agentOnlineWindow = time.Minute

// RunningJob is a job in progress and the agent running it.
type RunningJob struct {
	Job   store.Job `json:"job"`
	Repo  string    `json:"repo"`
	Agent string    `json:"agent,omitempty"`
}

// QueueView is GET /api/v1/queue.
type QueueView struct {
	Pending []store.PendingJob `json:"pending"`
	Running []RunningJob       `json:"running"`
}

// AgentView is an agent with whether it is online and what it runs.
type AgentView struct {
	store.Agent
	Online  bool    `json:"online"`
	Running []int64 `json:"running"` // job IDs
}

// runningJobs lists the jobs in progress: the latest attempts of in-progress
// runs whose status is in_progress.
func (s *Server) runningJobs(ctx context.Context) ([]store.Job, map[int64]string, error) {
	runs, err := s.cfg.DB.ListRuns(ctx, store.RunFilter{Status: store.StatusInProgress, Limit: 10000})
	if err != nil {
		return nil, nil, err
	}
	runRepo := map[int64]int64{}
	var out []store.Job
	for _, rn := range runs {
		jobs, err := s.cfg.DB.ListLatestJobs(ctx, rn.ID)
		if err != nil {
			return nil, nil, err
		}
		for _, j := range jobs {
			if j.Status == store.StatusInProgress {
				j.Spec = nil
				out = append(out, j)
				runRepo[j.RunID] = rn.RepoID
			}
		}
	}
	names := map[int64]string{}
	if len(out) > 0 {
		repos, err := s.cfg.DB.ListRepos(ctx)
		if err != nil {
			return nil, nil, err
		}
		byID := map[int64]string{}
		for _, r := range repos {
			byID[r.ID] = r.Name
		}
		for run, repo := range runRepo {
			names[run] = byID[repo]
		}
	}
	return out, names, nil
}

func (s *Server) apiQueue(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pending, err := s.cfg.DB.PendingJobs(ctx)
	if err != nil {
		s.apiStoreError(w, err, "queue")
		return
	}
	for i := range pending {
		pending[i].Job.Spec = nil
	}
	if pending == nil {
		pending = []store.PendingJob{}
	}
	running, repoOfRun, err := s.runningJobs(ctx)
	if err != nil {
		s.apiStoreError(w, err, "running jobs")
		return
	}
	agents, err := s.cfg.DB.ListAgents(ctx)
	if err != nil {
		s.apiStoreError(w, err, "agents")
		return
	}
	agentName := map[int64]string{}
	for _, a := range agents {
		agentName[a.ID] = a.Name
	}
	q := QueueView{Pending: pending, Running: make([]RunningJob, 0, len(running))}
	for _, j := range running {
		rj := RunningJob{Job: j, Repo: repoOfRun[j.RunID]}
		if j.AgentID != nil {
			rj.Agent = agentName[*j.AgentID]
			if rj.Agent == "" {
				rj.Agent = fmt.Sprintf("agent %d (deleted)", *j.AgentID)
			}
		}
		q.Running = append(q.Running, rj)
	}
	apiJSON(w, http.StatusOK, q)
}

// AgentViews lists the agents, each with whether it is online and the jobs it
// runs. The UI uses it too.
func (s *Server) AgentViews(ctx context.Context) ([]AgentView, error) {
	agents, err := s.cfg.DB.ListAgents(ctx)
	if err != nil {
		return nil, err
	}
	running, _, err := s.runningJobs(ctx)
	if err != nil {
		return nil, err
	}
	byAgent := map[int64][]int64{}
	for _, j := range running {
		if j.AgentID != nil {
			byAgent[*j.AgentID] = append(byAgent[*j.AgentID], j.ID)
		}
	}
	out := make([]AgentView, 0, len(agents))
	now := time.Now()
	for _, a := range agents {
		v := AgentView{Agent: a, Running: byAgent[a.ID]}
		if v.Running == nil {
			v.Running = []int64{}
		}
		v.Online = a.LastSeen != nil && now.Sub(*a.LastSeen) <= agentOnlineWindow
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) apiListAgents(w http.ResponseWriter, r *http.Request) {
	out, err := s.AgentViews(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "agents")
		return
	}
	apiJSON(w, http.StatusOK, map[string]any{"agents": out})
}

func (s *Server) apiDeleteAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	if err := s.cfg.DB.DeleteAgent(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("agent %d", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiQueueByLabels answers, per runs-on label set, how many jobs wait and how many matching
// agents could take them: what an autoscaler reads to add or remove agents.
func (s *Server) apiQueueByLabels(w http.ResponseWriter, r *http.Request) {
	qs, err := s.cfg.DB.QueueByLabels(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "queue")
		return
	}
	apiJSON(w, http.StatusOK, map[string]any{"labels": qs})
}

// DrainRequest is the body of POST /api/v1/agents/{id}/drain.
type DrainRequest struct {
	Drain bool `json:"drain"` // false: take work again
}

// apiDrainAgent drains an agent (no new jobs; running ones finish) or undrains it.
func (s *Server) apiDrainAgent(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	var req DrainRequest
	if !apiDecode(w, r, &req) {
		return
	}
	a, err := s.cfg.DB.SetAgentDraining(r.Context(), id, req.Drain)
	if err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("agent %d", id))
		return
	}
	views, err := s.AgentViews(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "agents")
		return
	}
	for _, v := range views {
		if v.ID == a.ID {
			apiJSON(w, http.StatusOK, v)
			return
		}
	}
	apiJSON(w, http.StatusOK, AgentView{Agent: *a, Running: []int64{}})
}
