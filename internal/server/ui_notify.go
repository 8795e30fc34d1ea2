package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/notify"
	"github.com/sluice-ci/sluice/internal/store"
)

// The notifications pages: a repository's channels (/repos/NAME/notifications)
// and the server-wide defaults with the SMTP relay (/notifications).

type uiNotifyData struct {
	Repo     *store.Repo // nil: the server-wide page
	Scope    string      // form value: "server" or "repo:ID"
	Back     string      // this page's path
	Channels []ChannelView
	// Defaults are the server-wide channels a repository without its own uses.
	Defaults []ChannelView
	SMTP     *SMTPView
	CanEdit  bool
	CanSMTP  bool
	Kinds    []string
	Events   []string
	// Made is a webhook channel just created, with the signing key the
	// server made for it, shown this once.
	Made *ChannelView
	// Form keeps what was typed when saving failed (never the secrets).
	Form  notify.ChannelInput
	Error string
}

func (ui *uiApp) notifyData(r *http.Request, sess *uiSession, repo *store.Repo) (*uiNotifyData, error) {
	ctx := r.Context()
	d := &uiNotifyData{Repo: repo, Scope: "server", Back: "/notifications", Kinds: notify.Kinds, Events: notify.Events,
		Form: notify.ChannelInput{Kind: notify.KindSlack, Events: []string{notify.EventFailure, notify.EventRecovery}}}
	var err error
	if d.Channels, err = ui.s.channelViews(ctx, repo); err != nil {
		return nil, err
	}
	if repo != nil {
		d.Scope, d.Back = fmt.Sprintf("repo:%d", repo.ID), uiRepoPath(repo.Name, "notifications")
		d.CanEdit = sess.CanWrite()
		if d.Defaults, err = ui.s.channelViews(ctx, nil); err != nil {
			return nil, err
		}
	} else {
		d.CanEdit = uiScopeAllows(sess.Scope, store.ScopeAdmin)
		d.CanSMTP = d.CanEdit
		rel, err := ui.s.cfg.DB.GetNotifySMTP(ctx)
		switch {
		case err == nil:
			v := smtpView(rel)
			d.SMTP = &v
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	return d, nil
}

func (ui *uiApp) notificationsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.pathRepo(w, r, sess)
	if !ok {
		return
	}
	ui.renderNotify(w, r, sess, repo, http.StatusOK, nil)
}

func (ui *uiApp) serverNotificationsPage(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	ui.renderNotify(w, r, sess, nil, http.StatusOK, nil)
}

func (ui *uiApp) renderNotify(w http.ResponseWriter, r *http.Request, sess *uiSession, repo *store.Repo, status int, edit func(*uiNotifyData)) {
	d, err := ui.notifyData(r, sess, repo)
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	if edit != nil {
		edit(d)
	}
	title := "Notifications"
	if repo != nil {
		title = repo.Name + " · notifications"
	}
	ui.render(w, r, "notifications.html", status, uiView{Title: title, Nav: "notifications", Session: sess, Data: d})
}

// notifyScope reads the form's scope and checks the session may change it:
// a repository's channels need write, the server's admin.
func (ui *uiApp) notifyScope(w http.ResponseWriter, r *http.Request, sess *uiSession) (*store.Repo, bool) {
	v := r.PostFormValue("scope")
	if v == "server" {
		if !uiScopeAllows(sess.Scope, store.ScopeAdmin) {
			http.Error(w, fmt.Sprintf("your sign-in has scope %s; server-wide notifications need admin", sess.Scope), http.StatusForbidden)
			return nil, false
		}
		return nil, true
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(v, "repo:"), 10, 64)
	if err != nil || !strings.HasPrefix(v, "repo:") {
		http.Error(w, "unknown scope", http.StatusBadRequest)
		return nil, false
	}
	repo, err := ui.s.cfg.DB.GetRepo(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		ui.notFound(w, r, sess, fmt.Sprintf("repository %d", id))
		return nil, false
	}
	if err != nil {
		ui.fail(w, r, err)
		return nil, false
	}
	return repo, true
}

func uiNotifyBack(repo *store.Repo) string {
	if repo == nil {
		return "/notifications"
	}
	return uiRepoPath(repo.Name, "notifications")
}

func (ui *uiApp) saveChannel(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, ok := ui.notifyScope(w, r, sess)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	in := notify.ChannelInput{Kind: r.PostFormValue("kind"), Name: r.PostFormValue("name"), Events: r.PostForm["events"],
		URL: strings.TrimSpace(r.PostFormValue("url")), SigningKey: r.PostFormValue("signing_key"),
		To: []string{r.PostFormValue("to")}}
	v, err := ui.s.SaveChannel(r.Context(), repo, in)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		form := in
		form.URL, form.SigningKey = "", ""
		ui.renderNotify(w, r, sess, repo, http.StatusBadRequest, func(d *uiNotifyData) { d.Form, d.Error = form, ie.Error() })
	case errors.Is(err, store.ErrConflict):
		ui.renderNotify(w, r, sess, repo, http.StatusConflict, func(d *uiNotifyData) { d.Error = err.Error() })
	case err != nil:
		ui.fail(w, r, err)
	case v.SigningKey != "":
		ui.renderNotify(w, r, sess, repo, http.StatusOK, func(d *uiNotifyData) {
			d.Made = v
		})
	default:
		uiBack(w, r, uiNotifyBack(repo), fmt.Sprintf("Saved channel %s.", v.Name))
	}
}

// formChannel is the channel the {id} path names, in the form's scope.
func (ui *uiApp) formChannel(w http.ResponseWriter, r *http.Request, sess *uiSession) (*store.Repo, *store.NotifyChannel, bool) {
	repo, ok := ui.notifyScope(w, r, sess)
	if !ok {
		return nil, nil, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		ui.notFound(w, r, sess, "channel "+r.PathValue("id"))
		return nil, nil, false
	}
	c, err := ui.s.cfg.DB.GetNotifyChannel(r.Context(), id)
	// The channel must be in the scope the session was checked against.
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sameScope(c.RepoID, scopeID(repo))) {
		ui.notFound(w, r, sess, fmt.Sprintf("channel %d", id))
		return nil, nil, false
	}
	if err != nil {
		ui.fail(w, r, err)
		return nil, nil, false
	}
	return repo, c, true
}

func sameScope(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func (ui *uiApp) deleteChannel(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, c, ok := ui.formChannel(w, r, sess)
	if !ok {
		return
	}
	if err := ui.s.cfg.DB.DeleteNotifyChannel(r.Context(), c.ID); err != nil {
		ui.fail(w, r, err)
		return
	}
	uiBack(w, r, uiNotifyBack(repo), fmt.Sprintf("Deleted channel %s.", c.Name))
}

func (ui *uiApp) testChannel(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	repo, c, ok := ui.formChannel(w, r, sess)
	if !ok {
		return
	}
	if err := ui.s.TestChannel(r.Context(), repo, *c); err != nil {
		uiBack(w, r, uiNotifyBack(repo), fmt.Sprintf("The test message to %s was not delivered: %v", c.Name, err))
		return
	}
	uiBack(w, r, uiNotifyBack(repo), fmt.Sprintf("Sent a test message to %s.", c.Name))
}

func (ui *uiApp) saveSMTP(w http.ResponseWriter, r *http.Request, sess *uiSession) {
	port, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue("port")))
	in := notify.SMTPInput{Host: r.PostFormValue("host"), Port: port, Username: r.PostFormValue("username"),
		Password: r.PostFormValue("password"), From: r.PostFormValue("from"), TLS: r.PostFormValue("tls")}
	_, err := ui.s.SaveSMTP(r.Context(), in)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		uiBack(w, r, "/notifications", "The SMTP relay was not saved: "+ie.Error())
	case err != nil:
		ui.fail(w, r, err)
	default:
		uiBack(w, r, "/notifications", "Saved the SMTP relay.")
	}
}
