package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/web"
)

// uiApp is the web UI: server-rendered pages reading the store directly, plus
// the few JSON/SSE endpoints the run page's scripts use. Its identifiers all
// start with "ui" because the server package is shared by several files.
type uiApp struct {
	s     *Server
	pages map[string]*template.Template // page file name → layout + page
}

// uiCSP forbids inline scripts and styles: every script is a file under /static/.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// uiRoutes registers the web UI. Pages need a session cookie (see ui_auth.go);
// state-changing forms also need the session's CSRF token.
func (s *Server) uiRoutes() {
	ui := &uiApp{s: s, pages: uiParsePages()}
	h := func(pattern string, fn http.HandlerFunc) { s.mux.Handle(pattern, uiHeaders(fn)) }

	h("GET /signin", ui.signinForm)
	h("POST /signin", ui.signin)
	h("POST /signout", ui.session(store.ScopeRead, ui.signout))

	h("GET /{$}", ui.session(store.ScopeRead, ui.reposPage))
	h("GET /repos/{name...}", ui.session(store.ScopeRead, ui.runsPage))
	h("GET /repos/{name}/environments", ui.session(store.ScopeRead, ui.environmentsPage))
	h("GET /repos/{name}/releases", ui.session(store.ScopeRead, ui.releasesPage))
	h("GET /repos/{name}/dependencies", ui.session(store.ScopeRead, ui.depsPage))
	h("GET /repos/{name}/releases/{id}", ui.session(store.ScopeRead, ui.releasePage))
	h("GET /releases/{id}", ui.session(store.ScopeRead, ui.releaseRedirect))
	h("POST /ui/promotions/{id}/decide", ui.session(store.ScopeWrite, ui.decidePromotion))
	h("GET /runs/{id}", ui.session(store.ScopeRead, ui.runPage))
	h("GET /queue", ui.session(store.ScopeRead, ui.queuePage))
	h("POST /ui/repos", ui.session(store.ScopeAdmin, ui.addRepo))
	h("POST /ui/repos/{name}/dispatch", ui.session(store.ScopeWrite, ui.dispatch))
	h("GET /secrets", ui.session(store.ScopeRead, ui.secretsPage))
	h("POST /secrets", ui.session(store.ScopeWrite, ui.secretSet))
	h("POST /secrets/delete", ui.session(store.ScopeWrite, ui.secretDelete))

	h("POST /ui/runs/{id}/cancel", ui.session(store.ScopeWrite, ui.cancelRun))
	h("POST /ui/runs/{id}/rerun", ui.session(store.ScopeWrite, ui.rerunRun))
	h("GET /ui/runs/{id}/state.json", ui.session(store.ScopeRead, ui.runStateJSON))
	h("GET /ui/runs/{id}/events", ui.session(store.ScopeRead, ui.runEvents))
	h("GET /ui/runs/{id}/artifacts/{artifact}", ui.session(store.ScopeRead, ui.artifactDownload))
	h("GET /ui/jobs/{id}/logs.json", ui.session(store.ScopeRead, ui.logsJSON))
	h("GET /ui/jobs/{id}/stream", ui.session(store.ScopeRead, ui.logStream))

	static := http.FileServerFS(web.Static)
	s.mux.Handle("GET /static/", uiHeaders(http.StripPrefix("/static/", http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			// Assets change only with the binary; an hour is short enough for an upgrade to show.
			w.Header().Set("Cache-Control", "public, max-age=3600")
			static.ServeHTTP(w, r)
		}))))
}

// uiHeaders adds the security headers every UI response carries.
func uiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", uiCSP)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// uiParsePages parses each page together with the layout and the partials
// (files named _*.html, shared by several pages). The templates are
// embedded, so a parse error is a bug in the binary, caught by any UI test.
func uiParsePages() map[string]*template.Template {
	names, err := fs.Glob(web.Templates, "*.html")
	if err != nil {
		panic(err)
	}
	partials, err := fs.Glob(web.Templates, "_*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		if n == "layout.html" || strings.HasPrefix(n, "_") {
			continue
		}
		t := template.New(n).Funcs(uiFuncs())
		pages[n] = template.Must(t.ParseFS(web.Templates, append([]string{"layout.html", n}, partials...)...))
	}
	return pages
}

// uiView is what every page template gets: the layout's needs and the page's own data.
type uiView struct {
	Title   string
	Nav     string // the active nav item
	Session *uiSession
	Flash   string
	Data    any
}

// render executes a page into a buffer first so that a template error becomes a
// clean 500 instead of half a page.
func (ui *uiApp) render(w http.ResponseWriter, r *http.Request, page string, status int, v uiView) {
	t, ok := ui.pages[page]
	if !ok {
		http.Error(w, "no such page "+page, http.StatusInternalServerError)
		return
	}
	if v.Flash == "" {
		v.Flash = r.URL.Query().Get("flash")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		ui.fail(w, r, fmt.Errorf("rendering %s: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail logs err and answers 500 without revealing it.
func (ui *uiApp) fail(w http.ResponseWriter, r *http.Request, err error) {
	ui.s.cfg.Log.Error("ui", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// notFound answers a styled-enough 404.
func (ui *uiApp) notFound(w http.ResponseWriter, r *http.Request, sess *uiSession, what string) {
	ui.render(w, r, "notfound.html", http.StatusNotFound, uiView{Title: "Not found", Session: sess, Data: what})
}

// uiSafeNext keeps a post-sign-in redirect on this site.
func uiSafeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}
