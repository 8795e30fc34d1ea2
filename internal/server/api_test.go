package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sluice-ci/sluice/internal/store"
)

func TestRepoSecretsAreSealedAndNeverReturned(t *testing.T) {
	e := newAPIEnv(t)
	in := RepoInput{Name: "demo", URL: "https://bob:url-password-77@github.com/octo/demo.git", DefaultBranch: "main",
		WebhookSecret: "whsec-0001", Credentials: "cred-0002", StatusToken: "ghp_status0003", Forge: "github"}
	v := e.addRepo(in)
	want := RepoView{ID: v.ID, Name: "demo", URL: "https://bob:xxxxx@github.com/octo/demo.git", DefaultBranch: "main",
		Forge: "github", HasWebhookSecret: true, HasCredentials: true, HasStatusToken: true, CreatedAt: v.CreatedAt}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("created repo (-want +got):\n%s", diff)
	}
	var got RepoView
	e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo", e.admin, nil, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET repo (-want +got):\n%s", diff)
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/repos", e.admin, nil, nil)
	e.mustDo(http.StatusConflict, "POST", "/api/v1/repos", e.admin, in, nil)

	stored, err := e.db.GetRepoByName(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"whsec-0001", "cred-0002", "ghp_status0003"} {
		if bytes.Contains(stored.WebhookSecret, []byte(plain)) || bytes.Contains(stored.Credentials, []byte(plain)) {
			t.Errorf("%s stored in plain text", plain)
		}
	}
	st, err := OpenRepoSettings(e.keys, stored)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(RepoSettings{Credentials: "cred-0002", StatusToken: "ghp_status0003", Forge: "github"}, st); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	for _, leak := range []string{"whsec-0001", "cred-0002", "ghp_status0003", "url-password-77"} {
		if strings.Contains(e.allBodies(), leak) {
			t.Errorf("%q appeared in an API response", leak)
		}
	}
	e.mustDo(http.StatusNoContent, "DELETE", "/api/v1/repos/demo", e.admin, nil, nil)
	e.mustDo(http.StatusNotFound, "GET", "/api/v1/repos/demo", e.admin, nil, nil)
}

func TestRequestBodiesAreValidated(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/v1/repos", `{"name":"x"`, http.StatusBadRequest},
		{"POST", "/api/v1/repos", map[string]string{"name": "../etc", "url": "file:///x"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos", map[string]string{"name": "x"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos", map[string]string{"name": "x", "url": "ftp://h/x"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos", map[string]string{"name": "x", "url": "file:///x", "forge": "bitbucket"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos", map[string]string{"name": "x", "url": "file:///x", "status_token": "t"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos", map[string]string{"name": "x", "url": "file:///x", "surprise": "1"}, http.StatusBadRequest},
		{"PUT", "/api/v1/secrets/1BAD", map[string]string{"value": "v"}, http.StatusBadRequest},
		{"PUT", "/api/v1/secrets/GITHUB_TOKEN", map[string]string{"value": "v"}, http.StatusBadRequest},
		{"PUT", "/api/v1/secrets/OK", map[string]string{}, http.StatusBadRequest},
		{"PUT", "/api/v1/repos/nope/secrets/OK", map[string]string{"value": "v"}, http.StatusNotFound},
		{"PUT", "/api/v1/repos/demo/vars/1BAD", map[string]string{"value": "v"}, http.StatusBadRequest},
		{"PUT", "/api/v1/repos/demo/vars/A%2F..%2FB", map[string]string{"value": "v"}, http.StatusBadRequest},
		{"PUT", "/api/v1/repos/demo/vars/OK", map[string]string{}, http.StatusBadRequest},
		{"PUT", "/api/v1/repos/demo/vars/OK", map[string]string{"value": strings.Repeat("x", maxSecretSize+1)}, http.StatusRequestEntityTooLarge},
		{"PUT", "/api/v1/repos/nope/vars/OK", map[string]string{"value": "v"}, http.StatusNotFound},
		{"DELETE", "/api/v1/repos/demo/vars/NEVER_SET", nil, http.StatusNotFound},
		{"POST", "/api/v1/tokens", map[string]string{"name": "t", "scope": "root"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos/demo/dispatch", map[string]string{"workflow": "../../x.yml"}, http.StatusBadRequest},
		{"POST", "/api/v1/repos/demo/dispatch", map[string]string{"workflow": "ci.yml"}, http.StatusBadRequest}, // no ref, no default branch
		{"GET", "/api/v1/runs?limit=abc", nil, http.StatusBadRequest},
		{"GET", "/api/v1/runs?status=exploded", nil, http.StatusBadRequest},
		{"GET", "/api/v1/runs/zero", nil, http.StatusBadRequest},
		{"GET", "/api/v1/runs/999", nil, http.StatusNotFound},
	}
	for _, c := range cases {
		code, out := e.do(c.method, c.path, e.admin, c.body)
		if code != c.want {
			t.Errorf("%s %s = %d %s, want %d", c.method, c.path, code, out, c.want)
			continue
		}
		var msg struct{ Error string }
		if err := json.Unmarshal(out, &msg); err != nil || msg.Error == "" {
			t.Errorf("%s %s: answer %q is not {\"error\": ...}", c.method, c.path, out)
		}
	}
}

func TestSecretValuesNeverInAnyResponse(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main", WebhookSecret: "hook-value-1"})
	values := map[string]string{"/api/v1/secrets/PYPI_TOKEN": "pypi-value-2", "/api/v1/repos/demo/secrets/deploy_key": "deploy-value-3"}
	for path, v := range values {
		e.mustDo(http.StatusOK, "PUT", path, e.admin, map[string]string{"value": v}, nil)
	}
	var list struct{ Secrets []SecretView }
	e.mustDo(http.StatusOK, "GET", "/api/v1/repos/demo/secrets", e.admin, nil, &list)
	if len(list.Secrets) != 1 || list.Secrets[0].Name != "DEPLOY_KEY" || list.Secrets[0].Repo != "demo" {
		t.Errorf("repo secrets = %+v", list.Secrets)
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/secrets", e.admin, nil, &list)
	if len(list.Secrets) != 1 || list.Secrets[0].Name != "PYPI_TOKEN" {
		t.Errorf("server secrets = %+v", list.Secrets)
	}
	// The secret is sealed with the context the agent API opens it with.
	sc, err := e.db.GetSecret(context.Background(), nil, "PYPI_TOKEN")
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := e.keys.Open(sc.Ciphertext, SecretContext("", "PYPI_TOKEN")); err != nil || string(pt) != "pypi-value-2" {
		t.Errorf("opening the stored secret: %q, %v", pt, err)
	}
	run, job := e.mustRunWithJob(1, "refs/heads/main")
	for _, p := range []string{"/api/v1/repos", "/api/v1/repos/demo", "/api/v1/runs", fmt.Sprintf("/api/v1/runs/%d", run.ID),
		fmt.Sprintf("/api/v1/runs/%d/events", run.ID), fmt.Sprintf("/api/v1/jobs/%d/logs", job.ID), "/api/v1/queue",
		"/api/v1/agents", "/api/v1/tokens", "/metrics", "/badge/demo.svg", "/api/v1/openapi.json"} {
		code, out := e.do("GET", p, e.admin, nil)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d %s", p, code, out)
		}
	}
	e.mustDo(http.StatusNoContent, "DELETE", "/api/v1/repos/demo/secrets/DEPLOY_KEY", e.admin, nil, nil)
	e.mustDo(http.StatusNotFound, "DELETE", "/api/v1/repos/demo/secrets/DEPLOY_KEY", e.admin, nil, nil)
	all := e.allBodies()
	for _, v := range []string{"hook-value-1", "pypi-value-2", "deploy-value-3"} {
		if strings.Contains(all, v) {
			t.Errorf("secret value %q appeared in a response", v)
		}
	}
}

func TestRunsCancelRerunDispatch(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main"})
	var disp struct{ Runs []RunView }
	e.mustDo(http.StatusCreated, "POST", "/api/v1/repos/demo/dispatch", e.admin,
		DispatchInput{Workflow: "release.yml", Inputs: map[string]string{"level": "minor"}}, &disp)
	tr := e.sched.recorded()
	wantTr := Trigger{Event: "workflow_dispatch", Ref: "refs/heads/main", Workflow: ".github/workflows/release.yml",
		Inputs: map[string]string{"level": "minor"}, Actor: "test-admin", Source: store.TriggerDispatch}
	if len(tr) != 1 {
		t.Fatalf("triggers %+v", tr)
	}
	tr[0].Payload = nil
	if diff := cmp.Diff(wantTr, tr[0]); diff != "" {
		t.Errorf("dispatch trigger (-want +got):\n%s", diff)
	}
	if len(disp.Runs) != 1 || disp.Runs[0].Repo != "demo" {
		t.Fatalf("dispatch answer %+v", disp)
	}
	id := disp.Runs[0].ID

	var list struct{ Runs []RunView }
	e.mustDo(http.StatusOK, "GET", "/api/v1/runs?repo=demo&status=queued&limit=5", e.admin, nil, &list)
	if len(list.Runs) != 1 || list.Runs[0].ID != id || list.Runs[0].Workflow != ".github/workflows/release.yml" {
		t.Errorf("runs = %+v", list.Runs)
	}
	e.mustDo(http.StatusOK, "GET", "/api/v1/runs?status=completed", e.admin, nil, &list)
	if len(list.Runs) != 0 {
		t.Errorf("completed runs = %+v", list.Runs)
	}
	var d RunDetail
	e.mustDo(http.StatusOK, "GET", fmt.Sprintf("/api/v1/runs/%d", id), e.admin, nil, &d)
	if d.Run.ID != id || len(d.Jobs) != 1 || d.Jobs[0].Key != "test" || d.Jobs[0].Steps == nil {
		t.Errorf("detail = %+v", d)
	}
	e.mustDo(http.StatusConflict, "POST", fmt.Sprintf("/api/v1/runs/%d/rerun", id), e.admin, nil, nil)
	var cancelled struct{ Run store.Run }
	e.mustDo(http.StatusAccepted, "POST", fmt.Sprintf("/api/v1/runs/%d/cancel", id), e.admin, nil, &cancelled)
	if cancelled.Run.Conclusion != store.ConclusionCancelled {
		t.Errorf("cancelled run = %+v", cancelled.Run)
	}
	var rerun struct{ Run store.Run }
	e.mustDo(http.StatusCreated, "POST", fmt.Sprintf("/api/v1/runs/%d/rerun?failed=true", id), e.admin, nil, &rerun)
	if rerun.Run.ID != id || rerun.Run.Attempt != 2 || len(e.sched.reruns) != 1 {
		t.Errorf("rerun = %+v, reruns %v; want attempt 2 of run %d", rerun.Run, e.sched.reruns, id)
	}
	e.mustDo(http.StatusOK, "GET", fmt.Sprintf("/api/v1/runs/%d", id), e.admin, nil, &d)
	var attempts []string
	for _, a := range d.Attempts {
		attempts = append(attempts, fmt.Sprintf("%d %s/%s %s", a.Attempt, a.Status, a.Conclusion, a.Trigger))
	}
	if diff := cmp.Diff([]string{"1 completed/cancelled dispatch", "2 queued/ rerun"}, attempts); diff != "" {
		t.Errorf("the run's attempts (-want +got):\n%s", diff)
	}
	// The first attempt's jobs stay readable: ?attempt=1.
	var first RunDetail
	e.mustDo(http.StatusOK, "GET", fmt.Sprintf("/api/v1/runs/%d?attempt=1", id), e.admin, nil, &first)
	if len(first.Jobs) != 1 || first.Jobs[0].Key != "test" || first.Jobs[0].Conclusion != store.ConclusionCancelled {
		t.Errorf("attempt 1's jobs = %+v, want test, cancelled", first.Jobs)
	}
	e.mustDo(http.StatusNotFound, "GET", fmt.Sprintf("/api/v1/runs/%d?attempt=3", id), e.admin, nil, nil)
	e.mustDo(http.StatusBadRequest, "GET", fmt.Sprintf("/api/v1/runs/%d?attempt=-1", id), e.admin, nil, nil)
	var evs struct{ Events []store.Event }
	e.mustDo(http.StatusOK, "GET", fmt.Sprintf("/api/v1/runs/%d/events", id), e.admin, nil, &evs)
	kinds := map[string]bool{}
	for _, ev := range evs.Events {
		kinds[ev.Kind] = true
	}
	if !kinds[store.EventRunQueued] || !kinds[store.EventRunCompleted] {
		t.Errorf("event kinds %v", kinds)
	}
}

func TestQueueAndAgents(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	e.mustRunWithJob(1, "refs/heads/main")
	_, second := e.mustRunWithJob(1, "refs/heads/dev")
	agent, claimed := e.claim("builder-1")
	var q QueueView
	e.mustDo(http.StatusOK, "GET", "/api/v1/queue", e.admin, nil, &q)
	if len(q.Running) != 1 || q.Running[0].Agent != "builder-1" || q.Running[0].Repo != "demo" || q.Running[0].Job.ID != claimed.ID {
		t.Errorf("running = %+v", q.Running)
	}
	if len(q.Pending) != 1 || q.Pending[0].Job.ID != second.ID || q.Pending[0].Reason == "" {
		t.Errorf("pending = %+v", q.Pending)
	}
	var ag struct{ Agents []AgentView }
	e.mustDo(http.StatusOK, "GET", "/api/v1/agents", e.admin, nil, &ag)
	if len(ag.Agents) != 1 || ag.Agents[0].ID != agent.ID || !ag.Agents[0].Online || !cmp.Equal(ag.Agents[0].Running, []int64{claimed.ID}) {
		t.Errorf("agents = %+v", ag.Agents)
	}
}

// apiSSEEvent is one parsed server-sent event.
type apiSSEEvent struct {
	ID, Event, Data string
}

func apiReadSSE(t *testing.T, r *bufio.Reader) (apiSSEEvent, error) {
	t.Helper()
	var ev apiSSEEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev != (apiSSEEvent{}) {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.Data = line[6:]
		}
	}
}

func apiOpenStream(t *testing.T, e *apiEnv, jobID int64, lastID string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/logs/stream", e.http.URL, jobID), nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body)
}

func apiAppendLines(t *testing.T, e *apiEnv, jobID int64, seqs ...int64) {
	t.Helper()
	var lines []store.LogLine
	for _, s := range seqs {
		lines = append(lines, store.LogLine{Seq: s, Time: time.Unix(0, 0), Text: fmt.Sprintf("line %d", s)})
	}
	if _, err := e.db.AppendLogs(context.Background(), jobID, lines); err != nil {
		t.Fatal(err)
	}
}

// apiExpectLines reads events and checks they carry exactly the seqs in order.
func apiExpectLines(t *testing.T, r *bufio.Reader, seqs ...int64) {
	t.Helper()
	for _, want := range seqs {
		ev, err := apiReadSSE(t, r)
		if err != nil {
			t.Fatalf("reading line %d: %v", want, err)
		}
		var l store.LogLine
		if err := json.Unmarshal([]byte(ev.Data), &l); err != nil {
			t.Fatalf("event %+v: %v", ev, err)
		}
		if ev.ID != fmt.Sprint(want) || l.Seq != want || l.Text != fmt.Sprintf("line %d", want) {
			t.Fatalf("got event %+v, want line %d", ev, want)
		}
	}
}

func TestLogStreamInOrderResumesAndEnds(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	e.mustRunWithJob(1, "refs/heads/main")
	agent, job := e.claim("a1")
	apiAppendLines(t, e, job.ID, 1, 2)
	r := apiOpenStream(t, e, job.ID, "")
	apiExpectLines(t, r, 1, 2)
	// Line 4 arrives before 3: nothing is sent past the gap until 3 is in.
	apiAppendLines(t, e, job.ID, 4)
	apiAppendLines(t, e, job.ID, 3)
	apiExpectLines(t, r, 3, 4)
	apiAppendLines(t, e, job.ID, 5)
	apiExpectLines(t, r, 5)
	if _, err := e.db.Complete(context.Background(), job.ID, agent.ID, store.ConclusionSuccess, nil); err != nil {
		t.Fatal(err)
	}
	ev, err := apiReadSSE(t, r)
	if err != nil || ev.Event != "end" || !strings.Contains(ev.Data, `"conclusion":"success"`) {
		t.Fatalf("after completion got %+v, %v; want event: end", ev, err)
	}
	if _, err := apiReadSSE(t, r); err != io.EOF {
		t.Errorf("stream not closed after end: %v", err)
	}
	// A reconnecting browser resumes after the last line it saw.
	r2 := apiOpenStream(t, e, job.ID, "3")
	apiExpectLines(t, r2, 4, 5)
	if ev, err := apiReadSSE(t, r2); err != nil || ev.Event != "end" {
		t.Fatalf("resumed stream ended with %+v, %v", ev, err)
	}
}

func TestJobLogsAsJSONLines(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	_, job := e.mustRunWithJob(1, "refs/heads/main")
	apiAppendLines(t, e, job.ID, 1, 2, 3, 4)
	code, out := e.do("GET", fmt.Sprintf("/api/v1/jobs/%d/logs?after=1&limit=2", job.ID), e.admin, nil)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, out)
	}
	var got []int64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l store.LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Seq)
	}
	if diff := cmp.Diff([]int64{2, 3}, got); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
}

func TestMetricsExposition(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	for range 3 {
		e.mustRunWithJob(1, "refs/heads/main")
	}
	agent, job := e.claim("m1")
	if _, err := e.db.Complete(ctx, job.ID, agent.ID, store.ConclusionFailure, nil); err != nil {
		t.Fatal(err)
	}
	_, running := e.claim("m2")
	_ = running
	scrape := func() map[string]float64 {
		code, out := e.do("GET", "/metrics", "", nil)
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d %s", code, out)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("parsing the exposition: %v\n%s", err, out)
		}
		got := map[string]float64{}
		for name, f := range fams {
			for _, m := range f.Metric {
				switch {
				case m.Gauge != nil:
					got[name] = m.Gauge.GetValue()
				case m.Histogram != nil:
					got[name+"_count"] += float64(m.Histogram.GetSampleCount())
				}
			}
		}
		return got
	}
	want := map[string]float64{"sluice_queue_depth": 1, "sluice_jobs_waiting": 0, "sluice_jobs_running": 1,
		"sluice_agents_online": 2, "sluice_agents_registered": 2, "sluice_job_duration_seconds_count": 1,
		// By label set (one here): the queued job, and the free slot of m1, done with its job.
		"sluice_queue_jobs": 1, "sluice_queue_free_slots": 1}
	if diff := cmp.Diff(want, scrape()); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	// A second scrape does not count the same completion twice.
	if got := scrape()["sluice_job_duration_seconds_count"]; got != 1 {
		t.Errorf("histogram count after a second scrape = %v, want 1", got)
	}
}

func TestBadge(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git", DefaultBranch: "main"})
	get := func(path string) (int, string) {
		code, out := e.do("GET", path, "", nil)
		return code, string(out)
	}
	if code, svg := get("/badge/demo.svg"); code != http.StatusOK || !strings.Contains(svg, "no runs") {
		t.Errorf("before any run: %d %s", code, svg)
	}
	run, _ := e.mustRunWithJob(1, "refs/heads/main")
	if _, err := e.db.SetRunStatus(ctx, run.ID, store.StatusCompleted, store.ConclusionSuccess); err != nil {
		t.Fatal(err)
	}
	dev, _ := e.mustRunWithJob(1, "refs/heads/dev")
	if _, err := e.db.SetRunStatus(ctx, dev.ID, store.StatusCompleted, store.ConclusionFailure); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{"/badge/demo.svg", "passing"},
		{"/badge/demo.svg?branch=dev", "failing"},
		{"/badge/demo.svg?branch=dev&workflow=ci.yml", "failing"},
		{"/badge/demo.svg?workflow=CI", "passing"},
		{"/badge/demo.svg?workflow=deploy.yml", "no runs"},
	}
	for _, c := range cases {
		code, svg := get(c.path)
		if code != http.StatusOK || !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, c.want) {
			t.Errorf("%s = %d %s, want a badge saying %s", c.path, code, svg, c.want)
		}
	}
	if code, _ := get("/badge/nope.svg"); code != http.StatusNotFound {
		t.Errorf("unknown repo badge = %d, want 404", code)
	}
}

func TestReportStatus(t *testing.T) {
	var mu sync.Mutex
	var got []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "{}")
	}))
	defer fake.Close()
	e := newAPIEnv(t)
	ctx := context.Background()
	e.addRepo(RepoInput{Name: "demo", URL: "https://github.com/octo-org/demo.git", Forge: "github",
		StatusToken: "ghp_tok", APIURL: fake.URL})
	e.addRepo(RepoInput{Name: "plain", URL: "file:///srv/plain.git"})
	run, job := e.mustRunWithJob(1, "refs/heads/main")
	if err := e.srv.ReportStatus(ctx, run); err != nil {
		t.Fatal(err)
	}
	// Nothing changed: nothing is posted again.
	if err := e.srv.ReportStatus(ctx, run); err != nil {
		t.Fatal(err)
	}
	completed, failure := store.StatusCompleted, store.ConclusionFailure
	if _, err := e.db.UpdateJob(ctx, job.ID, store.JobUpdate{Status: &completed, Conclusion: &failure}); err != nil {
		t.Fatal(err)
	}
	run, _ = e.db.SetRunStatus(ctx, run.ID, store.StatusCompleted, store.ConclusionFailure)
	if err := e.srv.ReportStatus(ctx, run); err != nil {
		t.Fatal(err)
	}
	// The same workflow on the same commit, run for a pull request: its own contexts, so the
	// push run's result does not overwrite the pull request's. A job waiting for its needs
	// has no status yet; another workflow file with the same name reports under its file.
	pr, _, err := e.db.CreateRun(ctx, store.Run{RepoID: 1, Workflow: ".github/workflows/ci.yml", WorkflowName: "CI",
		StatusName: "CI (ci.yml)", Event: "pull_request", Ref: "refs/pull/7/merge", SHA: run.SHA, Trigger: store.TriggerWebhook},
		[]store.Job{{Key: "test", Name: "test", Status: store.StatusQueued}, {Key: "deploy", Name: "deploy", Needs: []string{"test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ReportStatus(ctx, pr); err != nil {
		t.Fatal(err)
	}
	other, _ := e.mustRunWithJob(2, "refs/heads/main")
	if err := e.srv.ReportStatus(ctx, other); err != nil {
		t.Fatalf("a repository without a forge: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	sha := strings.Repeat("a", 40)
	want := []struct {
		state, context string
		run            int64
	}{
		{"pending", "sluice/CI (push)", run.ID}, {"pending", "CI / test (push)", run.ID},
		{"failure", "sluice/CI (push)", run.ID}, {"failure", "CI / test (push)", run.ID},
		{"pending", "sluice/CI (ci.yml) (pull_request)", pr.ID}, {"pending", "CI (ci.yml) / test (pull_request)", pr.ID},
	}
	if len(got) != len(want) {
		t.Fatalf("status calls %q, want %d", got, len(want))
	}
	for i, c := range want {
		for _, part := range []string{"POST /repos/octo-org/demo/statuses/" + sha, "Bearer ghp_tok",
			`"state":"` + c.state + `"`, `"context":"` + c.context + `"`, fmt.Sprintf(`"target_url":"http://ci.example/runs/%d"`, c.run)} {
			if !strings.Contains(got[i], part) {
				t.Errorf("call %d %q lacks %q", i, got[i], part)
			}
		}
	}
}

// TestReportStatusOnEachForge: Gitea and GitLab get the same per-job contexts as GitHub, in
// their own API's shape (GitLab calls the context "name" and has no "pending").
func TestReportStatusOnEachForge(t *testing.T) {
	for _, c := range []struct {
		forge, url, path, field, pending string
	}{
		{"gitea", "https://gitea.example/octo-org/demo.git", "/repos/octo-org/demo/statuses/", "context", "pending"},
		{"gitlab", "https://gitlab.example/octo-org/demo.git", "/projects/octo-org%2Fdemo/statuses/", "name", "running"},
	} {
		t.Run(c.forge, func(t *testing.T) {
			var mu sync.Mutex
			var got []map[string]string
			var paths []string
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]string
				json.NewDecoder(r.Body).Decode(&body)
				mu.Lock()
				got, paths = append(got, body), append(paths, r.URL.EscapedPath())
				mu.Unlock()
				w.WriteHeader(http.StatusCreated)
			}))
			defer fake.Close()
			e := newAPIEnv(t)
			e.addRepo(RepoInput{Name: "demo", URL: c.url, Forge: c.forge, StatusToken: "tok", APIURL: fake.URL})
			run, _ := e.mustRunWithJob(1, "refs/heads/main")
			if err := e.srv.ReportStatus(context.Background(), run); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			var names []string
			for i, b := range got {
				names = append(names, b[c.field]+" "+b["state"])
				if want := c.path + run.SHA; paths[i] != want {
					t.Errorf("posted to %s, want %s", paths[i], want)
				}
			}
			if d := cmp.Diff([]string{"sluice/CI (push) " + c.pending, "CI / test (push) " + c.pending}, names); d != "" {
				t.Errorf("statuses (-want +got):\n%s", d)
			}
		})
	}
}

func TestOpenAPIDocumentsTheRoutes(t *testing.T) {
	e := newAPIEnv(t)
	code, out := e.do("GET", "/api/v1/openapi.json", "", nil)
	if code != http.StatusOK {
		t.Fatalf("openapi.json = %d", code)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	for _, route := range []string{
		"get /healthz", "get /metrics", "get /badge/{repo}.svg", "post /hooks/{forge}",
		"get /api/v1/repos", "post /api/v1/repos", "get /api/v1/repos/{name}", "delete /api/v1/repos/{name}",
		"post /api/v1/repos/{name}/dispatch", "get /api/v1/runs", "get /api/v1/runs/{id}",
		"post /api/v1/runs/{id}/cancel", "post /api/v1/runs/{id}/rerun", "get /api/v1/runs/{id}/events",
		"get /api/v1/jobs/{id}/logs", "get /api/v1/jobs/{id}/logs/stream",
		"get /api/v1/secrets", "put /api/v1/secrets/{secret}", "delete /api/v1/secrets/{secret}",
		"get /api/v1/repos/{name}/secrets", "put /api/v1/repos/{name}/secrets/{secret}",
		"delete /api/v1/repos/{name}/secrets/{secret}", "get /api/v1/tokens", "post /api/v1/tokens",
		"delete /api/v1/tokens/{id}", "get /api/v1/queue", "get /api/v1/agents", "delete /api/v1/agents/{id}",
	} {
		method, path, _ := strings.Cut(route, " ")
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi.json does not document %s", route)
		}
	}
}

// TestRepoVarsApartFromEnvironments: a repository's variables (no environment) and an
// environment's of the same name are kept apart, listed with their values, and writing them
// needs a write token.
func TestRepoVarsApartFromEnvironments(t *testing.T) {
	e := newAPIEnv(t)
	e.addRepo(RepoInput{Name: "demo", URL: "file:///srv/demo.git"})
	e.mustDo(http.StatusOK, "PUT", "/api/v1/repos/demo/vars/REGION", e.admin, map[string]string{"value": "eu"}, nil)
	e.mustDo(http.StatusOK, "PUT", "/api/v1/repos/demo/environments/production/vars/REGION", e.admin, map[string]string{"value": "us"}, nil)
	e.mustDo(http.StatusOK, "PUT", "/api/v1/repos/demo/vars/REGION", e.admin, map[string]string{"value": "eu-west"}, nil)
	list := func(path string) map[string]string {
		var out struct{ Values []EnvValueView }
		e.mustDo(http.StatusOK, "GET", path, e.admin, nil, &out)
		m := map[string]string{}
		for _, v := range out.Values {
			m[v.Environment+"/"+v.Name] = v.Value
		}
		return m
	}
	if diff := cmp.Diff(map[string]string{"/REGION": "eu-west"}, list("/api/v1/repos/demo/vars")); diff != "" {
		t.Errorf("repository variables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"production/REGION": "us"}, list("/api/v1/repos/demo/environments/production/vars")); diff != "" {
		t.Errorf("environment variables (-want +got):\n%s", diff)
	}
	repo, err := e.db.GetRepoByName(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.db.RepoVars(context.Background(), repo.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"REGION": "eu-west"}, got); diff != "" {
		t.Errorf("RepoVars (-want +got):\n%s", diff)
	}
	reader := e.token("reader", store.ScopeRead)
	e.mustDo(http.StatusForbidden, "PUT", "/api/v1/repos/demo/vars/REGION", reader, map[string]string{"value": "x"}, nil)
	e.mustDo(http.StatusForbidden, "DELETE", "/api/v1/repos/demo/vars/REGION", reader, nil, nil)
	e.mustDo(http.StatusNoContent, "DELETE", "/api/v1/repos/demo/vars/REGION", e.admin, nil, nil)
	if diff := cmp.Diff(map[string]string{}, list("/api/v1/repos/demo/vars")); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"production/REGION": "us"}, list("/api/v1/repos/demo/environments/production/vars")); diff != "" {
		t.Errorf("deleting the repository's variable touched the environment's (-want +got):\n%s", diff)
	}
}
