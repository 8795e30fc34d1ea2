package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
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
	s.mux.Handle("/git/", http.StripPrefix("/git", s.gitAuth(s.gitSync(h))))
}

// MirrorSyncer brings a repository's mirror on this replica up to the commits an agent wants;
// the scheduler implements it. Without one, /git/ serves the mirror as it is.
type MirrorSyncer interface {
	SyncMirror(ctx context.Context, repoID int64, wants []string) error
}

// gitUploadMax bounds an upload-pack request read to find its wants: want and have lines are
// a few dozen bytes each.
const gitUploadMax = 4 << 20

var gitPathRepo = lazyre.New(`^/(\d+)\.git/`)

// gitSync makes the mirror this replica serves hold what the request asks for: several
// replicas each keep their own mirrors, and the replica an agent fetches from may not be the
// one that planned its run. The first request of a fetch (info/refs) creates a missing mirror;
// an upload-pack request's "want" lines fetch any commit the mirror lacks.
func (s *Server) gitSync(h http.Handler) http.Handler {
	syncer, ok := s.cfg.Scheduler.(MirrorSyncer)
	if !ok {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := gitPathRepo.FindStringSubmatch(r.URL.Path)
		if m == nil {
			h.ServeHTTP(w, r)
			return
		}
		repoID, _ := strconv.ParseInt(m[1], 10, 64)
		var wants []string
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, gitUploadMax))
			if err != nil {
				http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if wants, err = uploadPackWants(body, r.Header.Get("Content-Encoding")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		if err := syncer.SyncMirror(r.Context(), repoID, wants); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.Log.Warn("bringing a mirror up to date for an agent", "repo", repoID, "err", err)
		}
		h.ServeHTTP(w, r)
	})
}

var hexSHA = lazyre.New(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// uploadPackWants reads the object ids of the "want" lines of a git upload-pack request
// (pkt-lines, gzipped when the client says so), protocol v0 or v2.
func uploadPackWants(body []byte, encoding string) ([]string, error) {
	if encoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("reading the gzipped request: %w", err)
		}
		if body, err = io.ReadAll(io.LimitReader(zr, gitUploadMax)); err != nil {
			return nil, fmt.Errorf("reading the gzipped request: %w", err)
		}
	}
	var wants []string
	for len(body) >= 4 {
		n, err := strconv.ParseUint(string(body[:4]), 16, 16)
		if err != nil {
			return nil, fmt.Errorf("not a git pkt-line request")
		}
		if n < 4 { // flush, delimiter, response-end
			body = body[4:]
			continue
		}
		if int(n) > len(body) {
			return nil, fmt.Errorf("a truncated git pkt-line request")
		}
		line := strings.TrimSpace(string(body[4:n]))
		body = body[n:]
		if rest, ok := strings.CutPrefix(line, "want "); ok {
			id, _, _ := strings.Cut(rest, " ")
			if hexSHA.MatchString(id) {
				wants = append(wants, id)
			}
		}
	}
	return wants, nil
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
