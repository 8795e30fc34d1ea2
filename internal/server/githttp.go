package server

import (
	"net/http"
	"net/http/cgi"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// gitRoutes serves the repository mirrors read-only over git's smart HTTP
// protocol, so agents fetch a job's commit from the server and never need
// the forge's credentials.
func (s *Server) gitRoutes() {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return
	}
	h := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Join(s.cfg.DataDir, "repos"),
			"GIT_HTTP_EXPORT_ALL=1",
			// Agents fetch the exact commit of their job, which a branch may
			// no longer point at.
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=uploadpack.allowAnySHA1InWant", "GIT_CONFIG_VALUE_0=true",
		},
	}
	s.mux.Handle("/git/", http.StripPrefix("/git", s.gitAuth(h)))
}

// gitAuth admits an agent token or any API token; pushes are refused.
func (s *Server) gitAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			http.Error(w, "read-only", http.StatusForbidden)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			if _, p, basic := r.BasicAuth(); basic {
				tok, ok = p, true
			}
		}
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice"`)
			http.Error(w, "a token is required", http.StatusUnauthorized)
			return
		}
		hash := secrets.HashToken(tok)
		if _, err := s.cfg.DB.GetAgentByTokenHash(r.Context(), hash); err != nil {
			if _, err := s.cfg.DB.GetTokenByHash(r.Context(), hash); err != nil {
				http.Error(w, "invalid token", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// CloneURL is the URL the scheduler fetches a repository from: its URL with
// the repository's credentials (a token, or user:password) for https.
func CloneURL(keys *secrets.Keyring, r *store.Repo) string {
	st, err := OpenRepoSettings(keys, r)
	if err != nil || st.Credentials == "" {
		return r.URL
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return r.URL
	}
	if user, pass, ok := strings.Cut(st.Credentials, ":"); ok {
		u.User = url.UserPassword(user, pass)
	} else {
		u.User = url.UserPassword("x-access-token", st.Credentials)
	}
	return u.String()
}
