package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

// The session cookie (SessionCookie) holds a token whose hash is stored as a
// store token named "session:<RFC 3339 time>"; auth.go accepts it for the API too.
const (
	uiSessionPrefix  = "session:"
	uiSessionMaxAge  = 7 * 24 * time.Hour
	uiCSRFField      = "csrf"
	uiCSRFDerivation = "sluice ui csrf v1"
)

// uiSession is a signed-in browser.
type uiSession struct {
	TokenID int64
	Scope   string
	// Name is who signed in: the name of the API token used, or "admin"
	// for the admin password. Approvals are recorded under it.
	Name string
	CSRF string // the hidden form field value every POST must carry
}

// CanWrite reports whether the session may cancel, re-run and set secrets.
func (s *uiSession) CanWrite() bool { return uiScopeAllows(s.Scope, store.ScopeWrite) }

func uiScopeAllows(have, need string) bool {
	rank := map[string]int{store.ScopeRead: 1, store.ScopeWrite: 2, store.ScopeAdmin: 3}
	return rank[have] >= rank[need] && rank[need] > 0
}

// uiCSRFToken derives the session's CSRF token from the session token itself,
// so nothing more is stored and a token from one session is useless in another.
func uiCSRFToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte(uiCSRFDerivation))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type uiHandler func(w http.ResponseWriter, r *http.Request, sess *uiSession)

// session admits requests from a signed-in browser whose scope covers need.
// Anything but GET must also carry the CSRF field (the cookie is
// SameSite=Strict as well; the token covers browsers that ignore that).
func (ui *uiApp) session(need string, next uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, token := ui.lookupSession(r)
		if sess == nil {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/ui/") {
				http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.PostFormValue(uiCSRFField)
			if !hmac.Equal([]byte(got), []byte(uiCSRFToken(token))) {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		if !uiScopeAllows(sess.Scope, need) {
			http.Error(w, fmt.Sprintf("your sign-in has scope %s; this needs %s", sess.Scope, need), http.StatusForbidden)
			return
		}
		next(w, r, sess)
	}
}

// lookupSession returns the session of the request's cookie and the cookie's
// token, or nil when there is none or it expired.
func (ui *uiApp) lookupSession(r *http.Request) (*uiSession, string) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || !secrets.ValidTokenFormat(c.Value) {
		return nil, ""
	}
	tk, err := ui.s.cfg.DB.GetTokenByHash(r.Context(), secrets.HashToken(c.Value))
	if err != nil {
		return nil, ""
	}
	when, who, ok := parseSessionName(tk.Name)
	if !ok {
		return nil, "" // an API token pasted into the cookie is not a session
	}
	if at, err := time.Parse(time.RFC3339, when); err != nil || time.Since(at) > uiSessionMaxAge {
		return nil, ""
	}
	return &uiSession{TokenID: tk.ID, Scope: tk.Scope, Name: who, CSRF: uiCSRFToken(c.Value)}, c.Value
}

// parseSessionName reads a session token's name: "session:<RFC 3339 time>"
// and, since sessions remember who signed in, " <name>".
func parseSessionName(name string) (when, who string, ok bool) {
	rest, ok := strings.CutPrefix(name, uiSessionPrefix)
	if !ok {
		return "", "", false
	}
	when, who, _ = strings.Cut(rest, " ")
	return when, who, true
}

type uiSigninData struct {
	Next        string
	Error       string
	HasPassword bool
}

func (ui *uiApp) signinForm(w http.ResponseWriter, r *http.Request) {
	ui.render(w, r, "signin.html", http.StatusOK, uiView{Title: "Sign in",
		Data: uiSigninData{Next: uiSafeNext(r.URL.Query().Get("next")), HasPassword: ui.passwordHash() != ""}})
}

// signin accepts an API token (any scope; the session gets that scope) or
// the admin password (admin scope) and starts a session.
//
// A client that keeps failing waits (429 with Retry-After, before any
// work), and password checks run a few at a time (see signinLimiter).
func (ui *uiApp) signin(w http.ResponseWriter, r *http.Request) {
	lim, client := ui.s.signin, clientKey(r)
	if d := lim.wait(client); d > 0 {
		tooMany(w, d, "Too many failed sign-ins from your address; try again later.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, signinMaxBody)
	next := uiSafeNext(r.PostFormValue("next"))
	if strings.TrimSpace(r.PostFormValue("token")) == "" && r.PostFormValue("password") != "" {
		release, ok := lim.acquire(r.Context())
		if !ok {
			tooMany(w, time.Second, "The server is busy checking sign-ins; try again in a moment.")
			return
		}
		defer release()
	}
	scope, who, err := ui.checkCredential(r)
	if err != nil {
		ui.s.cfg.Log.Info("ui sign-in refused", "remote", r.RemoteAddr, "why", err)
		if d := lim.failed(client); d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		}
		ui.render(w, r, "signin.html", http.StatusUnauthorized, uiView{Title: "Sign in",
			Data: uiSigninData{Next: next, Error: "That token or password is not valid.", HasPassword: ui.passwordHash() != ""}})
		return
	}
	lim.succeeded(client)
	token, hash, err := secrets.NewToken()
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	name := uiSessionPrefix + time.Now().UTC().Format(time.RFC3339) + " " + who
	if _, err := ui.s.cfg.DB.CreateToken(r.Context(), store.Token{Name: name, Hash: hash, Scope: scope}); err != nil {
		ui.fail(w, r, fmt.Errorf("creating session: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(uiSessionMaxAge / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// checkCredential returns the scope and the name of who signs in.
func (ui *uiApp) checkCredential(r *http.Request) (scope, who string, err error) {
	if tok := strings.TrimSpace(r.PostFormValue("token")); tok != "" {
		if !secrets.ValidTokenFormat(tok) {
			return "", "", errors.New("malformed token")
		}
		tk, err := ui.s.cfg.DB.GetTokenByHash(r.Context(), secrets.HashToken(tok))
		if err != nil {
			return "", "", fmt.Errorf("looking up token: %w", err)
		}
		if strings.HasPrefix(tk.Name, uiSessionPrefix) {
			return "", "", errors.New("a session token cannot start another session")
		}
		if tk.Scope == store.ScopeRegister {
			return "", "", errors.New("a registration token only registers agents")
		}
		return tk.Scope, tk.Who(), nil
	}
	pw := r.PostFormValue("password")
	enc := ui.passwordHash()
	if pw == "" || enc == "" {
		return "", "", errors.New("no token, and no password (or none configured)")
	}
	if len(pw) > 1024 {
		return "", "", errors.New("password longer than 1024 bytes")
	}
	ok, err := secrets.VerifyPassword(enc, pw)
	if err != nil {
		return "", "", fmt.Errorf("checking password: %w", err)
	}
	if !ok {
		return "", "", errors.New("wrong password")
	}
	return store.ScopeAdmin, "admin", nil
}

// passwordHash is the argon2id hash in DATA/admin.password, or "" when unset.
func (ui *uiApp) passwordHash() string {
	if ui.s.cfg.DataDir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(ui.s.cfg.DataDir, AdminPasswordFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (ui *uiApp) signout(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	if err := ui.s.cfg.DB.DeleteToken(r.Context(), sess.TokenID); err != nil && !errors.Is(err, store.ErrNotFound) {
		ui.fail(w, r, fmt.Errorf("ending session: %w", err))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
