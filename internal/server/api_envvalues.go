package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/store"
)

// Environment secrets and variables: set, listed (secrets by name only) and removed per
// repository and environment. A job gets them only when it deploys to that environment and the
// environment's gates passed (agentClaim). The same handlers serve the repository's own
// variables (/repos/{name}/vars, no environment), which every run sees (the scheduler puts them
// in the run's vars context when it makes the run).

// EnvValueView is an environment's secret (never its value) or variable.
type EnvValueView struct {
	Environment string    `json:"environment"`
	Kind        string    `json:"kind"`
	Name        string    `json:"name"`
	Value       string    `json:"value,omitempty"` // variables only
	UpdatedAt   time.Time `json:"updated_at"`
}

// EnvSecretContext binds an environment secret's ciphertext to its repository, environment and
// name.
func EnvSecretContext(repoName, env, name string) string {
	return "env-secret:" + repoName + ":" + env + ":" + name
}

func envValueKind(r *http.Request) string {
	if strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"+r.PathValue("value")), "/vars") {
		return store.EnvVar
	}
	return store.EnvSecret
}

// repoLevel reports whether r names the repository's own variables, not an environment's.
func repoLevel(r *http.Request) bool {
	return !strings.Contains(r.URL.Path, "/environments/")
}

func (s *Server) apiListEnvValues(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	list, err := s.cfg.DB.EnvValues(r.Context(), repo.ID, r.PathValue("env"), envValueKind(r))
	if err != nil {
		s.apiStoreError(w, err, "environment values")
		return
	}
	out := make([]EnvValueView, 0, len(list))
	for _, v := range list {
		ev := EnvValueView{Environment: v.Environment, Kind: v.Kind, Name: v.Name, UpdatedAt: v.UpdatedAt}
		if v.Kind == store.EnvVar {
			ev.Value = string(v.Value)
		}
		out = append(out, ev)
	}
	apiJSON(w, http.StatusOK, map[string]any{"values": out})
}

func (s *Server) apiPutEnvValue(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	env, kind := r.PathValue("env"), envValueKind(r)
	name, err := secretName(r.PathValue("value"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if (env == "" && !repoLevel(r)) || len(env) > 100 {
		apiError(w, http.StatusBadRequest, "an environment name of at most 100 characters is required")
		return
	}
	var in struct {
		Value *string `json:"value"`
	}
	if !apiDecode(w, r, &in) {
		return
	}
	if in.Value == nil {
		apiError(w, http.StatusBadRequest, "value is required")
		return
	}
	if len(*in.Value) > maxSecretSize {
		apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("value over %d bytes", maxSecretSize))
		return
	}
	value := []byte(*in.Value)
	if kind == store.EnvSecret {
		if value, err = s.cfg.Keys.Seal(value, EnvSecretContext(repo.Name, env, name)); err != nil {
			s.apiStoreError(w, err, "sealing secret "+name)
			return
		}
	}
	if err := s.cfg.DB.PutEnvValue(r.Context(), store.EnvValue{RepoID: repo.ID, Environment: env, Kind: kind, Name: name, Value: value}); err != nil {
		s.apiStoreError(w, err, kind+" "+name)
		return
	}
	apiJSON(w, http.StatusOK, EnvValueView{Environment: env, Kind: kind, Name: name, UpdatedAt: time.Now()})
}

func (s *Server) apiDeleteEnvValue(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	name, err := secretName(r.PathValue("value"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	kind := envValueKind(r)
	if err := s.cfg.DB.DeleteEnvValue(r.Context(), repo.ID, r.PathValue("env"), kind, name); err != nil {
		s.apiStoreError(w, err, kind+" "+name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
