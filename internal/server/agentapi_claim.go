package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/store"
)

// agentClaim leases the oldest queued job the agent's labels satisfy, waiting up to 25 s (or
// ?wait=SECONDS, less) for one to appear; 204 means nothing came, ask again.
func (s *Server) agentClaim(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	wait := agentClaimWait
	if v := r.URL.Query().Get("wait"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs < 0 {
			agentError(w, http.StatusBadRequest, "bad wait "+v)
			return
		}
		wait = min(wait, time.Duration(secs*float64(time.Second)))
	}
	ctx := r.Context()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		// Watch before claiming so a job queued in between still wakes us.
		ch, stop := s.cfg.DB.Watch(store.TopicQueue)
		j, err := s.cfg.DB.Claim(ctx, a.ID, a.Labels, agentLease)
		if err == nil {
			stop()
			if s.agentSendClaim(w, r, a, j) {
				return
			}
			continue
		}
		if errors.Is(err, store.ErrDraining) {
			// Drained: no work, and no hurry to ask again; the agent keeps polling so that
			// undraining it needs no restart.
			stop()
			w.Header().Set("Sluice-Agent-Draining", "true")
			select {
			case <-timer.C:
				w.WriteHeader(http.StatusNoContent)
			case <-ctx.Done():
			}
			return
		}
		if !errors.Is(err, store.ErrNoJob) {
			stop()
			if ctx.Err() != nil {
				return
			}
			s.agentFail(w, r, "claiming a job", err)
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			stop()
			w.WriteHeader(http.StatusNoContent)
			return
		case <-ctx.Done():
			stop()
			return
		}
	}
}

// agentSendClaim answers with the claimed job, or reports false when the job could not be
// handed over and the claim should look for another.
func (s *Server) agentSendClaim(w http.ResponseWriter, r *http.Request, a *store.Agent, j *store.Job) bool {
	if r.Context().Err() != nil {
		// The agent hung up between the claim and the answer: put the job back rather than
		// let it sit leased to nobody until the lease runs out.
		queued := store.StatusQueued
		if _, err := s.cfg.DB.UpdateJob(context.WithoutCancel(r.Context()), j.ID, store.JobUpdate{Status: &queued}); err != nil {
			s.cfg.Log.Error("requeueing job of a disconnected agent", "job", j.ID, "err", err)
		}
		return true
	}
	sec, vars, err := s.agentSecrets(r.Context(), j)
	if err != nil {
		// Retrying cannot help (a wrong key, a damaged row): the job fails, saying why.
		s.cfg.Log.Error("reading secrets for job", "job", j.ID, "err", err)
		completed, failure := store.StatusCompleted, store.ConclusionFailure
		reason := "secrets could not be read: " + err.Error()
		if _, err := s.cfg.DB.UpdateJob(r.Context(), j.ID, store.JobUpdate{Status: &completed,
			Conclusion: &failure, Reason: &reason}); err != nil {
			s.agentFail(w, r, "failing job whose secrets could not be read", err)
			return true
		}
		s.agentJobFinished(r, j.RunID, j.ID)
		return false
	}
	s.cfg.Log.Info("job leased", "job", j.ID, "run", j.RunID, "key", j.Key, "agent", a.Name)
	if run, err := s.cfg.DB.GetRun(r.Context(), j.RunID); err == nil && run.StartedAt != nil && j.StartedAt != nil &&
		run.StartedAt.Equal(*j.StartedAt) {
		s.agentReportRun(run.ID) // this claim started the run
	}
	agentJSON(w, http.StatusOK, jobspec.Claim{
		Job:  jobspec.JobRef{ID: j.ID, RunID: j.RunID, Key: j.Key, Name: j.Name, Attempt: j.Attempt, Labels: j.Labels},
		Spec: j.Spec, Secrets: sec, Vars: vars, LeaseSeconds: int(agentLease / time.Second)})
	return true
}

// agentSecrets decrypts what the job may see: the repository's secrets over server-wide ones,
// and, for a job deploying to an environment whose gates passed (its promotion is in
// progress), that environment's secrets over both and its variables; nothing for a pull
// request from a fork.
func (s *Server) agentSecrets(ctx context.Context, j *store.Job) (secretsOut, vars map[string]string, err error) {
	// The agent's part of the spec (jobspec.Spec) and the scheduler's
	// bookkeeping beside it (scheduler.Spec): the deployment it carries out.
	var spec struct {
		jobspec.Spec
		Environment string `json:"environment"`
		Promotion   int64  `json:"promotion"`
	}
	if len(j.Spec) > 0 {
		if err := json.Unmarshal(j.Spec, &spec); err != nil {
			return nil, nil, fmt.Errorf("reading spec of job %d: %w", j.ID, err)
		}
	}
	out := map[string]string{}
	if spec.Run.Fork {
		return out, nil, nil
	}
	run, err := s.cfg.DB.GetRun(ctx, j.RunID)
	if err != nil {
		return nil, nil, err
	}
	list, err := s.cfg.DB.SecretsForRepo(ctx, run.RepoID)
	if err != nil {
		return nil, nil, err
	}
	var envValues []store.EnvValue
	if spec.Environment != "" && spec.Promotion != 0 {
		p, err := s.cfg.DB.GetPromotion(ctx, spec.Promotion)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the promotion of job %d: %w", j.ID, err)
		}
		// Only a deployment that passed its environment's gates (it is
		// under way) gets the environment's values.
		if p.State == cd.StateInProgress && p.Env == spec.Environment && p.RepoID == run.RepoID {
			if envValues, err = s.cfg.DB.EnvValues(ctx, run.RepoID, spec.Environment, ""); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(list) == 0 && len(envValues) == 0 {
		return out, nil, nil
	}
	if s.cfg.Keys == nil {
		return nil, nil, errors.New("secrets are set but the server has no key")
	}
	repo, err := s.cfg.DB.GetRepo(ctx, run.RepoID)
	if err != nil {
		return nil, nil, err
	}
	for _, sec := range list {
		scope := repo.Name
		if sec.RepoID == nil {
			scope = "" // server-wide
		}
		pt, err := s.cfg.Keys.Open(sec.Ciphertext, SecretContext(scope, sec.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("decrypting secret %s: %w", SecretContext(scope, sec.Name), err)
		}
		out[sec.Name] = string(pt)
	}
	for _, v := range envValues {
		if v.Kind == store.EnvVar {
			if vars == nil {
				vars = map[string]string{}
			}
			vars[v.Name] = string(v.Value)
			continue
		}
		pt, err := s.cfg.Keys.Open(v.Value, EnvSecretContext(repo.Name, v.Environment, v.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("decrypting secret %s: %w", EnvSecretContext(repo.Name, v.Environment, v.Name), err)
		}
		out[v.Name] = string(pt)
	}
	return out, vars, nil
}
