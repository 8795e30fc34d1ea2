package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/artifacts"
	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/secrets"
	"github.com/sluice-ci/sluice/internal/store"
)

type agentTestEnv struct {
	srv   *Server
	ts    *httptest.Server
	db    *store.DB
	keys  *secrets.Keyring
	sched *agentFakeScheduler
	admin string
	reg   string // a registration token
	repo  *store.Repo
}

func newAgentTestEnv(t *testing.T) *agentTestEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &agentTestEnv{db: db, keys: keys, sched: &agentFakeScheduler{}}
	e.admin = agentTestToken(t, db, store.ScopeAdmin)
	e.reg = agentTestToken(t, db, store.ScopeRegister)
	if e.repo, err = db.CreateRepo(ctx, store.Repo{Name: "demo", URL: "file:///srv/demo"}); err != nil {
		t.Fatal(err)
	}
	if e.srv, err = New(Config{DB: db, Keys: keys, Scheduler: e.sched, Artifacts: arts, DataDir: t.TempDir(),
		Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() {
		e.ts.CloseClientConnections()
		e.ts.Close()
	})
	return e
}

func agentTestToken(t *testing.T, db *store.DB, scope string) string {
	t.Helper()
	tok, hash, err := secrets.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(context.Background(), store.Token{Name: "t-" + scope + tok[5:10], Hash: hash, Scope: scope}); err != nil {
		t.Fatal(err)
	}
	return tok
}

// do sends body (JSON, or raw bytes) with token and returns the status and answer.
func (e *agentTestEnv) do(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func (e *agentTestEnv) register(t *testing.T, name string, labels ...string) (int64, string) {
	t.Helper()
	code, body := e.do(t, "POST", "/api/v1/agent/register", e.reg, map[string]any{"name": name, "labels": labels, "parallel": 1})
	if code != http.StatusOK {
		t.Fatalf("register %s: %d %s", name, code, body)
	}
	var out agentRegisterResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.AgentID, out.Token
}

func (e *agentTestEnv) queue(t *testing.T, spec string) store.Job {
	t.Helper()
	_, jobs, err := e.db.CreateRun(context.Background(), store.Run{RepoID: e.repo.ID, Workflow: ".github/workflows/ci.yml",
		Trigger: store.TriggerManual, Event: "push"}, []store.Job{{Key: "test", Name: "test", Status: store.StatusQueued, Spec: []byte(spec)}})
	if err != nil {
		t.Fatal(err)
	}
	return jobs[0]
}

func (e *agentTestEnv) claim(t *testing.T, token string) (int, jobspec.Claim) {
	t.Helper()
	code, body := e.do(t, "POST", "/api/v1/agent/claim?wait=0", token, nil)
	var out jobspec.Claim
	if code == http.StatusOK {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
	}
	return code, out
}

type agentFakeScheduler struct {
	mu       sync.Mutex
	finished []int64
}

func (f *agentFakeScheduler) Trigger(context.Context, *store.Repo, Trigger) ([]store.Run, error) {
	return nil, nil
}

func (f *agentFakeScheduler) JobFinished(_ context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, id)
	return nil
}

func (f *agentFakeScheduler) Cancel(context.Context, int64) error { return nil }

func (f *agentFakeScheduler) Rerun(context.Context, int64, bool) (*store.Run, error) { return nil, nil }

func (f *agentFakeScheduler) got() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.finished)
}

// TestAgentRegisterNeedsRegistrationToken: an agent registers with a
// registration token only; an admin token (which an agent must never hold)
// is refused like a read or write one, and a registration takes no live
// agent's place.
func TestAgentRegisterNeedsRegistrationToken(t *testing.T) {
	e := newAgentTestEnv(t)
	tests := []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "slc_" + strings.Repeat("a", 43), http.StatusUnauthorized},
		{"read token", agentTestToken(t, e.db, store.ScopeRead), http.StatusForbidden},
		{"write token", agentTestToken(t, e.db, store.ScopeWrite), http.StatusForbidden},
		{"admin token", e.admin, http.StatusForbidden},
		{"registration token", e.reg, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(t, "POST", "/api/v1/agent/register", tt.token, map[string]any{"name": "a-" + tt.name})
			if code != tt.want {
				t.Errorf("register: %d %s, want %d", code, body, tt.want)
			}
		})
	}
	_, tok := e.register(t, "runner", "linux")
	if code, body := e.do(t, "POST", "/api/v1/agent/register", e.reg, map[string]any{"name": "runner"}); code != http.StatusConflict {
		t.Errorf("registering the name of a live agent: %d %s, want 409", code, body)
	}
	if code, _ := e.do(t, "GET", "/api/v1/runs", e.reg, nil); code != http.StatusForbidden {
		t.Errorf("a registration token reading runs: %d, want 403", code)
	}
	if code, _ := e.claim(t, tok); code != http.StatusNoContent {
		t.Errorf("claim with the agent token and nothing queued: %d, want 204", code)
	}
	if code, _ := e.claim(t, e.admin); code != http.StatusUnauthorized {
		t.Errorf("claim with an API token: %d, want 401", code)
	}
}

func TestAgentClaimGivesSecrets(t *testing.T) {
	e := newAgentTestEnv(t)
	ctx := context.Background()
	put := func(repoID *int64, scope, name, value string) {
		ct, err := e.keys.Seal([]byte(value), SecretContext(scope, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.PutSecret(ctx, repoID, name, ct); err != nil {
			t.Fatal(err)
		}
	}
	put(nil, "", "SHARED", "server-wide")
	put(nil, "", "PYPI_TOKEN", "server-wide token")
	put(&e.repo.ID, e.repo.Name, "PYPI_TOKEN", "repo token")
	_, tok := e.register(t, "runner")
	tests := []struct {
		name string
		spec string
		want map[string]string
	}{
		{"push", `{"run":{"event":"push"}}`, map[string]string{"SHARED": "server-wide", "PYPI_TOKEN": "repo token"}},
		{"fork pull request", `{"run":{"event":"pull_request","fork":true}}`, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := e.queue(t, tt.spec)
			code, got := e.claim(t, tok)
			if code != http.StatusOK {
				t.Fatalf("claim: %d", code)
			}
			if got.Job.ID != j.ID || string(got.Spec) != tt.spec || got.LeaseSeconds != 30 {
				t.Errorf("claim = %+v, want job %d with its spec and a 30 s lease", got, j.ID)
			}
			if diff := cmp.Diff(tt.want, got.Secrets); diff != "" {
				t.Errorf("secrets (-want +got):\n%s", diff)
			}
			if code, body := e.do(t, "POST", fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.ID), tok,
				map[string]any{"conclusion": "success"}); code != http.StatusOK {
				t.Fatalf("complete: %d %s", code, body)
			}
		})
	}
}

func TestAgentClaimFailsJobWithUnreadableSecret(t *testing.T) {
	e := newAgentTestEnv(t)
	ctx := context.Background()
	ct, err := e.keys.Seal([]byte("v"), SecretContext("another-repo", "X"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.PutSecret(ctx, &e.repo.ID, "X", ct); err != nil {
		t.Fatal(err)
	}
	_, tok := e.register(t, "runner")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, tok); code != http.StatusNoContent {
		t.Errorf("claim: %d, want 204 (the only job cannot be handed out)", code)
	}
	got, err := e.db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.StatusCompleted || got.Conclusion != store.ConclusionFailure ||
		!strings.Contains(got.Reason, "secrets could not be read") {
		t.Errorf("job = %s %s (%s), want completed failure saying why", got.Status, got.Conclusion, got.Reason)
	}
	if !slices.Contains(e.sched.got(), j.ID) {
		t.Errorf("scheduler was not told job %d finished", j.ID)
	}
}

func TestAgentClaimWakesWhenAJobIsQueued(t *testing.T) {
	e := newAgentTestEnv(t)
	_, tok := e.register(t, "runner")
	before, err := e.db.ListAgents(context.Background())
	if err != nil || len(before) != 1 {
		t.Fatalf("agents = %v, %v", before, err)
	}
	type result struct {
		code int
		body []byte
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/agent/claim?wait=20", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			done <- result{code: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, b}
	}()
	// Queue only once the claim is waiting, so the wake-up is what hands it the job.
	for deadline := time.Now().Add(10 * time.Second); ; {
		a, err := e.db.ListAgents(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 1 && !a[0].LastSeen.Equal(*before[0].LastSeen) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the claim never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	j := e.queue(t, `{}`)
	r := <-done
	var got jobspec.Claim
	if r.code != http.StatusOK || json.Unmarshal(r.body, &got) != nil || got.Job.ID != j.ID {
		t.Errorf("waiting claim = %d %s, want job %d", r.code, r.body, j.ID)
	}
}

func TestAgentCallsNeedTheLease(t *testing.T) {
	e := newAgentTestEnv(t)
	_, owner := e.register(t, "owner")
	_, other := e.register(t, "other")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, owner); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	jp := fmt.Sprintf("/api/v1/agent/jobs/%d/", j.ID)
	logs := []map[string]any{{"seq": 1, "text": "a"}}
	calls := []struct {
		what string
		body any
	}{
		{"heartbeat", nil},
		{"logs", logs},
		{"steps", []map[string]any{{"number": 1, "name": "s", "status": "in_progress"}}},
		{"complete", map[string]any{"conclusion": "success"}},
	}
	for _, c := range calls {
		if code, body := e.do(t, "POST", jp+c.what, other, c.body); code != http.StatusConflict {
			t.Errorf("%s by another agent: %d %s, want 409", c.what, code, body)
		}
	}
	// The owner's logs are idempotent by seq and acknowledged contiguously.
	for _, step := range []struct {
		lines []map[string]any
		ack   int64
	}{
		{[]map[string]any{{"seq": 1, "text": "one"}, {"seq": 3, "text": "three"}}, 1},
		{[]map[string]any{{"seq": 1, "text": "one again"}, {"seq": 2, "text": "two"}}, 3},
	} {
		code, body := e.do(t, "POST", jp+"logs", owner, step.lines)
		var out agentLogsResponse
		if code != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Ack != step.ack {
			t.Errorf("logs %v: %d %s, want ack %d", step.lines, code, body, step.ack)
		}
	}
	stored, err := e.db.Logs(context.Background(), j.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range stored {
		texts = append(texts, l.Text)
	}
	if diff := cmp.Diff([]string{"one", "two", "three"}, texts); diff != "" {
		t.Errorf("stored lines (-want +got):\n%s", diff)
	}
	if code, body := e.do(t, "POST", jp+"heartbeat", owner, nil); code != http.StatusOK || !strings.Contains(string(body), `"cancel":false`) {
		t.Errorf("owner heartbeat: %d %s", code, body)
	}
	if code, body := e.do(t, "POST", jp+"logs", owner, []map[string]any{{"seq": 0, "text": "x"}}); code != http.StatusBadRequest {
		t.Errorf("seq 0: %d %s, want 400", code, body)
	}
}

func TestAgentCompleteRecordsResults(t *testing.T) {
	t.Run("data directory", func(t *testing.T) { testAgentCompleteRecordsResults(t, false) })
	t.Run("blob store", func(t *testing.T) { testAgentCompleteRecordsResults(t, true) })
}

// testAgentCompleteRecordsResults: with a blob store (replicas), the results are blobs that
// another replica, with its own data directory, reads.
func testAgentCompleteRecordsResults(t *testing.T, shared bool) {
	e := newAgentTestEnv(t)
	var other *Server
	if shared {
		blobs, err := blob.OpenDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		e.srv.cfg.Blobs = blobs
		cfg := e.srv.cfg
		cfg.DataDir = t.TempDir()
		if other, err = New(cfg); err != nil {
			t.Fatal(err)
		}
	}
	_, tok := e.register(t, "runner")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	path := fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.ID)
	if code, _ := e.do(t, "POST", path, tok, map[string]any{"conclusion": "great"}); code != http.StatusBadRequest {
		t.Errorf("unknown conclusion: %d, want 400", code)
	}
	tests := json.RawMessage(`{"passed":3,"failed":1}`)
	body := map[string]any{"conclusion": "failure", "outputs": map[string]string{"k": "v"}, "summary": "## Results", "tests": tests}
	if code, b := e.do(t, "POST", path, tok, body); code != http.StatusOK {
		t.Fatalf("complete: %d %s", code, b)
	}
	if code, _ := e.do(t, "POST", path, tok, body); code != http.StatusConflict {
		t.Errorf("second complete: %d, want 409", code)
	}
	got, err := e.db.GetJob(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Conclusion != store.ConclusionFailure || got.Outputs["k"] != "v" {
		t.Errorf("job = %s %v, want failure with outputs", got.Conclusion, got.Outputs)
	}
	if sum, err := e.srv.jobSummary(j.ID); err != nil || sum != "## Results" {
		t.Errorf("summary = %q, %v", sum, err)
	}
	if rep, err := e.srv.jobTests(j.ID); err != nil || string(rep) != string(tests) {
		t.Errorf("tests = %s, %v", rep, err)
	}
	if other != nil {
		if sum, err := other.jobSummary(j.ID); err != nil || sum != "## Results" {
			t.Errorf("summary read by another replica = %q, %v", sum, err)
		}
	}
	if diff := cmp.Diff([]int64{j.ID}, e.sched.got()); diff != "" {
		t.Errorf("JobFinished calls (-want +got):\n%s", diff)
	}
}

func TestReapLeasesTellsTheScheduler(t *testing.T) {
	e := newAgentTestEnv(t)
	_, tok := e.register(t, "runner")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	ctx := context.Background()
	if err := e.srv.reapLeases(ctx, time.Now()); err != nil || len(e.sched.got()) != 0 {
		t.Fatalf("reaping a live lease: %v, finished %v", err, e.sched.got())
	}
	if err := e.srv.reapLeases(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{j.ID}, e.sched.got()); diff != "" {
		t.Errorf("JobFinished calls (-want +got):\n%s", diff)
	}
	jobs, err := e.db.ListJobs(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[1].Attempt != 2 || jobs[1].Status != store.StatusQueued {
		t.Errorf("jobs = %+v, want the lost one and a queued retry", jobs)
	}
	if code, _ := e.do(t, "POST", fmt.Sprintf("/api/v1/agent/jobs/%d/heartbeat", j.ID), tok, nil); code != http.StatusConflict {
		t.Errorf("heartbeat of the lost job: %d, want 409", code)
	}
}

func TestAgentArtifactUploadChecksTheZip(t *testing.T) {
	e := newAgentTestEnv(t)
	_, tok := e.register(t, "runner")
	j := e.queue(t, `{}`)
	if code, _ := e.claim(t, tok); code != http.StatusOK {
		t.Fatalf("claim: %d", code)
	}
	mkzip := func(names ...string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range names {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, "data of "+n)
		}
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		body []byte
		want int
	}{
		{"escaping entry", mkzip("ok.txt", "../evil.txt"), http.StatusBadRequest},
		{"absolute entry", mkzip("/etc/evil"), http.StatusBadRequest},
		{"not a zip", []byte("plain text"), http.StatusBadRequest},
		{"empty zip", mkzip(), http.StatusBadRequest},
		{"good", mkzip("a/b.txt", "c.txt"), http.StatusOK},
	}
	base := fmt.Sprintf("/api/v1/agent/runs/%d/artifacts", j.RunID)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do(t, "POST", fmt.Sprintf("%s?name=art%d", base, i), tok, tt.body)
			if code != tt.want {
				t.Errorf("upload: %d %s, want %d", code, body, tt.want)
			}
		})
	}
	code, body := e.do(t, "GET", base, tok, nil)
	var list []agentArtifact
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 1 || list[0].Files != 2 {
		t.Fatalf("list: %d %s, want the one good artifact", code, body)
	}
	if code, _ := e.do(t, "GET", fmt.Sprintf("%s/%d", base, list[0].ID+1), tok, nil); code != http.StatusNotFound {
		t.Errorf("download of an unknown id: %d, want 404", code)
	}
	// Once the job is over the agent has no business with the run's artifacts.
	if code, _ := e.do(t, "POST", fmt.Sprintf("/api/v1/agent/jobs/%d/complete", j.ID), tok, map[string]any{"conclusion": "success"}); code != http.StatusOK {
		t.Fatalf("complete: %d", code)
	}
	if code, _ := e.do(t, "GET", base, tok, nil); code != http.StatusForbidden {
		t.Errorf("list after the job completed: %d, want 403", code)
	}
}
