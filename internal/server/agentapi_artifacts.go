package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/store"
)

// agentMaxArtifact bounds one uploaded artifact zip.
const agentMaxArtifact = 10 << 30

// agentArtifact is an artifact as the agent protocol shows it.
type agentArtifact struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	Digest  string    `json:"digest"`
	Files   int       `json:"files"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

func toAgentArtifact(a artifacts.Artifact) agentArtifact {
	return agentArtifact{ID: a.ID, Name: a.Name, Size: a.Size, Digest: a.Digest, Files: a.Files,
		Created: a.Created, Expires: a.Expires}
}

// agentRun returns the run named in the path when agent a is running one of its jobs: an agent
// reaches the artifacts of the runs it works on, no others.
func (s *Server) agentRun(w http.ResponseWriter, r *http.Request, a *store.Agent) (int64, bool) {
	runID, err := strconv.ParseInt(r.PathValue("run"), 10, 64)
	if err != nil {
		agentError(w, http.StatusBadRequest, "bad run id "+r.PathValue("run"))
		return 0, false
	}
	if s.cfg.Artifacts == nil {
		agentError(w, http.StatusNotImplemented, "the server keeps no artifacts")
		return 0, false
	}
	runs, err := s.cfg.DB.AgentRunsJobOf(r.Context(), a.ID, runID)
	if err != nil {
		s.agentFail(w, r, "checking the agent's jobs", err)
		return 0, false
	}
	if runs {
		return runID, true
	}
	agentError(w, http.StatusForbidden, fmt.Sprintf("agent %s runs no job of run %d", a.Name, runID))
	return 0, false
}

// agentUploadArtifact stores the zip body as artifact ?name= of the run. Query options:
// retention_days, overwrite=true, compression_level (0-9, default 6).
func (s *Server) agentUploadArtifact(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	runID, ok := s.agentRun(w, r, a)
	if !ok {
		return
	}
	q := r.URL.Query()
	opts := artifacts.UploadOptions{IncludeHidden: true, IfNoFilesFound: "error", CompressionLevel: 6,
		Overwrite: q.Get("overwrite") == "true"}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"retention_days", &opts.RetentionDays}, {"compression_level", &opts.CompressionLevel}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				agentError(w, http.StatusBadRequest, fmt.Sprintf("bad %s %q", f.name, v))
				return
			}
			*f.dst = n
		}
	}
	art, _, err := s.cfg.Artifacts.Import(r.Context(), strconv.FormatInt(runID, 10), q.Get("name"),
		http.MaxBytesReader(w, r.Body, agentMaxArtifact), opts)
	if err != nil {
		agentError(w, http.StatusBadRequest, err.Error())
		return
	}
	agentJSON(w, http.StatusOK, toAgentArtifact(*art))
}

func (s *Server) agentListArtifacts(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	runID, ok := s.agentRun(w, r, a)
	if !ok {
		return
	}
	list, err := s.cfg.Artifacts.List(strconv.FormatInt(runID, 10))
	if err != nil {
		s.agentFail(w, r, "listing artifacts", err)
		return
	}
	out := make([]agentArtifact, 0, len(list))
	for _, art := range list {
		out = append(out, toAgentArtifact(art))
	}
	agentJSON(w, http.StatusOK, out)
}

func (s *Server) agentDownloadArtifact(w http.ResponseWriter, r *http.Request, a *store.Agent) {
	runID, ok := s.agentRun(w, r, a)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		agentError(w, http.StatusBadRequest, "bad artifact id "+r.PathValue("id"))
		return
	}
	run := strconv.FormatInt(runID, 10)
	list, err := s.cfg.Artifacts.List(run)
	if err != nil {
		s.agentFail(w, r, "listing artifacts", err)
		return
	}
	var found *artifacts.Artifact
	for i := range list {
		if list[i].ID == id {
			found = &list[i]
		}
	}
	if found == nil {
		agentError(w, http.StatusNotFound, fmt.Sprintf("artifact %d not found in run %d", id, runID))
		return
	}
	rc, err := s.cfg.Artifacts.Open(run, id)
	if err != nil {
		s.agentFail(w, r, "opening artifact", err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.FormatInt(found.Size, 10))
	w.Header().Set("X-Artifact-Digest", found.Digest)
	w.Header().Set("X-Artifact-Name", found.Name)
	if _, err := io.Copy(w, rc); err != nil {
		s.cfg.Log.Warn("sending artifact", "run", runID, "id", id, "err", err)
	}
}
