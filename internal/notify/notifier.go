package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/store"
)

// Store is what the notifier reads and writes; *store.DB has it all.
type Store interface {
	Watch(topics ...store.Topic) (<-chan struct{}, func())
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	LastEventID(ctx context.Context) (int64, error)
	NotifyCursor(ctx context.Context) (int64, bool, error)
	ClaimNotifyEvents(ctx context.Context, from, to int64) (bool, error)
	GetRepo(ctx context.Context, id int64) (*store.Repo, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error)
	ListJobStates(ctx context.Context, runID int64) ([]store.Job, error)
	GetPromotion(ctx context.Context, id int64) (*cd.Promotion, error)
	PromotionsOfRun(ctx context.Context, runID int64) ([]cd.Promotion, error)
	GetRelease(ctx context.Context, id string) (*cd.Release, error)
	ListEnvironments(ctx context.Context, repoID int64) ([]cd.Environment, error)
	ListNotifyChannels(ctx context.Context, repoID *int64) ([]store.NotifyChannel, error)
	GetNotifySMTP(ctx context.Context) (*store.NotifySMTP, error)
	AddNotifyDelivery(ctx context.Context, d store.NotifyDelivery) error
}

// Opener opens sealed secrets; *secrets.Keyring is one.
type Opener interface {
	Open(ciphertext []byte, context string) ([]byte, error)
}

// Config is what a Notifier is made of.
type Config struct {
	Store Store
	Keys  Opener
	// Sender delivers; its SMTP is replaced by the stored relay on each pass.
	Sender Sender
	// BaseURL is how people reach the server's pages, for links.
	BaseURL string
	Log     *slog.Logger
	Now     func() time.Time
}

// Notifier reads the event log and notifies channels.
type Notifier struct {
	cfg Config
}

// New returns a Notifier.
func New(cfg Config) *Notifier {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sender.Timeout == 0 {
		cfg.Sender.Timeout = 15 * time.Second
	}
	return &Notifier{cfg: cfg}
}

// batch is how many events one pass reads.
const batch = 500

// Run notifies until ctx ends, waking when events are written. A server
// that has never notified starts from the end of the event log: history is
// not announced.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		ch, stop := n.cfg.Store.Watch(store.TopicEvents)
		more, err := n.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			n.cfg.Log.Warn("notify: reading events", "err", err)
		}
		if more {
			stop()
			continue
		}
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-ch:
		case <-time.After(time.Minute): // a safety net: another replica's events wake no one here
		}
		stop()
	}
}

// Pass handles the events after the cursor, at most one batch, and reports
// whether there may be more. Events are claimed (the cursor moved past
// them) before anything is sent, so two servers on one database never send
// the same notification; a crash in between loses those notifications
// rather than repeating them.
func (n *Notifier) Pass(ctx context.Context) (bool, error) {
	st := n.cfg.Store
	cur, ok, err := st.NotifyCursor(ctx)
	if err != nil {
		return false, err
	}
	if !ok {
		last, err := st.LastEventID(ctx)
		if err != nil {
			return false, err
		}
		_, err = st.ClaimNotifyEvents(ctx, -1, last)
		return false, err
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{After: cur, Limit: batch,
		Kinds: []string{store.EventRunCompleted, store.EventPromotionState, store.EventPromotionCreated}})
	if err != nil || len(evs) == 0 {
		return false, err
	}
	last := evs[len(evs)-1].ID
	claimed, err := st.ClaimNotifyEvents(ctx, cur, last)
	if err != nil || !claimed {
		return false, err
	}
	for _, ev := range evs {
		msgs, err := n.messages(ctx, ev)
		if err != nil {
			n.cfg.Log.Warn("notify: reading what an event is about", "event", ev.ID, "kind", ev.Kind, "err", err)
			continue
		}
		for _, m := range msgs {
			n.deliver(ctx, m)
		}
	}
	return len(evs) == batch, nil
}

// pending is a message and the repository whose channels get it.
type pending struct {
	repo *store.Repo
	msg  Message
}

// messages decides what an event tells people, if anything.
func (n *Notifier) messages(ctx context.Context, ev store.Event) ([]pending, error) {
	switch ev.Kind {
	case store.EventRunCompleted:
		if ev.RunID == nil {
			return nil, nil
		}
		return n.runMessages(ctx, *ev.RunID)
	case store.EventPromotionState, store.EventPromotionCreated:
		var d struct {
			Promotion int64  `json:"promotion"`
			To        string `json:"to"`
			State     string `json:"state"`
			Kind      string `json:"kind"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Promotion == 0 {
			return nil, err
		}
		switch {
		case ev.Kind == store.EventPromotionCreated && d.Kind == string(cd.KindRollback):
			return n.deployMessage(ctx, d.Promotion, EventRollback)
		case ev.Kind == store.EventPromotionCreated && d.State == string(cd.StateWaiting),
			ev.Kind == store.EventPromotionState && d.To == string(cd.StateWaiting):
			return n.deployMessage(ctx, d.Promotion, EventApproval)
		}
	}
	return nil, nil
}

// recoveryScan bounds how far back a success looks for its workflow's
// previous run on the same ref.
const recoveryScan = 50

func (n *Notifier) runMessages(ctx context.Context, runID int64) ([]pending, error) {
	st := n.cfg.Store
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	repo, err := st.GetRepo(ctx, run.RepoID)
	if err != nil {
		return nil, err
	}
	info := &RunInfo{ID: run.ID, Number: run.Number, Workflow: workflowLabel(run), Ref: run.Ref, SHA: run.SHA,
		Actor: run.Actor, Conclusion: run.Conclusion}
	m := Message{Repo: repo.Name, Run: info, URL: n.link(fmt.Sprintf("/runs/%d", run.ID)), Time: n.cfg.Now().UTC()}
	branch := refName(run.Ref)
	switch run.Conclusion {
	case store.ConclusionFailure:
		jobs, err := st.ListJobStates(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		rejected, err := n.onlyRejected(ctx, run, jobs)
		if err != nil || rejected {
			return nil, err // a reviewer's decision, not a breakage
		}
		for _, j := range jobs {
			if j.Conclusion == store.ConclusionFailure && !isMatrixParent(j, jobs) {
				name := j.Name
				if name == "" {
					name = j.Key
				}
				info.FailedJobs = append(info.FailedJobs, name)
			}
		}
		m.Event = EventFailure
		m.Title = fmt.Sprintf("%s: %s #%d failed on %s", repo.Name, info.Workflow, run.Number, branch)
		m.Text = runText(run, info)
	case store.ConclusionSuccess:
		prev, err := n.previousRun(ctx, run)
		if err != nil || prev == nil || prev.Conclusion != store.ConclusionFailure {
			return nil, err
		}
		m.Event = EventRecovery
		m.Title = fmt.Sprintf("%s: %s is green again on %s (#%d)", repo.Name, info.Workflow, branch, run.Number)
		m.Text = fmt.Sprintf("Run #%d passed after #%d failed.\n%s", run.Number, prev.Number, runText(run, info))
	default:
		return nil, nil
	}
	return []pending{{repo: repo, msg: m}}, nil
}

// previousRun is the completed run of run's workflow on its ref before it,
// cancelled runs skipped (they say nothing about the code).
func (n *Notifier) previousRun(ctx context.Context, run *store.Run) (*store.Run, error) {
	runs, err := n.cfg.Store.ListRuns(ctx, store.RunFilter{RepoID: run.RepoID, Workflow: run.Workflow, Ref: run.Ref,
		Status: store.StatusCompleted, Before: run.ID, Limit: recoveryScan})
	if err != nil {
		return nil, err
	}
	for i := range runs {
		if runs[i].Conclusion == store.ConclusionSuccess || runs[i].Conclusion == store.ConclusionFailure {
			return &runs[i], nil
		}
	}
	return nil, nil
}

// onlyRejected reports whether run failed only because reviewers rejected
// its deployments.
func (n *Notifier) onlyRejected(ctx context.Context, run *store.Run, jobs []store.Job) (bool, error) {
	ps, err := n.cfg.Store.PromotionsOfRun(ctx, run.ID)
	if err != nil || !slices.ContainsFunc(ps, cd.Rejected) {
		return false, err
	}
	for _, j := range jobs {
		if j.Conclusion == store.ConclusionFailure && j.StartedAt != nil && !isMatrixParent(j, jobs) {
			return false, nil
		}
	}
	return true, nil
}

// isMatrixParent reports whether j is the row of a matrix job whose legs
// are rows of their own (the legs are the jobs people read about).
func isMatrixParent(j store.Job, jobs []store.Job) bool {
	return slices.ContainsFunc(jobs, func(o store.Job) bool { return strings.HasPrefix(o.Key, j.Key+" (") })
}

func runText(run *store.Run, info *RunInfo) string {
	var lines []string
	if run.Title != "" {
		lines = append(lines, "Commit "+short(run.SHA)+": "+run.Title)
	} else if run.SHA != "" {
		lines = append(lines, "Commit "+short(run.SHA))
	}
	if run.Actor != "" {
		lines = append(lines, "By "+run.Actor+" ("+run.Event+")")
	}
	if len(info.FailedJobs) > 0 {
		lines = append(lines, "Failed: "+strings.Join(info.FailedJobs, ", "))
	}
	return strings.Join(lines, "\n")
}

func (n *Notifier) deployMessage(ctx context.Context, id int64, event string) ([]pending, error) {
	st := n.cfg.Store
	p, err := st.GetPromotion(ctx, id)
	if err != nil {
		return nil, err
	}
	repo, err := st.GetRepo(ctx, p.RepoID)
	if err != nil {
		return nil, err
	}
	d := &DeploymentInfo{Promotion: p.ID, Environment: p.Env, Release: p.ReleaseID, Kind: string(p.Kind),
		StartedBy: p.StartedBy, Automatic: p.Auto}
	if rel, err := st.GetRelease(ctx, p.ReleaseID); err == nil {
		d.Version = rel.Version
	}
	release := short(strings.TrimPrefix(p.ReleaseID, "sha256:"))
	if d.Version != "" {
		release += " (" + d.Version + ")"
	}
	m := Message{Event: event, Repo: repo.Name, Deployment: d, Time: n.cfg.Now().UTC(),
		URL: n.link(repoPath(repo.Name) + "/environments#env-" + url.PathEscape(p.Env))}
	switch event {
	case EventApproval:
		envs, err := st.ListEnvironments(ctx, repo.ID)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(envs, func(e cd.Environment) bool { return e.Name == p.Env })
		if i < 0 {
			return nil, nil
		}
		need, who := cd.PendingReview(envs[i], *p)
		if need == 0 {
			return nil, nil // waiting for a timer or a window: nobody to ask
		}
		d.Reviewers, d.Approvals = who, need
		if p.RunID != 0 {
			m.URL = n.link(fmt.Sprintf("/runs/%d", p.RunID))
		}
		m.Title = fmt.Sprintf("%s: deployment of %s to %s waits for approval", repo.Name, release, p.Env)
		m.Text = fmt.Sprintf("Started by %s. Needs %d approval(s) from: %s.", p.StartedBy, need, strings.Join(who, ", "))
	case EventRollback:
		by := p.StartedBy
		if p.Auto {
			by = "sluice (automatic, after a failed deployment)"
		}
		m.Title = fmt.Sprintf("%s: %s is being rolled back to %s", repo.Name, p.Env, release)
		m.Text = "Rollback #" + fmt.Sprint(p.ID) + " started by " + by + "."
	}
	return []pending{{repo: repo, msg: m}}, nil
}

// Channels are the channels that get a repository's messages: its own, or
// when it has none, the server-wide ones.
func Channels(ctx context.Context, st interface {
	ListNotifyChannels(ctx context.Context, repoID *int64) ([]store.NotifyChannel, error)
}, repoID int64) ([]store.NotifyChannel, error) {
	own, err := st.ListNotifyChannels(ctx, &repoID)
	if err != nil || len(own) > 0 {
		return own, err
	}
	return st.ListNotifyChannels(ctx, nil)
}

// deliver sends m to each channel subscribed to its event and records how
// it went.
func (n *Notifier) deliver(ctx context.Context, p pending) {
	chans, err := Channels(ctx, n.cfg.Store, p.repo.ID)
	if err != nil {
		n.cfg.Log.Warn("notify: listing channels", "repo", p.repo.Name, "err", err)
		return
	}
	for _, c := range chans {
		if !slices.Contains(c.Events, p.msg.Event) {
			continue
		}
		n.Deliver(ctx, c, p.msg)
	}
}

// Deliver sends m to channel c now and records the delivery; its error is
// what the delivery log says.
func (n *Notifier) Deliver(ctx context.Context, c store.NotifyChannel, m Message) error {
	err := n.send(ctx, c, m)
	d := store.NotifyDelivery{ChannelID: c.ID, Event: m.Event, Subject: m.Title, OK: err == nil}
	if err != nil {
		d.Detail = err.Error()
		n.cfg.Log.Warn("notify: delivery failed", "channel", c.Name, "kind", c.Kind, "event", m.Event, "err", err)
	}
	if lerr := n.cfg.Store.AddNotifyDelivery(ctx, d); lerr != nil {
		n.cfg.Log.Warn("notify: recording a delivery", "channel", c.Name, "err", lerr)
	}
	return err
}

// attempts is how often a delivery is tried; the pause between grows.
const attempts = 3

func (n *Notifier) send(ctx context.Context, c store.NotifyChannel, m Message) error {
	t, err := OpenTarget(n.cfg.Keys, c)
	if err != nil {
		return err
	}
	s := n.cfg.Sender
	if t.Kind == KindEmail {
		if s.SMTP, err = n.relay(ctx); err != nil {
			return err
		}
	}
	for i := 0; ; i++ {
		err = s.Send(ctx, t, m)
		var perm *permanent
		if err == nil || i+1 == attempts || errors.As(err, &perm) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * time.Second):
		}
	}
}

// permanent marks an error a retry cannot fix.
type permanent struct{ error }

// relay is the stored SMTP relay with its password opened.
func (n *Notifier) relay(ctx context.Context) (*SMTP, error) {
	r, err := n.cfg.Store.GetNotifySMTP(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &permanent{errors.New("no SMTP relay is set: set one on the server's notifications page")}
	}
	if err != nil {
		return nil, err
	}
	return OpenSMTP(n.cfg.Keys, r)
}

// Test sends a test message to channel c, for the UI's button.
func (n *Notifier) Test(ctx context.Context, c store.NotifyChannel, repo string) error {
	m := Message{Event: EventTest, Repo: repo, Time: n.cfg.Now().UTC(), URL: n.link("/"),
		Title: "sluice: a test of the notification channel " + c.Name,
		Text:  "If you can read this, " + c.Kind + " notifications from this sluice server reach you."}
	return n.Deliver(ctx, c, m)
}

func (n *Notifier) link(p string) string {
	return strings.TrimSuffix(n.cfg.BaseURL, "/") + p
}

func repoPath(name string) string {
	p := "/repos"
	for _, seg := range strings.Split(name, "/") {
		p += "/" + url.PathEscape(seg)
	}
	return p
}

func workflowLabel(r *store.Run) string {
	if r.WorkflowName != "" {
		return r.WorkflowName
	}
	return path.Base(r.Workflow)
}

func refName(ref string) string {
	for _, p := range []string{"refs/heads/", "refs/tags/", "refs/"} {
		if s, ok := strings.CutPrefix(ref, p); ok {
			return s
		}
	}
	return ref
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
