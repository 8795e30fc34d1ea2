package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/forge"
	"github.com/sluice-ci/sluice/internal/store"
)

// hookMaxBody is the largest delivery accepted (GitHub caps payloads at 25 MB).
const hookMaxBody = 25 << 20

// hookRepoMark prefixes the Reason of a valid delivery recorded before
// deliveries knew their repository (store migration 4); a replay of such a
// delivery still finds its repository through it.
const hookRepoMark = "repo:"

// DefaultDeliveryRetention is how long processed and rejected deliveries are
// kept (RunDeliveryPruner).
const DefaultDeliveryRetention = 30 * 24 * time.Hour

// hookEventHeader is the header each forge names its event in; a replay
// rebuilds it from the stored delivery.
var hookEventHeader = map[forge.Kind]string{
	forge.GitHub: "X-GitHub-Event",
	forge.Gitea:  "X-Gitea-Event",
	forge.GitLab: "X-Gitlab-Event",
}

func hookEventName(kind forge.Kind, h http.Header) (event, deliveryID string) {
	switch kind {
	case forge.GitHub:
		return h.Get("X-GitHub-Event"), h.Get("X-GitHub-Delivery")
	case forge.Gitea:
		for _, p := range []string{"Gitea", "Forgejo", "Gogs"} {
			if e := h.Get("X-" + p + "-Event"); e != "" {
				return e, h.Get("X-" + p + "-Delivery")
			}
		}
	case forge.GitLab:
		id := h.Get("Idempotency-Key")
		if id == "" {
			id = h.Get("X-Gitlab-Event-UUID")
		}
		return h.Get("X-Gitlab-Event"), id
	}
	return "", ""
}

// apiHook receives a forge's webhook. A valid delivery is stored before it is
// processed, so that an acknowledged one survives a crash; a rejected one
// (unknown repository, bad signature, too large) leaves a bounded, bodiless
// trace. A delivery id is processed once per repository: a replay answers
// 200 and starts nothing.
func (s *Server) apiHook(w http.ResponseWriter, r *http.Request) {
	kind, err := forge.ParseKind(r.PathValue("forge"))
	if err != nil {
		apiError(w, http.StatusNotFound, "unknown forge "+r.PathValue("forge")+": use /hooks/github, /hooks/gitea, /hooks/forgejo or /hooks/gitlab")
		return
	}
	ctx := r.Context()
	event, deliveryID := hookEventName(kind, r.Header)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, hookMaxBody))
	reject := func(code int, reason string) {
		d, _, err := s.cfg.DB.CreateDelivery(ctx, store.Delivery{Forge: string(kind), Event: event, DeliveryID: deliveryID,
			Valid: false, Reason: reason})
		if err != nil {
			s.cfg.Log.Error("recording rejected webhook", "forge", kind, "err", err)
			apiError(w, http.StatusInternalServerError, "could not record the delivery")
			return
		}
		s.cfg.Log.Warn("webhook rejected", "forge", kind, "delivery", d.ID, "reason", reason)
		apiJSON(w, code, map[string]any{"error": reason, "delivery_id": d.ID})
	}
	if err != nil {
		body = nil
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reject(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", hookMaxBody))
			return
		}
		apiError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	repo, err := s.hookRepo(ctx, r.URL.Query().Get("repo"), body)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			reject(http.StatusNotFound, err.Error())
			return
		}
		s.cfg.Log.Error("finding the webhook's repository", "err", err)
		apiError(w, http.StatusInternalServerError, "internal error finding the repository")
		return
	}
	secret, err := OpenWebhookSecret(s.cfg.Keys, repo)
	if err != nil {
		s.cfg.Log.Error("webhook secret", "repo", repo.Name, "err", err)
		reject(http.StatusUnauthorized, "the repository's webhook secret cannot be read")
		return
	}
	if err := forge.Verify(kind, r.Header, body, secret); err != nil {
		reject(http.StatusUnauthorized, fmt.Sprintf("repository %s: %v", repo.Name, err))
		return
	}
	d, existed, err := s.cfg.DB.CreateDelivery(ctx, store.Delivery{Forge: string(kind), Event: event, DeliveryID: deliveryID,
		RepoID: repo.ID, Valid: true, Body: body})
	if err != nil {
		s.cfg.Log.Error("recording webhook", "forge", kind, "err", err)
		apiError(w, http.StatusInternalServerError, "could not record the delivery")
		return
	}
	// A redelivery (the forge got no answer: a replica died, a proxy timed out) or an
	// attacker's replay of a delivery already recorded for this repository makes no second
	// set of runs.
	if existed {
		s.redelivered(w, r, d, repo)
		return
	}
	// Held while the delivery becomes runs: a replica replaying unprocessed deliveries skips
	// it. Losing the race to one (it saw the stored delivery first) is fine: it is processed.
	// Not cut short when the forge hangs up: the delivery is recorded, so it is ours to finish.
	release, mine, err := s.cfg.DB.TryDeliveryLock(context.WithoutCancel(ctx), d.ID)
	if err != nil {
		s.cfg.Log.Error("locking webhook delivery", "delivery", d.ID, "err", err)
		apiJSON(w, http.StatusAccepted, map[string]any{"delivery_id": d.ID, "runs": []int64{}, "queued": "recorded; it will be replayed"})
		return
	}
	defer release()
	if !mine {
		apiJSON(w, http.StatusAccepted, map[string]any{"delivery_id": d.ID, "runs": []int64{}, "queued": "recorded; another replica is processing it"})
		return
	}
	// The forge may hang up (GitHub waits 10 s) while the scheduler fetches
	// the repository; the delivery is ours now, so finish it regardless.
	res, err := s.processDelivery(context.WithoutCancel(ctx), kind, r.Header, d, repo)
	switch {
	case err != nil:
		// Left unprocessed: ReplayDeliveries retries it on the next start,
		// a bounded number of times.
		s.cfg.Log.Error("processing webhook", "delivery", d.ID, "repo", repo.Name, "err", err)
		attempts, gaveUp, ferr := s.cfg.DB.DeliveryFailed(context.WithoutCancel(ctx), d.ID, err.Error())
		if ferr != nil {
			s.cfg.Log.Error("recording a webhook's failure", "delivery", d.ID, "err", ferr)
		}
		msg := fmt.Sprintf("triggering runs failed (attempt %d of %d): %v", attempts, store.MaxDeliveryAttempts, err)
		if gaveUp {
			msg += "; the delivery is given up"
		}
		apiJSON(w, http.StatusInternalServerError, map[string]any{"error": msg, "delivery_id": d.ID})
	case res.ping:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "pong\n")
	case res.malformed != "":
		apiJSON(w, http.StatusBadRequest, map[string]any{"error": res.malformed, "delivery_id": d.ID})
	default:
		out := map[string]any{"delivery_id": d.ID, "runs": res.runs}
		if res.ignored != "" {
			out["ignored"] = res.ignored
		}
		apiJSON(w, http.StatusAccepted, out)
	}
}

// redelivered answers a delivery recorded before: 200 "already processed" with its runs when
// it was processed (or given up), else it is processed now (another of its bounded attempts)
// unless a replica is at it.
func (s *Server) redelivered(w http.ResponseWriter, r *http.Request, d *store.Delivery, repo *store.Repo) {
	ctx := r.Context()
	out := map[string]any{"delivery_id": d.ID, "redelivery": true}
	code := http.StatusAccepted
	if d.Processed {
		code, out["message"] = http.StatusOK, "already processed"
	} else {
		err := s.replayDelivery(context.WithoutCancel(ctx), d)
		switch {
		case errors.Is(err, errDeliveryBusy):
			out["runs"], out["queued"] = []int64{}, "recorded; another replica is processing it"
			apiJSON(w, http.StatusAccepted, out)
			return
		case err != nil:
			s.cfg.Log.Error("processing a redelivered webhook", "delivery", d.ID, "repo", repo.Name, "err", err)
			apiJSON(w, http.StatusInternalServerError, map[string]any{"error": "triggering runs failed: " + err.Error(), "delivery_id": d.ID})
			return
		}
	}
	runs, err := s.cfg.DB.RunsOfDelivery(ctx, d.ID)
	if err != nil {
		s.apiStoreError(w, err, "runs of the delivery")
		return
	}
	out["runs"] = runs
	apiJSON(w, code, out)
}

type hookResult struct {
	runs      []int64
	ping      bool
	ignored   string
	malformed string
}

// processDelivery turns a verified, stored delivery into runs and marks it
// processed. An error leaves it unprocessed for a later replay.
func (s *Server) processDelivery(ctx context.Context, kind forge.Kind, h http.Header, d *store.Delivery, repo *store.Repo) (hookResult, error) {
	res := hookResult{runs: []int64{}}
	ev, err := forge.Parse(kind, h, d.Body)
	switch {
	case errors.Is(err, forge.ErrIgnored):
		res.ignored = err.Error()
	case err != nil:
		res.malformed = err.Error()
	case ev.Name == "ping":
		res.ping = true
	default:
		runs, err := s.cfg.Scheduler.Trigger(ctx, repo, hookTrigger(ev, d.ID))
		if err != nil {
			return res, fmt.Errorf("triggering %s of %s: %w", ev.Name, repo.Name, err)
		}
		for _, rn := range runs {
			res.runs = append(res.runs, rn.ID)
		}
	}
	if err := s.cfg.DB.MarkDeliveryProcessed(ctx, d.ID, res.runs); err != nil {
		return res, err
	}
	return res, nil
}

// hookTrigger maps a forge event to the trigger GitHub Actions would see: a
// tag push is a push.
func hookTrigger(ev *forge.Event, deliveryID int64) Trigger {
	t := Trigger{
		Event: ev.Name, Action: ev.Action, Ref: ev.Ref, SHA: ev.HeadSHA, Before: ev.Before,
		Payload: ev.Payload, Actor: ev.Sender, Source: store.TriggerWebhook,
		ChangedFiles: ev.ChangedFiles, DeliveryID: deliveryID,
	}
	switch ev.Name {
	case "tag":
		t.Event = "push"
	case "pull_request":
		t.BaseRef, t.Fork = ev.BaseRef, ev.Fork
	}
	if t.SHA == "" {
		t.SHA = ev.After
	}
	return t
}

// hookRepo finds the registered repository a delivery is for: the one named
// by ?repo=, else the one whose URL or name matches the payload's repository.
func (s *Server) hookRepo(ctx context.Context, name string, body []byte) (*store.Repo, error) {
	if name != "" {
		r, err := s.cfg.DB.GetRepoByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("repository %q is not registered: %w", name, store.ErrNotFound)
		}
		return r, err
	}
	ids := payloadRepoIDs(body)
	if len(ids) == 0 {
		return nil, fmt.Errorf("the payload names no repository; add ?repo=NAME to the webhook URL: %w", store.ErrNotFound)
	}
	repos, err := s.cfg.DB.ListRepos(ctx)
	if err != nil {
		return nil, err
	}
	for i := range repos {
		key := repoMatchKey(repos[i].URL)
		for _, id := range ids {
			if key != "" && key == repoMatchKey(id) {
				return &repos[i], nil
			}
		}
	}
	for i := range repos {
		for _, id := range ids {
			if strings.EqualFold(repos[i].Name, id) {
				return &repos[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no registered repository matches %s; add ?repo=NAME to the webhook URL: %w", ids[0], store.ErrNotFound)
}

// payloadRepoIDs pulls the repository's full name and URLs out of a GitHub,
// Gitea or GitLab payload, whatever the event.
func payloadRepoIDs(body []byte) []string {
	var p struct {
		Repository struct {
			FullName string `json:"full_name"`
			CloneURL string `json:"clone_url"`
			HTMLURL  string `json:"html_url"`
			SSHURL   string `json:"ssh_url"`
			// GitLab's (legacy) repository block
			URL         string `json:"url"`
			GitHTTPURL  string `json:"git_http_url"`
			GitSSHURL   string `json:"git_ssh_url"`
			Homepage    string `json:"homepage"`
			PathWithNS  string `json:"path_with_namespace"`
			WebURLGitLb string `json:"web_url"`
		} `json:"repository"`
		Project struct {
			PathWithNS string `json:"path_with_namespace"`
			WebURL     string `json:"web_url"`
			GitHTTPURL string `json:"git_http_url"`
			GitSSHURL  string `json:"git_ssh_url"`
		} `json:"project"`
	}
	if json.Unmarshal(body, &p) != nil {
		return nil
	}
	var out []string
	for _, v := range []string{p.Repository.FullName, p.Project.PathWithNS, p.Repository.PathWithNS,
		p.Repository.CloneURL, p.Repository.HTMLURL, p.Repository.SSHURL, p.Repository.GitHTTPURL, p.Repository.GitSSHURL,
		p.Repository.Homepage, p.Repository.URL, p.Repository.WebURLGitLb,
		p.Project.WebURL, p.Project.GitHTTPURL, p.Project.GitSSHURL} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// repoMatchKey reduces a clone URL, web URL or "owner/name" to a comparable
// "owner/name" path: host, scheme, user and a ".git" suffix dropped.
func repoMatchKey(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		if u, err := url.Parse(s); err == nil {
			s = u.Path
		}
	} else if at := strings.Index(s, "@"); at >= 0 {
		// scp-like git@host:owner/name.git
		if c := strings.Index(s[at:], ":"); c >= 0 {
			s = s[at+c+1:]
		}
	}
	s = strings.Trim(strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git"), "/")
	return strings.ToLower(s)
}

// ReplayDeliveries triggers the valid deliveries that were stored but not
// processed (the server stopped between acknowledging and triggering), each
// another of its bounded attempts. Call it once on start, after store
// recovery.
func (s *Server) ReplayDeliveries(ctx context.Context) error {
	return s.replayDeliveries(ctx, false)
}

// ReplayUnattempted triggers the valid deliveries stored but never tried, or
// whose processing was cut short without a recorded failure (a replica died
// holding them): what replicas pick up from each other while running. One
// whose processing failed waits for a redelivery or a restart, so a
// failing delivery is not tried again every few seconds until it is given
// up.
func (s *Server) ReplayUnattempted(ctx context.Context) error {
	return s.replayDeliveries(ctx, true)
}

func (s *Server) replayDeliveries(ctx context.Context, unattempted bool) error {
	failed := map[int64]bool{}
	var errs []error
	for {
		ds, err := s.cfg.DB.ListDeliveries(ctx, store.DeliveryFilter{Unprocessed: true, Limit: 100 + len(failed)})
		if err != nil {
			return fmt.Errorf("listing unprocessed deliveries: %w", err)
		}
		progressed := false
		for i := range ds {
			if failed[ds[i].ID] || (unattempted && ds[i].Attempts > 0) {
				failed[ds[i].ID] = true
				continue
			}
			progressed = true
			// One delivery that cannot be triggered (its repository is
			// unreachable, say) must not hold back the others; it stays
			// unprocessed for the next start.
			if err := s.replayDelivery(ctx, &ds[i]); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed[ds[i].ID] = true
				if !errors.Is(err, errDeliveryBusy) {
					errs = append(errs, err)
				}
			}
		}
		if !progressed {
			return errors.Join(errs...)
		}
	}
}

// errDeliveryBusy: another replica (or request) is turning the delivery into runs right now.
var errDeliveryBusy = errors.New("delivery being processed elsewhere")

func (s *Server) replayDelivery(ctx context.Context, d *store.Delivery) error {
	release, mine, err := s.cfg.DB.TryDeliveryLock(ctx, d.ID)
	if err != nil {
		return fmt.Errorf("locking delivery %d: %w", d.ID, err)
	}
	defer release()
	if !mine {
		return errDeliveryBusy
	}
	// Read again under the lock: whoever held it may have finished it.
	if cur, err := s.cfg.DB.GetDelivery(ctx, d.ID); err != nil || cur.Processed {
		return err
	}
	kind, err := forge.ParseKind(d.Forge)
	if err != nil {
		s.cfg.Log.Warn("replaying webhook: unknown forge; dropping it", "delivery", d.ID, "forge", d.Forge)
		return s.cfg.DB.MarkDeliveryProcessed(ctx, d.ID, nil)
	}
	var repo *store.Repo
	if d.RepoID != 0 {
		repo, err = s.cfg.DB.GetRepo(ctx, d.RepoID)
	} else if name, ok := strings.CutPrefix(d.Reason, hookRepoMark); ok {
		repo, err = s.hookRepo(ctx, name, d.Body)
	} else {
		repo, err = s.hookRepo(ctx, "", d.Body)
	}
	if errors.Is(err, store.ErrNotFound) {
		s.cfg.Log.Warn("replaying webhook: repository gone; dropping it", "delivery", d.ID, "err", err)
		return s.cfg.DB.MarkDeliveryProcessed(ctx, d.ID, nil)
	}
	if err != nil {
		return fmt.Errorf("replaying delivery %d: %w", d.ID, err)
	}
	h := http.Header{}
	h.Set(hookEventHeader[kind], d.Event)
	switch kind {
	case forge.GitHub:
		h.Set("X-GitHub-Delivery", d.DeliveryID)
	case forge.Gitea:
		h.Set("X-Gitea-Delivery", d.DeliveryID)
	case forge.GitLab:
		h.Set("X-Gitlab-Event-UUID", d.DeliveryID)
	}
	res, err := s.processDelivery(ctx, kind, h, d, repo)
	if err != nil {
		attempts, gaveUp, ferr := s.cfg.DB.DeliveryFailed(ctx, d.ID, err.Error())
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		if gaveUp {
			s.cfg.Log.Warn("webhook given up after repeated failures", "delivery", d.ID, "attempts", attempts, "err", err)
		}
		return fmt.Errorf("replaying delivery %d (attempt %d of %d): %w", d.ID, attempts, store.MaxDeliveryAttempts, err)
	}
	s.cfg.Log.Info("replayed webhook", "delivery", d.ID, "repo", repo.Name, "runs", res.runs)
	return nil
}

// RunDeliveryPruner removes processed and rejected webhook deliveries older
// than keep, every interval, until ctx ends.
func (s *Server) RunDeliveryPruner(ctx context.Context, interval, keep time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.cfg.DB.PruneDeliveries(ctx, time.Now().Add(-keep)); err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.Warn("pruning webhook deliveries", "err", err)
			}
		} else if n > 0 {
			s.cfg.Log.Info("pruned webhook deliveries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
