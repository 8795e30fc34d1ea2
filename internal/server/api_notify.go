package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sluice-ci/sluice/internal/notify"
	"github.com/sluice-ci/sluice/internal/store"
)

// Notifications: channels per repository and server-wide, the SMTP relay,
// and a test message per channel. Webhook URLs, signing keys and the SMTP
// password are sealed with the server's keyring and never answered.

// ChannelTester sends a test message to a channel; *notify.Notifier is one.
type ChannelTester interface {
	Test(ctx context.Context, c store.NotifyChannel, repo string) error
}

// ChannelView is a notification channel as the API shows it: where it
// sends only as far as it is not secret.
type ChannelView struct {
	ID     int64    `json:"id"`
	Repo   string   `json:"repo,omitempty"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Events []string `json:"events"`
	// Target is the recipients of an email channel, or the scheme and host
	// of a webhook's URL (the rest may hold a token).
	Target string `json:"target"`
	// SigningKey is answered once, when a webhook channel is created
	// without one (the server made it); never again.
	SigningKey string                 `json:"signing_key,omitempty"`
	UpdatedAt  time.Time              `json:"updated_at"`
	Last       *store.NotifyDelivery  `json:"last_delivery,omitempty"`
	Recent     []store.NotifyDelivery `json:"-"`
}

// SMTPView is the relay as the API shows it: never its password.
type SMTPView struct {
	Host        string    `json:"host"`
	Port        int       `json:"port"`
	Username    string    `json:"username,omitempty"`
	HasPassword bool      `json:"has_password"`
	From        string    `json:"from"`
	TLS         string    `json:"tls"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func smtpView(r *store.NotifySMTP) SMTPView {
	return SMTPView{Host: r.Host, Port: r.Port, Username: r.Username, HasPassword: len(r.Password) > 0, From: r.From,
		TLS: r.TLS, UpdatedAt: r.UpdatedAt}
}

func (s *Server) notifyRoutes() {
	m := s.mux
	R, W, A := store.ScopeRead, store.ScopeWrite, store.ScopeAdmin
	m.HandleFunc("GET /api/v1/notifications", s.require(R, s.apiListChannels))
	m.HandleFunc("PUT /api/v1/notifications/{channel}", s.require(A, s.apiPutChannel))
	m.HandleFunc("DELETE /api/v1/notifications/{channel}", s.require(A, s.apiDeleteChannel))
	m.HandleFunc("POST /api/v1/notifications/{channel}/test", s.require(A, s.apiTestChannel))
	m.HandleFunc("GET /api/v1/repos/{name}/notifications", s.require(R, s.apiListChannels))
	m.HandleFunc("PUT /api/v1/repos/{name}/notifications/{channel}", s.require(W, s.apiPutChannel))
	m.HandleFunc("DELETE /api/v1/repos/{name}/notifications/{channel}", s.require(W, s.apiDeleteChannel))
	m.HandleFunc("POST /api/v1/repos/{name}/notifications/{channel}/test", s.require(W, s.apiTestChannel))
	m.HandleFunc("GET /api/v1/smtp", s.require(A, s.apiGetSMTP))
	m.HandleFunc("PUT /api/v1/smtp", s.require(A, s.apiPutSMTP))
}

// channelScope is the repository of a notifications route (nil: server-wide).
func (s *Server) channelScope(w http.ResponseWriter, r *http.Request) (*store.Repo, bool) {
	if r.PathValue("name") == "" {
		return nil, true
	}
	return s.apiRepo(w, r)
}

func scopeID(repo *store.Repo) *int64 {
	if repo == nil {
		return nil
	}
	return &repo.ID
}

func scopeName(repo *store.Repo) string {
	if repo == nil {
		return ""
	}
	return repo.Name
}

// ChannelViews lists the channels of a scope with their last delivery.
func (s *Server) channelViews(ctx context.Context, repo *store.Repo) ([]ChannelView, error) {
	list, err := s.cfg.DB.ListNotifyChannels(ctx, scopeID(repo))
	if err != nil {
		return nil, err
	}
	out := make([]ChannelView, 0, len(list))
	for _, c := range list {
		v := channelView(c, scopeName(repo))
		if v.Recent, err = s.cfg.DB.ListNotifyDeliveries(ctx, c.ID, 5); err != nil {
			return nil, err
		}
		if len(v.Recent) > 0 {
			v.Last = &v.Recent[0]
		}
		out = append(out, v)
	}
	return out, nil
}

func channelView(c store.NotifyChannel, repo string) ChannelView {
	return ChannelView{ID: c.ID, Repo: repo, Kind: c.Kind, Name: c.Name, Events: c.Events, Target: c.Target, UpdatedAt: c.UpdatedAt}
}

func (s *Server) apiListChannels(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.channelScope(w, r)
	if !ok {
		return
	}
	views, err := s.channelViews(r.Context(), repo)
	if err != nil {
		s.apiStoreError(w, err, "notification channels")
		return
	}
	apiJSON(w, http.StatusOK, map[string]any{"channels": views})
}

// findChannel is the channel named name in a scope, nil when there is none.
func (s *Server) findChannel(ctx context.Context, repo *store.Repo, name string) (*store.NotifyChannel, error) {
	list, err := s.cfg.DB.ListNotifyChannels(ctx, scopeID(repo))
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i], nil
		}
	}
	return nil, nil
}

// SaveChannel creates or updates (by name) a channel of repo (nil:
// server-wide). The view carries the signing key the server made, if it
// made one.
func (s *Server) SaveChannel(ctx context.Context, repo *store.Repo, in notify.ChannelInput) (*ChannelView, error) {
	prev, err := s.findChannel(ctx, repo, in.Name)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(prev == nil); err != nil {
		return nil, &apiInputError{err}
	}
	madeKey := in.Kind == notify.KindWebhook && in.SigningKey == "" && (prev == nil || prev.Kind != notify.KindWebhook)
	rec, err := notify.Record(s.cfg.Keys, scopeID(repo), in, prev)
	if err != nil {
		return nil, err
	}
	saved, err := s.cfg.DB.PutNotifyChannel(ctx, rec)
	if err != nil {
		return nil, err
	}
	v := channelView(*saved, scopeName(repo))
	if madeKey {
		if v.SigningKey, err = notify.SigningKey(s.cfg.Keys, *saved); err != nil {
			return nil, err
		}
	}
	return &v, nil
}

func (s *Server) apiPutChannel(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.channelScope(w, r)
	if !ok {
		return
	}
	var in notify.ChannelInput
	if !apiDecode(w, r, &in) {
		return
	}
	if in.Name == "" {
		in.Name = r.PathValue("channel")
	}
	if in.Name != r.PathValue("channel") {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("the body names channel %q, the path %q", in.Name, r.PathValue("channel")))
		return
	}
	v, err := s.SaveChannel(r.Context(), repo, in)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		apiError(w, http.StatusBadRequest, ie.Error())
	case err != nil:
		s.apiStoreError(w, err, "notification channel "+in.Name)
	default:
		apiJSON(w, http.StatusOK, v)
	}
}

// pathChannel is the channel named by the {channel} path value, answering
// 404 itself.
func (s *Server) pathChannel(w http.ResponseWriter, r *http.Request) (*store.Repo, *store.NotifyChannel, bool) {
	repo, ok := s.channelScope(w, r)
	if !ok {
		return nil, nil, false
	}
	c, err := s.findChannel(r.Context(), repo, r.PathValue("channel"))
	if err != nil {
		s.apiStoreError(w, err, "notification channels")
		return nil, nil, false
	}
	if c == nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no notification channel %q here (see GET .../notifications)", r.PathValue("channel")))
		return nil, nil, false
	}
	return repo, c, true
}

func (s *Server) apiDeleteChannel(w http.ResponseWriter, r *http.Request) {
	_, c, ok := s.pathChannel(w, r)
	if !ok {
		return
	}
	if err := s.cfg.DB.DeleteNotifyChannel(r.Context(), c.ID); err != nil {
		s.apiStoreError(w, err, "notification channel "+c.Name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TestChannel sends a test message to c; the error is the delivery's.
func (s *Server) TestChannel(ctx context.Context, repo *store.Repo, c store.NotifyChannel) error {
	if s.cfg.Notifier == nil {
		return errors.New("this server does not send notifications")
	}
	name := scopeName(repo)
	if name == "" {
		name = "(server-wide)"
	}
	return s.cfg.Notifier.Test(ctx, c, name)
}

func (s *Server) apiTestChannel(w http.ResponseWriter, r *http.Request) {
	repo, c, ok := s.pathChannel(w, r)
	if !ok {
		return
	}
	if err := s.TestChannel(r.Context(), repo, *c); err != nil {
		apiError(w, http.StatusBadGateway, "the test message was not delivered: "+err.Error())
		return
	}
	apiJSON(w, http.StatusOK, map[string]string{"result": "delivered"})
}

func (s *Server) apiGetSMTP(w http.ResponseWriter, r *http.Request) {
	rel, err := s.cfg.DB.GetNotifySMTP(r.Context())
	if errors.Is(err, store.ErrNotFound) {
		apiError(w, http.StatusNotFound, "no SMTP relay is set (PUT /api/v1/smtp sets one)")
		return
	}
	if err != nil {
		s.apiStoreError(w, err, "the SMTP relay")
		return
	}
	apiJSON(w, http.StatusOK, smtpView(rel))
}

// SaveSMTP validates and stores the SMTP relay.
func (s *Server) SaveSMTP(ctx context.Context, in notify.SMTPInput) (*SMTPView, error) {
	rec, err := in.Record(s.cfg.Keys)
	if err != nil {
		return nil, &apiInputError{err}
	}
	if err := s.cfg.DB.PutNotifySMTP(ctx, rec); err != nil {
		return nil, err
	}
	saved, err := s.cfg.DB.GetNotifySMTP(ctx)
	if err != nil {
		return nil, err
	}
	v := smtpView(saved)
	return &v, nil
}

func (s *Server) apiPutSMTP(w http.ResponseWriter, r *http.Request) {
	var in notify.SMTPInput
	if !apiDecode(w, r, &in) {
		return
	}
	v, err := s.SaveSMTP(r.Context(), in)
	var ie *apiInputError
	switch {
	case errors.As(err, &ie):
		apiError(w, http.StatusBadRequest, ie.Error())
	case err != nil:
		s.apiStoreError(w, err, "the SMTP relay")
	default:
		apiJSON(w, http.StatusOK, v)
	}
}
