package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/store"
)

// uiSecretName is what GitHub accepts as a secret name (stored upper-case).
var uiSecretName = lazyre.New(`^[A-Z_][A-Z0-9_]*$`)

type uiSecretScope struct {
	Key     string // form value: "server" or "repo:ID"
	Label   string
	Secrets []store.Secret // names and times only: the page never sees values
}

type uiSecretsData struct {
	Scopes []uiSecretScope
}

func (ui *uiApp) secretsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ctx := r.Context()
	repos, err := ui.s.cfg.DB.ListRepos(ctx)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	var d uiSecretsData
	add := func(key, label string, repoID *int64) error {
		list, err := ui.s.cfg.DB.ListSecrets(ctx, repoID)
		if err != nil {
			return err
		}
		for i := range list {
			list[i].Ciphertext = nil // never handed to a template
		}
		d.Scopes = append(d.Scopes, uiSecretScope{Key: key, Label: label, Secrets: list})
		return nil
	}
	if err := add("server", "Server-wide (every repository)", nil); err != nil {
		ui.fail(w, r, err)
		return
	}
	for _, repo := range repos {
		id := repo.ID
		if err := add(fmt.Sprintf("repo:%d", id), repo.Name, &id); err != nil {
			ui.fail(w, r, err)
			return
		}
	}
	ui.render(w, r, "secrets.html", http.StatusOK, uiView{Title: "Secrets", Nav: "secrets", Session: sess, Data: d})
}

// parseScope reads a scope form value: the repository (nil for server-wide)
// and its name ("" for server-wide), which SecretContext binds ciphertexts to.
func (ui *uiApp) parseScope(r *http.Request) (*int64, string, error) {
	v := r.PostFormValue("scope")
	if v == "server" {
		return nil, "", nil
	}
	s, ok := strings.CutPrefix(v, "repo:")
	if !ok {
		return nil, "", fmt.Errorf("unknown scope %q", v)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, "", fmt.Errorf("unknown scope %q", v)
	}
	repo, err := ui.s.cfg.DB.GetRepo(r.Context(), id)
	if err != nil {
		return nil, "", fmt.Errorf("scope %q: %w", v, err)
	}
	return &id, repo.Name, nil
}

func (ui *uiApp) secretSet(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repoID, repoName, err := ui.parseScope(r)
	if err != nil {
		uiBack(w, r, "/secrets", err.Error())
		return
	}
	name := strings.ToUpper(strings.TrimSpace(r.PostFormValue("name")))
	value := r.PostFormValue("value")
	switch {
	case !uiSecretName.MatchString(name):
		uiBack(w, r, "/secrets", "A secret name has letters, digits and underscores, and does not start with a digit.")
		return
	case strings.HasPrefix(name, "GITHUB_"):
		uiBack(w, r, "/secrets", "Secret names cannot start with GITHUB_.")
		return
	case value == "":
		uiBack(w, r, "/secrets", "A secret needs a value.")
		return
	case ui.s.cfg.Keys == nil:
		http.Error(w, "the server has no secret key", http.StatusServiceUnavailable)
		return
	}
	ct, err := ui.s.cfg.Keys.Seal([]byte(value), SecretContext(repoName, name))
	if err != nil {
		ui.fail(w, r, fmt.Errorf("sealing secret %s: %w", name, err))
		return
	}
	if _, err := ui.s.cfg.DB.PutSecret(r.Context(), repoID, name, ct); err != nil {
		ui.fail(w, r, err)
		return
	}
	uiBack(w, r, "/secrets", "Secret "+name+" saved.")
}

func (ui *uiApp) secretDelete(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repoID, _, err := ui.parseScope(r)
	if err != nil {
		uiBack(w, r, "/secrets", err.Error())
		return
	}
	name := r.PostFormValue("name")
	err = ui.s.cfg.DB.DeleteSecret(r.Context(), repoID, name)
	if errors.Is(err, store.ErrNotFound) {
		uiBack(w, r, "/secrets", "No secret "+name+" there.")
		return
	}
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	uiBack(w, r, "/secrets", "Secret "+name+" deleted.")
}

// uiBack redirects to path with a one-line message the page shows.
func uiBack(w http.ResponseWriter, r *http.Request, path, flash string) {
	http.Redirect(w, r, path+"?flash="+url.QueryEscape(flash), http.StatusSeeOther)
}
