package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// SessionCookie is the name of the UI's session cookie. Its value is a token
// (secrets.NewToken) whose hash is stored as a store token named "session:…"
// with the scope of the credential that signed in; authenticate accepts it
// like a bearer token.
const SessionCookie = "sluice_session"

// AdminPasswordFile holds the argon2id hash of the admin password in the data
// directory (see Bootstrap and VerifyAdminPassword).
const AdminPasswordFile = "admin.password"

// Environment variables read by Bootstrap.
const (
	AdminTokenEnv    = "SLUICE_ADMIN_TOKEN"
	AdminPasswordEnv = "SLUICE_ADMIN_PASSWORD"
)

// tokenTouchEvery bounds how often a token's last_used is written: every
// request writing to the database would serialise readers behind the writer.
const tokenTouchEvery = time.Minute

// maxTokenLen rejects absurd Authorization headers before hashing them.
const maxTokenLen = 512

type apiPrincipalKey struct{}

// apiPrincipal is who made a request: the token's name and scope.
type apiPrincipal struct {
	Name  string
	Scope string
}

// scopeRank orders scopes: a credential satisfies every scope ranked at or
// below its own.
func scopeRank(scope string) int {
	switch scope {
	case store.ScopeRead:
		return 1
	case store.ScopeWrite:
		return 2
	case store.ScopeAdmin:
		return 3
	}
	return 0
}

// authenticate finds the API token of r, from "Authorization: Bearer …" or the
// UI's session cookie, and returns its scope.
func (s *Server) authenticate(r *http.Request) (scope string, ok bool) {
	p, ok := s.apiPrincipalOf(r)
	if !ok {
		return "", false
	}
	return p.Scope, true
}

func (s *Server) apiPrincipalOf(r *http.Request) (apiPrincipal, bool) {
	if p, ok := r.Context().Value(apiPrincipalKey{}).(apiPrincipal); ok {
		return p, true
	}
	tok := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return apiPrincipal{}, false
		}
		tok = strings.TrimSpace(rest)
	} else if c, err := r.Cookie(SessionCookie); err == nil {
		tok = c.Value
	}
	if tok == "" || len(tok) > maxTokenLen {
		return apiPrincipal{}, false
	}
	tk, err := s.cfg.DB.GetTokenByHash(r.Context(), secrets.HashToken(tok))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.cfg.Log.Error("looking up API token", "err", err)
		}
		return apiPrincipal{}, false
	}
	if tk.LastUsed == nil || time.Since(*tk.LastUsed) > tokenTouchEvery {
		if err := s.cfg.DB.TouchToken(r.Context(), tk.ID); err != nil {
			s.cfg.Log.Warn("recording token use", "token", tk.Name, "err", err)
		}
	}
	name := tk.Who() // the person behind the token
	if _, who, ok := parseSessionName(tk.Name); ok && who != "" {
		name = who // a browser session acts as whoever signed in
	}
	return apiPrincipal{Name: name, Scope: tk.Scope}, true
}

// require serves h only to requests whose credential has at least scope
// (admin > write > read): 401 without a valid credential, 403 when it is too
// weak. h can read who called with apiActor.
func (s *Server) require(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.apiPrincipalOf(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			apiError(w, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>")
			return
		}
		if scopeRank(p.Scope) < scopeRank(scope) {
			apiError(w, http.StatusForbidden, fmt.Sprintf("this needs a token with scope %s; yours has %s", scope, p.Scope))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), apiPrincipalKey{}, p)))
	}
}

// apiActor names who made an authenticated request, for run actors.
func apiActor(r *http.Request) string {
	if p, ok := r.Context().Value(apiPrincipalKey{}).(apiPrincipal); ok {
		return p.Name
	}
	return ""
}

// TokenStore is where Bootstrap looks for and registers the admin token; *store.DB is one.
type TokenStore interface {
	GetTokenByHash(ctx context.Context, hash []byte) (*store.Token, error)
	CreateToken(ctx context.Context, t store.Token) (*store.Token, error)
	ListTokens(ctx context.Context) ([]store.Token, error)
}

// Bootstrap prepares the server's credentials on start. When
// env(SLUICE_ADMIN_TOKEN) is set, that token is registered as an admin token
// (once). Otherwise, when no admin token exists (first start), it creates one
// and prints it to out: the only time it is ever shown. When
// env(SLUICE_ADMIN_PASSWORD) is set, its argon2id hash is written to
// dataDir/admin.password for the UI's password sign-in.
func Bootstrap(ctx context.Context, db TokenStore, dataDir string, env func(string) string, out io.Writer) error {
	if env == nil {
		env = os.Getenv
	}
	if err := bootstrapToken(ctx, db, env(AdminTokenEnv), out); err != nil {
		return err
	}
	if pw := env(AdminPasswordEnv); pw != "" {
		if err := writeAdminPassword(dataDir, pw); err != nil {
			return err
		}
	}
	return nil
}

func bootstrapToken(ctx context.Context, db TokenStore, given string, out io.Writer) error {
	if given != "" {
		if len(given) < 16 || len(given) > maxTokenLen || strings.ContainsAny(given, " \t\r\n") {
			return fmt.Errorf("%s must be 16 to %d characters without spaces", AdminTokenEnv, maxTokenLen)
		}
		_, err := db.GetTokenByHash(ctx, secrets.HashToken(given))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("looking up %s: %w", AdminTokenEnv, err)
		}
		_, err = db.CreateToken(ctx, store.Token{Name: "admin (" + AdminTokenEnv + ")", Hash: secrets.HashToken(given), Scope: store.ScopeAdmin})
		if err != nil && !errors.Is(err, store.ErrConflict) { // a replica starting alongside registered it first
			return fmt.Errorf("registering %s: %w", AdminTokenEnv, err)
		}
		return nil
	}
	tokens, err := db.ListTokens(ctx)
	if err != nil {
		return fmt.Errorf("listing tokens: %w", err)
	}
	for _, tk := range tokens {
		if tk.Scope == store.ScopeAdmin && !strings.HasPrefix(tk.Name, "session:") {
			return nil
		}
	}
	tok, hash, err := secrets.NewToken()
	if err != nil {
		return err
	}
	if _, err := db.CreateToken(ctx, store.Token{Name: "admin", Hash: hash, Scope: store.ScopeAdmin}); err != nil {
		return fmt.Errorf("creating the admin token: %w", err)
	}
	_, err = fmt.Fprintf(out, "sluice: created the admin API token (shown only this once; keep it safe):\n\n    %s\n\n", tok)
	if err != nil {
		return fmt.Errorf("printing the admin token: %w", err)
	}
	return nil
}

// writeAdminPassword stores pw's hash unless the stored hash already matches,
// so that a restart with the same environment does not rewrite it.
func writeAdminPassword(dataDir, pw string) error {
	p := filepath.Join(dataDir, AdminPasswordFile)
	if ok, err := VerifyAdminPassword(dataDir, pw); err == nil && ok {
		if b, err := os.ReadFile(p); err == nil && !secrets.NeedsRehash(strings.TrimSpace(string(b))) {
			return nil
		}
	}
	h, err := secrets.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", AdminPasswordEnv, err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(h+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("replacing %s: %w", p, err)
	}
	return nil
}

// VerifyAdminPassword reports whether pw is the admin password set through
// SLUICE_ADMIN_PASSWORD. Without a password file it is (false, nil): password
// sign-in is then off.
func VerifyAdminPassword(dataDir, pw string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, AdminPasswordFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the admin password hash: %w", err)
	}
	ok, err := secrets.VerifyPassword(strings.TrimSpace(string(b)), pw)
	if err != nil {
		return false, fmt.Errorf("checking the admin password: %w", err)
	}
	return ok, nil
}
