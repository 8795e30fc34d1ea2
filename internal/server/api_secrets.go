package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// maxSecretSize is GitHub's limit for one secret (48 KiB).
const maxSecretSize = 48 << 10

var secretNameRE = lazyre.New(`^[A-Z_][A-Z0-9_]{0,127}$`)

// SecretView is a secret as the API lists it: never its value.
type SecretView struct {
	Name      string    `json:"name"`
	Repo      string    `json:"repo,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// secretName validates a secret name the way GitHub does; names are
// case-insensitive and kept upper-case.
func secretName(raw string) (string, error) {
	n := strings.ToUpper(raw)
	if !secretNameRE.MatchString(n) {
		return "", fmt.Errorf("invalid secret name %q: use letters, digits and '_', not starting with a digit", raw)
	}
	if strings.HasPrefix(n, "GITHUB_") {
		return "", fmt.Errorf("invalid secret name %q: names must not start with GITHUB_", raw)
	}
	return n, nil
}

// apiSecretScope resolves the optional {name} repository of a secrets route:
// nil and "" for server-wide secrets.
func (s *Server) apiSecretScope(w http.ResponseWriter, r *http.Request) (*int64, string, bool) {
	if r.PathValue("name") == "" {
		return nil, "", true
	}
	repo, ok := s.apiRepo(w, r)
	if !ok {
		return nil, "", false
	}
	return &repo.ID, repo.Name, true
}

func (s *Server) apiListSecrets(w http.ResponseWriter, r *http.Request) {
	repoID, repoName, ok := s.apiSecretScope(w, r)
	if !ok {
		return
	}
	list, err := s.cfg.DB.ListSecrets(r.Context(), repoID)
	if err != nil {
		s.apiStoreError(w, err, "secrets")
		return
	}
	out := make([]SecretView, 0, len(list))
	for _, sc := range list {
		out = append(out, SecretView{Name: sc.Name, Repo: repoName, UpdatedAt: sc.UpdatedAt})
	}
	apiJSON(w, http.StatusOK, map[string]any{"secrets": out})
}

func (s *Server) apiPutSecret(w http.ResponseWriter, r *http.Request) {
	repoID, repoName, ok := s.apiSecretScope(w, r)
	if !ok {
		return
	}
	name, err := secretName(r.PathValue("secret"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
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
		apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("secret value over %d bytes", maxSecretSize))
		return
	}
	ct, err := s.cfg.Keys.Seal([]byte(*in.Value), SecretContext(repoName, name))
	if err != nil {
		s.apiStoreError(w, err, "sealing secret "+name)
		return
	}
	sc, err := s.cfg.DB.PutSecret(r.Context(), repoID, name, ct)
	if err != nil {
		s.apiStoreError(w, err, "secret "+name)
		return
	}
	apiJSON(w, http.StatusOK, SecretView{Name: sc.Name, Repo: repoName, UpdatedAt: sc.UpdatedAt})
}

func (s *Server) apiDeleteSecret(w http.ResponseWriter, r *http.Request) {
	repoID, _, ok := s.apiSecretScope(w, r)
	if !ok {
		return
	}
	name, err := secretName(r.PathValue("secret"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.cfg.DB.DeleteSecret(r.Context(), repoID, name); err != nil {
		s.apiStoreError(w, err, "secret "+name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TokenCreated is the answer to POST /api/v1/tokens: the only time the token
// itself is shown.
type TokenCreated struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Scope     string    `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
	Token     string    `json:"token"`
}

func (s *Server) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Scope string `json:"scope"`
		// Identity is the person the token is for; "" makes the name the identity.
		Identity string `json:"identity"`
	}
	if !apiDecode(w, r, &in) {
		return
	}
	in.Name, in.Identity = strings.TrimSpace(in.Name), strings.TrimSpace(in.Identity)
	if len(in.Identity) > 100 || strings.ContainsAny(in.Identity, " \t\r\n") {
		apiError(w, http.StatusBadRequest, "identity: at most 100 characters, no spaces")
		return
	}
	if in.Name == "" || len(in.Name) > 100 || strings.HasPrefix(in.Name, "session:") {
		apiError(w, http.StatusBadRequest, "name is required (at most 100 characters, not starting with session:)")
		return
	}
	if scopeRank(in.Scope) == 0 && in.Scope != store.ScopeRegister {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("invalid scope %q: want admin, write, read or register", in.Scope))
		return
	}
	tok, hash, err := secrets.NewToken()
	if err != nil {
		s.apiStoreError(w, err, "token")
		return
	}
	tk, err := s.cfg.DB.CreateToken(r.Context(), store.Token{Name: in.Name, Hash: hash, Scope: in.Scope, Identity: in.Identity})
	if err != nil {
		s.apiStoreError(w, err, "token "+in.Name)
		return
	}
	apiJSON(w, http.StatusCreated, TokenCreated{ID: tk.ID, Name: tk.Name, Scope: tk.Scope, CreatedAt: tk.CreatedAt, Token: tok})
}

// apiLinkLogin links a forge login to a sluice identity (admin only: a
// link decides whose pushes count as whose).
func (s *Server) apiLinkLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Forge string `json:"forge"`
		Login string `json:"login"`
	}
	if !apiDecode(w, r, &in) {
		return
	}
	if _, err := forge.ParseKind(in.Forge); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	l := store.IdentityLogin{Forge: in.Forge, Login: strings.TrimSpace(in.Login), Identity: r.PathValue("name")}
	if err := s.cfg.DB.LinkLogin(r.Context(), l); err != nil {
		s.apiStoreError(w, err, "linking "+l.Login)
		return
	}
	apiJSON(w, http.StatusCreated, l)
}

func (s *Server) apiListLogins(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.DB.ListLogins(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "linked logins")
		return
	}
	if list == nil {
		list = []store.IdentityLogin{}
	}
	apiJSON(w, http.StatusOK, map[string]any{"logins": list})
}

func (s *Server) apiListTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.DB.ListTokens(r.Context())
	if err != nil {
		s.apiStoreError(w, err, "tokens")
		return
	}
	if list == nil {
		list = []store.Token{}
	}
	apiJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

func (s *Server) apiDeleteToken(w http.ResponseWriter, r *http.Request) {
	id, ok := apiPathID(w, r, "id")
	if !ok {
		return
	}
	if err := s.cfg.DB.DeleteToken(r.Context(), id); err != nil {
		s.apiStoreError(w, err, fmt.Sprintf("token %d", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
