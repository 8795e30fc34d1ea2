package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/cd"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

// receiver is a local HTTP server standing in for Slack and for a
// webhook consumer: it keeps every request.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	status int // answered; 0 means 200
}

type received struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Path: req.URL.Path, Header: req.Header.Clone(), Body: b})
		st := r.status
		r.mu.Unlock()
		if st != 0 {
			http.Error(w, "no such hook", st)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests(path string) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if g.Path == path {
			out = append(out, g)
		}
	}
	return out
}

// world is a store with a repository, channels and a notifier.
type world struct {
	t    *testing.T
	ctx  context.Context
	db   *store.DB
	keys *secrets.Keyring
	n    *Notifier
	repo *store.Repo
	recv *receiver
	smtp *testenv.SMTPServer
}

func newWorld(t *testing.T, withSMTP bool) *world {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.LoadKey(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, db: db, keys: keys, recv: newReceiver(t)}
	if w.repo, err = db.CreateRepo(ctx, store.Repo{Name: "acme/app", URL: "https://git.example/acme/app.git", DefaultBranch: "main"}); err != nil {
		t.Fatal(err)
	}
	if withSMTP {
		w.smtp = testenv.StartSMTP(t, ctx)
		port, _ := strconv.Atoi(w.smtp.Port)
		rec, err := SMTPInput{Host: w.smtp.Host, Port: port, Username: w.smtp.User, Password: w.smtp.Password,
			From: "ci@example.com", TLS: "none"}.Record(keys)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.PutNotifySMTP(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	w.n = New(Config{Store: db, Keys: keys, BaseURL: "https://ci.example", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sender: Sender{HTTP: w.recv.srv.Client(), Timeout: 10 * time.Second}})
	// The first pass starts the cursor at the end of history.
	if _, err := w.n.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) channel(repoID *int64, in ChannelInput) store.NotifyChannel {
	w.t.Helper()
	if err := in.Validate(true); err != nil {
		w.t.Fatal(err)
	}
	rec, err := Record(w.keys, repoID, in, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := w.db.PutNotifyChannel(w.ctx, rec)
	if err != nil {
		w.t.Fatal(err)
	}
	return *c
}

// run stores a completed run of workflow on ref with one job per conclusion given.
func (w *world) run(workflow, ref, conclusion string, jobs ...string) *store.Run {
	w.t.Helper()
	var js []store.Job
	for _, k := range jobs {
		js = append(js, store.Job{Key: k, Name: k})
	}
	r, created, err := w.db.CreateRun(w.ctx, store.Run{RepoID: w.repo.ID, Workflow: workflow, WorkflowName: "CI", Event: "push",
		Ref: ref, SHA: "0123456789abcdef0123456789abcdef01234567", Title: "Fix the frobnicator", Actor: "alice"}, js)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, j := range created {
		st, c := store.StatusCompleted, conclusion
		if _, err := w.db.UpdateJob(w.ctx, j.ID, store.JobUpdate{Status: &st, Conclusion: &c}); err != nil {
			w.t.Fatal(err)
		}
	}
	if r, err = w.db.SetRunStatus(w.ctx, r.ID, store.StatusCompleted, conclusion); err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) pass() {
	w.t.Helper()
	for {
		more, err := w.n.Pass(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if !more {
			return
		}
	}
}

func decode(t *testing.T, b []byte) Message {
	t.Helper()
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return m
}

// Failure, recovery and silence, as a team would see them in Slack and in
// a signed webhook: the first failure and each failure are announced, the
// first green run after a red one on the same branch is a recovery, and a
// green after green, a cancelled run or another branch's history are not.
func TestNotifierRunEvents(t *testing.T) {
	w := newWorld(t, false)
	slack := w.channel(&w.repo.ID, ChannelInput{Kind: KindSlack, Name: "chat", Events: []string{EventFailure, EventRecovery},
		URL: w.recv.srv.URL + "/slack/T000/B000/XXXX"})
	key := "s3cret-signing-key"
	w.channel(&w.repo.ID, ChannelInput{Kind: KindWebhook, Name: "hook", Events: []string{EventFailure},
		URL: w.recv.srv.URL + "/hook", SigningKey: key})

	main, feature := "refs/heads/main", "refs/heads/feature"
	w.run("ci.yml", main, store.ConclusionSuccess, "test")
	red := w.run("ci.yml", main, store.ConclusionFailure, "lint", "test")
	w.run("ci.yml", feature, store.ConclusionSuccess, "test") // another branch: not a recovery of main
	w.run("ci.yml", main, store.ConclusionCancelled, "test")  // says nothing about the code
	green := w.run("ci.yml", main, store.ConclusionSuccess, "test")
	w.run("ci.yml", main, store.ConclusionSuccess, "test") // green after green: silence
	w.pass()

	var titles []string
	for _, r := range w.recv.requests("/slack/T000/B000/XXXX") {
		var body struct{ Text string }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("slack body %s: %v", r.Body, err)
		}
		titles = append(titles, strings.SplitN(body.Text, "\n", 2)[0])
	}
	want := []string{
		"*acme/app: CI #2 failed on main*",
		"*acme/app: CI is green again on main (#5)*",
	}
	if diff := cmp.Diff(want, titles); diff != "" {
		t.Errorf("slack messages (-want +got):\n%s", diff)
	}

	hooks := w.recv.requests("/hook")
	if len(hooks) != 1 {
		t.Fatalf("%d webhook deliveries, want 1 (failure only)", len(hooks))
	}
	h := hooks[0]
	if !Verify([]byte(key), h.Header.Get(HeaderTimestamp), h.Body, h.Header.Get(HeaderSignature)) {
		t.Errorf("the webhook's signature does not verify: %s", h.Header.Get(HeaderSignature))
	}
	if h.Header.Get(HeaderEvent) != EventFailure || h.Header.Get(HeaderDelivery) == "" {
		t.Errorf("webhook headers %v", h.Header)
	}
	m := decode(t, h.Body)
	if m.Run == nil || m.Run.ID != red.ID || m.URL != "https://ci.example/runs/"+strconv.FormatInt(red.ID, 10) ||
		!cmp.Equal(m.Run.FailedJobs, []string{"lint", "test"}) {
		t.Errorf("webhook message %+v run %+v", m, m.Run)
	}
	// A receiver refuses a body that was changed on the way.
	if Verify([]byte(key), h.Header.Get(HeaderTimestamp), bytes.Replace(h.Body, []byte("failure"), []byte("success"), 1), h.Header.Get(HeaderSignature)) {
		t.Error("a tampered body verifies")
	}
	_ = green

	// Each delivery is in the channel's log.
	log, err := w.db.ListNotifyDeliveries(w.ctx, slack.ID, 10)
	if err != nil || len(log) != 2 || !log[0].OK || log[0].Event != EventRecovery {
		t.Errorf("delivery log %+v, %v", log, err)
	}
}

// A repository without channels of its own is notified through the
// server-wide ones; one with its own channels is not.
func TestNotifierServerDefaults(t *testing.T) {
	w := newWorld(t, false)
	w.channel(nil, ChannelInput{Kind: KindSlack, Name: "everyone", Events: []string{EventFailure}, URL: w.recv.srv.URL + "/all"})
	w.run("ci.yml", "refs/heads/main", store.ConclusionFailure, "test")
	w.pass()
	if n := len(w.recv.requests("/all")); n != 1 {
		t.Fatalf("server-wide channel got %d messages, want 1", n)
	}
	w.channel(&w.repo.ID, ChannelInput{Kind: KindSlack, Name: "own", Events: []string{EventRecovery}, URL: w.recv.srv.URL + "/own"})
	w.run("ci.yml", "refs/heads/main", store.ConclusionFailure, "test")
	w.pass()
	if n := len(w.recv.requests("/all")); n != 1 {
		t.Errorf("server-wide channel got %d messages after the repository got its own channel, want still 1", n)
	}
	if n := len(w.recv.requests("/own")); n != 0 {
		t.Errorf("a channel for recoveries got %d failure messages", n)
	}
}

// Deployments: a promotion waiting for reviewers asks them, by name; a
// rollback is announced; a rejected deployment's run is not a "failure".
func TestNotifierDeployments(t *testing.T) {
	w := newWorld(t, false)
	w.channel(&w.repo.ID, ChannelInput{Kind: KindWebhook, Name: "hook", Events: Events, URL: w.recv.srv.URL + "/hook", SigningKey: "k"})
	ctx := w.ctx
	build := w.run("ci.yml", "refs/heads/main", store.ConclusionSuccess, "build")
	rel, err := cd.NewRelease(cd.ReleaseSource{Repo: "acme/app", Commit: build.SHA, Ref: build.Ref, Version: "1.2.0", RunID: build.ID},
		[]cd.Artifact{{Name: "app-1.2.0-py3-none-any.whl", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 10}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.db.CreateRelease(ctx, w.repo.ID, rel); err != nil {
		t.Fatal(err)
	}
	if err := w.db.PutEnvironment(ctx, w.repo.ID, cd.Environment{Name: "production", Reviewers: []string{"alice", "bob", "carol"},
		RequiredApprovals: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := w.db.CreatePromotion(ctx, w.repo.ID, cd.Promotion{Env: "production", ReleaseID: rel.ID, Kind: cd.KindForward, StartedBy: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.SetPromotionState(ctx, p.ID, cd.StateWaiting); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.CreatePromotion(ctx, w.repo.ID, cd.Promotion{Env: "production", ReleaseID: rel.ID, Kind: cd.KindRollback,
		StartedBy: "sluice", Auto: true}); err != nil {
		t.Fatal(err)
	}
	w.pass()
	var got []Message
	for _, r := range w.recv.requests("/hook") {
		got = append(got, decode(t, r.Body))
	}
	if len(got) != 2 {
		t.Fatalf("%d messages, want approval and rollback: %+v", len(got), got)
	}
	ap, rb := got[0], got[1]
	if ap.Event != EventApproval || ap.Deployment == nil || !cmp.Equal(ap.Deployment.Reviewers, []string{"alice", "bob"}) ||
		ap.Deployment.Approvals != 2 || ap.Deployment.Version != "1.2.0" {
		t.Errorf("approval message %+v %+v", ap, ap.Deployment)
	}
	if !strings.Contains(ap.Text, "alice, bob") || strings.Contains(ap.Text, "carol,") {
		t.Errorf("approval text %q should name who may approve (not carol, who started it)", ap.Text)
	}
	if rb.Event != EventRollback || !rb.Deployment.Automatic || !strings.Contains(rb.Title, "production is being rolled back") {
		t.Errorf("rollback message %+v", rb)
	}
}

// Email goes through a real SMTP server (aiosmtpd), authenticated; a
// branch name crafted to add headers (a push can name a branch anything
// git allows) stays inside the subject.
func TestNotifierEmail(t *testing.T) {
	w := newWorld(t, true)
	c := w.channel(&w.repo.ID, ChannelInput{Kind: KindEmail, Name: "team", Events: []string{EventFailure},
		To: []string{"dev@example.com, lead@example.com"}})
	w.run("ci.yml", "refs/heads/evil\r\nBcc: attacker@evil.example\r\nX-Injected: yes", store.ConclusionFailure, "test")
	w.pass()
	mails := w.smtp.WaitMails(t, 1)
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	m := mails[0]
	if !m.Authenticated || m.From != "ci@example.com" || !cmp.Equal(m.To, []string{"dev@example.com", "lead@example.com"}) {
		t.Errorf("envelope: authenticated %v, from %q, to %v", m.Authenticated, m.From, m.To)
	}
	head, body, _ := strings.Cut(m.Data, "\n\n")
	for _, bad := range []string{"\nBcc:", "\nX-Injected:", "attacker@evil.example\n"} {
		if strings.Contains("\n"+head+"\n", bad) {
			t.Errorf("a branch name added a header %q:\n%s", bad, head)
		}
	}
	if !strings.Contains(head, "Subject: ") || !strings.Contains(body, "/runs/") {
		t.Errorf("mail:\n%s", m.Data)
	}
	// The test button's message takes the same way.
	if err := w.n.Test(w.ctx, c, w.repo.Name); err != nil {
		t.Fatalf("test message: %v", err)
	}
	if mails = w.smtp.WaitMails(t, 2); len(mails) != 2 || !strings.Contains(mails[1].Data, "a test of the notification channel team") {
		t.Errorf("test mail: %+v", mails)
	}
}

// A wrong SMTP password is refused by the server and said so in the
// delivery log, which never holds the password.
func TestNotifierEmailWrongPassword(t *testing.T) {
	w := newWorld(t, true)
	port, _ := strconv.Atoi(w.smtp.Port)
	rec, err := SMTPInput{Host: w.smtp.Host, Port: port, Username: w.smtp.User, Password: "not-the-password", From: "ci@example.com", TLS: "none"}.Record(w.keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.db.PutNotifySMTP(w.ctx, rec); err != nil {
		t.Fatal(err)
	}
	c := w.channel(nil, ChannelInput{Kind: KindEmail, Name: "team", Events: []string{EventFailure}, To: []string{"dev@example.com"}})
	err = w.n.Test(w.ctx, c, "")
	if err == nil || !strings.Contains(err.Error(), "signing in to the SMTP relay") {
		t.Fatalf("test with a wrong password: %v", err)
	}
	log, _ := w.db.ListNotifyDeliveries(w.ctx, c.ID, 1)
	if len(log) != 1 || log[0].OK || strings.Contains(log[0].Detail, "not-the-password") {
		t.Errorf("delivery log %+v", log)
	}
	if n := len(w.smtp.Mails(t)); n != 0 {
		t.Errorf("%d mails accepted without authentication", n)
	}
}

// Secrets at rest: the webhook URL (Slack's carries its token) is sealed in
// the store; a ciphertext copied onto another channel does not open there.
func TestChannelSecretsSealed(t *testing.T) {
	w := newWorld(t, false)
	hook := w.recv.srv.URL + "/services/T0/B0/tok3n-in-the-url"
	a := w.channel(&w.repo.ID, ChannelInput{Kind: KindSlack, Name: "a", Events: []string{EventFailure}, URL: hook})
	if bytes.Contains(a.Secret, []byte("tok3n")) || strings.Contains(a.Target, "tok3n") {
		t.Fatalf("the webhook URL is stored in the clear: target %q", a.Target)
	}
	b := w.channel(&w.repo.ID, ChannelInput{Kind: KindSlack, Name: "b", Events: []string{EventFailure}, URL: w.recv.srv.URL + "/other"})
	b.Secret = a.Secret
	if _, err := OpenTarget(w.keys, b); err == nil {
		t.Error("a's sealed URL opens as b's")
	}
	// A 404 from the hook is a failed delivery, and the error names the host only.
	w.recv.status = http.StatusNotFound
	err := w.n.Test(w.ctx, a, w.repo.Name)
	if err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Errorf("delivery to a missing hook: %v", err)
	}
}

func TestChannelInputRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   ChannelInput
		want string
	}{
		{"no name", ChannelInput{Kind: KindSlack, Events: Events, URL: "https://x.example"}, "channel name"},
		{"bad kind", ChannelInput{Kind: "pager", Name: "p", Events: Events}, "channel kind"},
		{"no events", ChannelInput{Kind: KindSlack, Name: "c", URL: "https://x.example"}, "choose at least one"},
		{"unknown event", ChannelInput{Kind: KindSlack, Name: "c", Events: []string{"push"}, URL: "https://x.example"}, `event "push"`},
		{"not http", ChannelInput{Kind: KindWebhook, Name: "c", Events: Events, URL: "file:///etc/passwd"}, "http:// or https://"},
		{"credentials in URL", ChannelInput{Kind: KindWebhook, Name: "c", Events: Events, URL: "https://u:p@x.example/"}, "user name or password"},
		{"no recipients", ChannelInput{Kind: KindEmail, Name: "c", Events: Events}, "at least one recipient"},
		{"header injection", ChannelInput{Kind: KindEmail, Name: "c", Events: Events, To: []string{"a@example.com\r\nBcc: x@evil.example"}}, "not an email address"},
		{"too many", ChannelInput{Kind: KindEmail, Name: "c", Events: Events, To: []string{strings.Repeat("a@example.com,", 60)}}, "at most 50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate(true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Slack markup in a branch or job name cannot ping a whole channel.
func TestSlackEscapes(t *testing.T) {
	body := slackBody(Message{Title: "CI failed on <!channel>", Text: "by <@U123>", URL: "https://ci.example/runs/1"})
	var m struct{ Text string }
	json.Unmarshal(body, &m)
	if strings.Contains(m.Text, "<!channel>") || strings.Contains(m.Text, "<@U123>") || !strings.Contains(m.Text, "<https://ci.example/runs/1|Open in sluice>") {
		t.Errorf("slack text %q", m.Text)
	}
}

// staleCursor is the view of a second server replica that read the
// notifier's cursor just before the first one claimed the events after it.
type staleCursor struct {
	*store.DB
	at int64
}

func (s staleCursor) NotifyCursor(context.Context) (int64, bool, error) { return s.at, true, nil }

// Two notifiers on one database (two server replicas) never send the same
// notification twice: events are claimed by moving the cursor from where a
// notifier read it, and the one that lost the race sends nothing.
func TestNotifierClaimsEvents(t *testing.T) {
	w := newWorld(t, false)
	w.channel(&w.repo.ID, ChannelInput{Kind: KindSlack, Name: "chat", Events: []string{EventFailure}, URL: w.recv.srv.URL + "/s"})
	before, _, err := w.db.NotifyCursor(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		w.run("ci.yml", "refs/heads/main", store.ConclusionFailure, "test")
	}
	w.pass() // the first replica
	cfg := w.n.cfg
	cfg.Store = staleCursor{DB: w.db, at: before}
	if _, err := New(cfg).Pass(w.ctx); err != nil { // the second, a moment late
		t.Fatal(err)
	}
	if n := len(w.recv.requests("/s")); n != 5 {
		t.Errorf("%d messages for 5 failures", n)
	}
}
