package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiDispatchActor is the run actor of a dispatch from the web UI: a session
// does not remember which credential signed it in.
const uiDispatchActor = "web-ui"

// uiGitTimeout bounds reading the workflow list from a mirror, so a page
// never hangs on git.
const uiGitTimeout = 5 * time.Second

// uiInputName is what GitHub accepts as a workflow_dispatch input name.
var uiInputName = lazyre.New(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// uiOption is one <option> of a select.
type uiOption struct {
	Value, Label string
	Selected     bool
}

// uiRepoForm is the "Add repository" form. It never carries the webhook
// secret, credentials or status token: a re-rendered form asks for them again.
type uiRepoForm struct {
	CSRF          string
	Name          string
	URL           string
	DefaultBranch string
	Forge         string
	APIURL        string
	Error         string
}

// ForgeOptions lists the forges commit statuses can go to, the form's one selected.
func (f *uiRepoForm) ForgeOptions() []uiOption {
	opts := []uiOption{{"", "none", false}, {"github", "GitHub", false}, {"gitea", "Gitea / Forgejo", false}, {"gitlab", "GitLab", false}}
	for i := range opts {
		opts[i].Selected = opts[i].Value == f.Forge
	}
	return opts
}

// CanAdmin reports whether the session may add repositories.
func (s *uiSession) CanAdmin() bool { return uiScopeAllows(s.Scope, store.ScopeAdmin) }

// NewRepoForm is the empty "Add repository" form of the repositories page.
func (s *uiSession) NewRepoForm() *uiRepoForm {
	return &uiRepoForm{CSRF: s.CSRF, DefaultBranch: "main"}
}

func (ui *uiApp) addRepo(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	form := &uiRepoForm{
		CSRF:          sess.CSRF,
		Name:          strings.TrimSpace(r.PostFormValue("name")),
		URL:           strings.TrimSpace(r.PostFormValue("url")),
		DefaultBranch: strings.TrimSpace(r.PostFormValue("default_branch")),
		Forge:         strings.TrimSpace(r.PostFormValue("forge")),
		APIURL:        strings.TrimSpace(r.PostFormValue("api_url")),
	}
	in := RepoInput{Name: form.Name, URL: form.URL, DefaultBranch: form.DefaultBranch, Forge: form.Forge, APIURL: form.APIURL,
		WebhookSecret: r.PostFormValue("webhook_secret"), Credentials: r.PostFormValue("credentials"),
		StatusToken: r.PostFormValue("status_token")}
	sealed := in.WebhookSecret != "" || in.Credentials != "" || in.StatusToken != "" || in.Forge != "" || in.APIURL != ""
	if sealed && ui.s.cfg.Keys == nil {
		http.Error(w, "the server has no secret key", http.StatusServiceUnavailable)
		return
	}
	v, err := ui.s.CreateRepo(r.Context(), in)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		form.Error = ie.Error()
		ui.renderRepoForm(w, r, sess, form, http.StatusBadRequest)
	case errors.Is(err, store.ErrConflict):
		form.Error = fmt.Sprintf("A repository named %s already exists.", in.Name)
		ui.renderRepoForm(w, r, sess, form, http.StatusConflict)
	case err != nil:
		ui.fail(w, r, fmt.Errorf("adding repository %s: %w", in.Name, err))
	default:
		uiBack(w, r, "/repos/"+url.PathEscape(v.Name), "Repository "+v.Name+" added.")
	}
}

func (ui *uiApp) renderRepoForm(w http.ResponseWriter, r *http.Request, sess *uiSession, form *uiRepoForm, status int) {
	ui.render(w, r, "repo_add.html", status, uiView{Title: "Add repository", Nav: "repos", Session: sess, Data: form})
}

// uiDispatchForm is the "Run workflow" form of a repository page.
type uiDispatchForm struct {
	CSRF      string
	Repo      string
	Workflows []uiOption // the default branch's workflow files; none: a text field instead
	Workflow  string
	Ref       string
	Inputs    string // name=value lines, as typed
	Error     string
}

// dispatchForm is the empty "Run workflow" form of repo, nil when the session
// may not dispatch.
func (ui *uiApp) dispatchForm(ctx context.Context, repo *store.Repo, sess *uiSession) *uiDispatchForm {
	if !sess.CanWrite() {
		return nil
	}
	f := &uiDispatchForm{CSRF: sess.CSRF, Repo: repo.Name, Ref: repo.DefaultBranch}
	f.Workflows = uiWorkflowOptions(ui.listWorkflows(ctx, repo), "")
	return f
}

func (ui *uiApp) dispatch(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	repo, err := ui.s.cfg.DB.GetRepoByName(ctx, r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		ui.notFound(w, r, sess, "repository "+r.PathValue("name"))
		return
	}
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	form := &uiDispatchForm{CSRF: sess.CSRF, Repo: repo.Name, Workflow: strings.TrimSpace(r.PostFormValue("workflow")),
		Ref: strings.TrimSpace(r.PostFormValue("ref")), Inputs: r.PostFormValue("inputs")}
	fail := func(status int, msg string) {
		form.Error = msg
		form.Workflows = uiWorkflowOptions(ui.listWorkflows(ctx, repo), form.Workflow)
		ui.render(w, r, "dispatch.html", status, uiView{Title: "Run workflow · " + repo.Name, Nav: "repos", Session: sess, Data: form})
	}
	inputs, err := uiParseInputs(form.Inputs)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	runs, err := ui.s.Dispatch(ctx, repo, DispatchInput{Workflow: form.Workflow, Ref: form.Ref, Inputs: inputs}, uiDispatchActor)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		fail(http.StatusBadRequest, ie.Error())
	case err != nil:
		fail(http.StatusUnprocessableEntity, "The workflow did not start: "+err.Error())
	case len(runs) == 0:
		fail(http.StatusUnprocessableEntity, "No run started: the workflow does not run on workflow_dispatch.")
	default:
		uiBack(w, r, fmt.Sprintf("/runs/%d", runs[0].ID), "Started "+form.Workflow+".")
	}
}

// uiParseInputs reads workflow inputs given as name=value lines; blank lines
// are skipped and spaces around names and values dropped.
func uiParseInputs(text string) (map[string]string, error) {
	var out map[string]string
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("inputs line %d (%q): want name=value", i+1, line)
		}
		k = strings.TrimSpace(k)
		if !uiInputName.MatchString(k) {
			return nil, fmt.Errorf("inputs line %d: %q is not an input name (letters, digits, '-' and '_', not starting with a digit)", i+1, k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("inputs line %d: input %s is given twice", i+1, k)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// Dispatch starts workflow_dispatch runs of in.Workflow at in.Ref (the
// repository's default branch when empty) for the API and the UI. Invalid
// input is an *apiInputError; any other error is the scheduler's refusal.
func (s *Server) Dispatch(ctx context.Context, repo *store.Repo, in DispatchInput, actor string) ([]store.Run, error) {
	wf, err := dispatchWorkflowPath(in.Workflow)
	if err != nil {
		return nil, &apiInputError{err}
	}
	ref := in.Ref
	if ref == "" {
		if repo.DefaultBranch == "" {
			return nil, &apiInputError{errors.New("ref is required: the repository has no default branch")}
		}
		ref = "refs/heads/" + repo.DefaultBranch
	}
	if strings.ContainsAny(ref, " \t\r\n") {
		return nil, &apiInputError{fmt.Errorf("invalid ref %q", ref)}
	}
	runs, err := s.cfg.Scheduler.Trigger(ctx, repo, Trigger{
		Event: "workflow_dispatch", Ref: ref, Workflow: wf, Inputs: in.Inputs,
		Actor: actor, Source: store.TriggerDispatch,
		Payload: map[string]any{"inputs": in.Inputs, "ref": ref, "workflow": wf},
	})
	if err != nil {
		s.cfg.Log.Warn("dispatch", "repo", repo.Name, "workflow", wf, "err", err)
		return runs, err
	}
	return runs, nil
}

// listWorkflows lists the workflow files on repo's default branch ("main"
// when unset) in the server's mirror (DATA/repos/<id>.git, which the
// scheduler fetches), without asking the scheduler. It is nil when there is
// no mirror yet or git cannot read it: the form then takes a file name.
func (ui *uiApp) listWorkflows(ctx context.Context, repo *store.Repo) []string {
	if ui.s.cfg.DataDir == "" {
		return nil
	}
	dir := filepath.Join(ui.s.cfg.DataDir, "repos", fmt.Sprintf("%d.git", repo.ID))
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	branch := repo.DefaultBranch
	if branch == "" {
		branch = "main"
	}
	ctx, cancel := context.WithTimeout(ctx, uiGitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "--git-dir", dir, "ls-tree", "-z", "--end-of-options", "refs/heads/"+branch, "--", ".github/workflows/")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		ui.s.cfg.Log.Debug("ui: listing workflows", "repo", repo.Name, "err", err, "stderr", strings.TrimSpace(stderr.String()))
		return nil
	}
	var out []string
	for _, entry := range strings.Split(stdout.String(), "\x00") {
		// "<mode> <type> <object>\t<path>"
		meta, p, ok := strings.Cut(entry, "\t")
		if !ok || len(strings.Fields(meta)) < 2 || strings.Fields(meta)[1] != "blob" {
			continue
		}
		if strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml") {
			out = append(out, p)
		}
	}
	return out
}

// uiWorkflowOptions makes the workflow select's options, selected marked.
func uiWorkflowOptions(paths []string, selected string) []uiOption {
	var opts []uiOption
	for _, p := range paths {
		opts = append(opts, uiOption{Value: p, Label: path.Base(p), Selected: p == selected || path.Base(p) == selected})
	}
	return opts
}
