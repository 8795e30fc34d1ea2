package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// RepoSettings is what store.Repo.Credentials holds, sealed as JSON with the
// context RepoCredentialsContext(name): the credentials to fetch the
// repository and how to report commit statuses to its forge.
type RepoSettings struct {
	// Credentials authenticate fetches: a token or "user:password" for https
	// URLs, or a private key for ssh. Its use is the scheduler's.
	Credentials string `json:"credentials,omitempty"`
	// StatusToken is a forge API token allowed to set commit statuses.
	StatusToken string `json:"status_token,omitempty"`
	// Forge is github, gitea or gitlab ("" when statuses are off).
	Forge string `json:"forge,omitempty"`
	// APIURL is the forge's API root; empty means derived from the URL.
	APIURL string `json:"api_url,omitempty"`
}

// RepoWebhookContext is the Keyring context of a repository's webhook secret.
func RepoWebhookContext(repoName string) string { return "repo:" + repoName + ":webhook" }

// RepoCredentialsContext is the Keyring context of a repository's sealed
// RepoSettings.
func RepoCredentialsContext(repoName string) string { return "repo:" + repoName + ":credentials" }

// SecretContext is the Keyring context of secret name: repoName is "" for a
// server-wide secret.
func SecretContext(repoName, name string) string {
	if repoName == "" {
		repoName = "*"
	}
	return "secret:" + repoName + ":" + name
}

// OpenRepoSettings decrypts r's settings; a repo without any is zero.
func OpenRepoSettings(keys *secrets.Keyring, r *store.Repo) (RepoSettings, error) {
	var st RepoSettings
	if len(r.Credentials) == 0 {
		return st, nil
	}
	b, err := keys.Open(r.Credentials, RepoCredentialsContext(r.Name))
	if err != nil {
		return st, fmt.Errorf("opening the credentials of repo %s: %w", r.Name, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading the credentials of repo %s: %w", r.Name, err)
	}
	return st, nil
}

// OpenWebhookSecret decrypts r's webhook secret; nil when none is set.
func OpenWebhookSecret(keys *secrets.Keyring, r *store.Repo) ([]byte, error) {
	if len(r.WebhookSecret) == 0 {
		return nil, nil
	}
	b, err := keys.Open(r.WebhookSecret, RepoWebhookContext(r.Name))
	if err != nil {
		return nil, fmt.Errorf("opening the webhook secret of repo %s: %w", r.Name, err)
	}
	return b, nil
}

// RepoInput is the body of POST /api/v1/repos.
type RepoInput struct {
	Name          string `json:"name"`
	URL           string `json:"url"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
	Credentials   string `json:"credentials,omitempty"`
	DefaultBranch string `json:"default_branch,omitempty"`
	StatusToken   string `json:"status_token,omitempty"`
	Forge         string `json:"forge,omitempty"`
	APIURL        string `json:"api_url,omitempty"`
	// ForkRunsWithoutApproval lets pull requests from forks run without a
	// maintainer's approval (off by default).
	ForkRunsWithoutApproval bool `json:"fork_runs_without_approval,omitempty"`
}

// RepoView is a repository as the API shows it: secrets only as flags.
type RepoView struct {
	ID               int64     `json:"id"`
	Name             string    `json:"name"`
	URL              string    `json:"url"`
	DefaultBranch    string    `json:"default_branch"`
	Forge            string    `json:"forge,omitempty"`
	APIURL           string    `json:"api_url,omitempty"`
	HasWebhookSecret bool      `json:"has_webhook_secret"`
	HasCredentials   bool      `json:"has_credentials"`
	HasStatusToken   bool      `json:"has_status_token"`
	CreatedAt        time.Time `json:"created_at"`
	// ForkRunsWithoutApproval: pull requests from forks run without a
	// maintainer's approval.
	ForkRunsWithoutApproval bool `json:"fork_runs_without_approval"`
}

// repoNameRE is a repository name: one segment, or OWNER/NAME as on its
// forge; each segment starts with a letter or digit, so none is "." or "..".
var repoNameRE = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$`)

func (in *RepoInput) validate() error {
	if !repoNameRE.MatchString(in.Name) {
		return fmt.Errorf("invalid repository name %q: use letters, digits, '.', '_' and '-' (at most 100), or OWNER/NAME as on the forge", in.Name)
	}
	if in.URL == "" {
		return errors.New("url is required")
	}
	if strings.ContainsAny(in.URL, " \t\r\n") {
		return fmt.Errorf("invalid url %q", in.URL)
	}
	if u, err := url.Parse(in.URL); err == nil && u.Scheme != "" && u.Scheme != "file" && u.Scheme != "https" &&
		u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "git" {
		return fmt.Errorf("unsupported url scheme %q: use file://, https://, http://, ssh:// or git@host:path", u.Scheme)
	}
	if in.Forge != "" {
		k, err := forge.ParseKind(in.Forge)
		if err != nil {
			return err
		}
		in.Forge = string(k)
	}
	if in.StatusToken != "" && in.Forge == "" {
		return errors.New("status_token needs forge (github, gitea or gitlab)")
	}
	if in.APIURL != "" {
		if u, err := url.Parse(in.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("invalid api_url %q: want an http(s) URL", in.APIURL)
		}
	}
	if strings.HasPrefix(in.DefaultBranch, "refs/") || strings.ContainsAny(in.DefaultBranch, " \t\r\n~^:?*[\\") {
		return fmt.Errorf("invalid default_branch %q: give a branch name such as main", in.DefaultBranch)
	}
	return nil
}

// CreateRepo validates in, seals its secrets and stores the repository.
// The UI uses it too.
func (s *Server) CreateRepo(ctx context.Context, in RepoInput) (*RepoView, error) {
	if err := in.validate(); err != nil {
		return nil, &apiInputError{err}
	}
	r := store.Repo{Name: in.Name, URL: in.URL, DefaultBranch: in.DefaultBranch, ForkRunsWithoutApproval: in.ForkRunsWithoutApproval}
	if in.WebhookSecret != "" {
		b, err := s.cfg.Keys.Seal([]byte(in.WebhookSecret), RepoWebhookContext(in.Name))
		if err != nil {
			return nil, fmt.Errorf("sealing the webhook secret: %w", err)
		}
		r.WebhookSecret = b
	}
	st := RepoSettings{Credentials: in.Credentials, StatusToken: in.StatusToken, Forge: in.Forge, APIURL: in.APIURL}
	if st != (RepoSettings{}) {
		js, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		if r.Credentials, err = s.cfg.Keys.Seal(js, RepoCredentialsContext(in.Name)); err != nil {
			return nil, fmt.Errorf("sealing the credentials: %w", err)
		}
	}
	out, err := s.cfg.DB.CreateRepo(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.repoView(out, &st), nil
}

// apiInputError is a validation failure: the API answers 400 with its text.
type apiInputError struct{ err error }

func (e *apiInputError) Error() string { return e.err.Error() }
func (e *apiInputError) Unwrap() error { return e.err }

func (s *Server) repoView(r *store.Repo, st *RepoSettings) *RepoView {
	v := &RepoView{ID: r.ID, Name: r.Name, URL: redactURL(r.URL), DefaultBranch: r.DefaultBranch,
		HasWebhookSecret: len(r.WebhookSecret) > 0, CreatedAt: r.CreatedAt, ForkRunsWithoutApproval: r.ForkRunsWithoutApproval}
	if st == nil {
		got, err := OpenRepoSettings(s.cfg.Keys, r)
		if err != nil {
			s.cfg.Log.Warn("api: repo settings", "repo", r.Name, "err", err)
		}
		st = &got
	}
	v.Forge, v.APIURL = st.Forge, st.APIURL
	v.HasCredentials, v.HasStatusToken = st.Credentials != "", st.StatusToken != ""
	return v
}

// redactURL hides a password embedded in a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		return u.Redacted()
	}
	return raw
}

func (s *Server) apiCreateRepo(w http.ResponseWriter, r *http.Request) {
	var in RepoInput
	if !apiDecode(w, r, &in) {
		return
	}
	v, err := s.CreateRepo(r.Context(), in)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		apiError(w, http.StatusBadRequest, ie.Error())
	case err != nil:
		s.apiStoreError(w, err, "repository "+in.Name)
	default:
		apiJSON(w, http.StatusCreated, v)
	}
}

func (s *Server) apiListRepos(w http.ResponseWriter, r *http.Request) {
	repos, err := s.cfg.DB.ListRepos(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "repositories")
		return
	}
	out := make([]*RepoView, 0, len(repos))
	for i := range repos {
		out = append(out, s.repoView(&repos[i], nil))
	}
	apiJSON(w, http.StatusOK, map[string]any{"repos": out})
}

// apiRepo loads the repository named by the {name} wildcard, answering 404
// itself.
func (s *Server) apiRepo(w http.ResponseWriter, r *http.Request) (*store.Repo, bool) {
	name := r.PathValue("name")
	repo, err := s.cfg.DB.GetRepoByName(r.Context(), name)
	if err != nil {
		s.apiStoreError(w, err, "repository "+name)
		return nil, false
	}
	return repo, true
}

func (s *Server) apiGetRepo(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	apiJSON(w, http.StatusOK, s.repoView(repo, nil))
}

func (s *Server) apiDeleteRepo(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	if err := s.cfg.DB.DeleteRepo(r.Context(), repo.ID); err != nil {
		s.apiStoreError(w, err, "repository "+repo.Name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// DispatchInput is the body of POST /api/v1/repos/{name}/dispatch.
type DispatchInput struct {
	Workflow string            `json:"workflow"`
	Ref      string            `json:"ref,omitempty"`
	Inputs   map[string]string `json:"inputs,omitempty"`
}

func (s *Server) apiDispatch(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return
	}
	var in DispatchInput
	if !apiDecode(w, r, &in) {
		return
	}
	runs, err := s.Dispatch(r.Context(), repo, in, apiActor(r))
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		apiError(w, http.StatusBadRequest, ie.Error())
		return
	case err != nil:
		apiError(w, http.StatusUnprocessableEntity, "dispatch failed: "+err.Error())
		return
	}
	apiJSON(w, http.StatusCreated, map[string]any{"runs": apiRunViews(runs, repo.Name)})
}

// dispatchWorkflowPath accepts "ci.yml" as well as ".github/workflows/ci.yml".
func dispatchWorkflowPath(wf string) (string, error) {
	if wf == "" {
		return "", errors.New("workflow is required (a file name such as ci.yml)")
	}
	if strings.Contains(wf, "..") || strings.HasPrefix(wf, "/") || strings.ContainsAny(wf, "\\\x00\r\n") {
		return "", fmt.Errorf("invalid workflow %q", wf)
	}
	if !strings.Contains(wf, "/") {
		wf = ".github/workflows/" + wf
	}
	if !strings.HasSuffix(wf, ".yml") && !strings.HasSuffix(wf, ".yaml") {
		return "", fmt.Errorf("invalid workflow %q: want a .yml or .yaml file", wf)
	}
	return wf, nil
}
