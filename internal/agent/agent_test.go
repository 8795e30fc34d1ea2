package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/jobspec"
	"github.com/sluice-ci/sluice/internal/lines"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

func logTexts(t *testing.T, db *store.DB, jobID int64) ([]int64, []string) {
	t.Helper()
	lines, err := db.Logs(context.Background(), jobID, 0, 100000)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	var seqs []int64
	var texts []string
	for _, l := range lines {
		seqs = append(seqs, l.Seq)
		texts = append(texts, l.Text)
	}
	return seqs, texts
}

func seqRange(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

func TestJobRunsAndIsRecorded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ct, err := h.keys.Seal([]byte("hunter2"), server.SecretContext(h.repo.Name, "TOKEN"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.PutSecret(ctx, &h.repo.ID, "TOKEN", ct); err != nil {
		t.Fatal(err)
	}
	leases := make(chan Lease, 1)
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		leases <- l
		step(jobspec.Step{Number: 1, Name: "build", Status: store.StatusInProgress})
		for i := 1; i <= 3; i++ {
			emit(jobspec.LogLine{Step: 1, Text: fmt.Sprintf("line %d", i)})
		}
		step(jobspec.Step{Number: 1, Name: "build", Status: store.StatusCompleted, Conclusion: store.ConclusionSuccess})
		return store.ConclusionSuccess, map[string]string{"version": "1.2"}, "# done"
	})
	job := h.queueJob("build", nil, `{"job_id":"build"}`)

	l := recv(t, leases, "the lease")
	if diff := cmp.Diff(map[string]string{"TOKEN": "hunter2"}, l.Secrets); diff != "" {
		t.Errorf("lease secrets (-want +got):\n%s", diff)
	}
	if string(l.Spec) != `{"job_id":"build"}` || l.Job.ID != job.ID || l.Job.Key != "build" || l.Job.RunID != job.RunID {
		t.Errorf("lease = job %+v spec %s, want job %d and the spec", l.Job, l.Spec, job.ID)
	}
	got := h.waitJob(job.ID, "the job to complete", completed)
	if got.Conclusion != store.ConclusionSuccess || got.Outputs["version"] != "1.2" {
		t.Errorf("job = %s %v, want success with version 1.2", got.Conclusion, got.Outputs)
	}
	seqs, texts := logTexts(t, h.db, job.ID)
	if diff := cmp.Diff([]string{"line 1", "line 2", "line 3"}, texts); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqRange(3), seqs); diff != "" {
		t.Errorf("log seqs (-want +got):\n%s", diff)
	}
	steps, err := h.db.ListSteps(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].Status != store.StatusCompleted || steps[0].Conclusion != store.ConclusionSuccess ||
		steps[0].Name != "build" {
		t.Errorf("steps = %+v, want build completed successfully", steps)
	}
	waitFor(t, "the scheduler to hear of the job", func() bool { return h.sched.wasFinished(job.ID) })
}

func TestJobsGoToAgentsWithTheirLabels(t *testing.T) {
	h := newHarness(t)
	type ran struct {
		agent string
		key   string
	}
	runs := make(chan ran, 4)
	runner := func(name string) JobRunner {
		return func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
			runs <- ran{name, l.Job.Key}
			return store.ConclusionSuccess, nil, ""
		}
	}
	ids := map[string]int64{
		"lin": h.runAgent("lin", []string{"linux", "x64"}, 1, runner("lin")),
		"arm": h.runAgent("arm", []string{"linux", "arm64"}, 1, runner("arm")),
	}
	jobs := []store.Job{
		h.queueJob("on-x64", []string{"linux", "x64"}, `{}`),
		h.queueJob("on-arm", []string{"arm64"}, `{}`),
		h.queueJob("on-x64-again", []string{"x64"}, `{}`),
	}
	var got []ran
	for range jobs {
		got = append(got, recv(t, runs, "a job to run"))
	}
	sort.Slice(got, func(i, j int) bool { return got[i].key < got[j].key })
	want := []ran{{"arm", "on-arm"}, {"lin", "on-x64"}, {"lin", "on-x64-again"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(ran{})); diff != "" {
		t.Errorf("who ran what (-want +got):\n%s", diff)
	}
	for _, j := range jobs {
		done := h.waitJob(j.ID, "job "+j.Key, completed)
		wantAgent := ids["lin"]
		if j.Key == "on-arm" {
			wantAgent = ids["arm"]
		}
		if done.AgentID == nil || *done.AgentID != wantAgent {
			t.Errorf("job %s ran on agent %v, want %d", j.Key, done.AgentID, wantAgent)
		}
	}
}

func TestServerCancelStopsTheRunner(t *testing.T) {
	h := newHarness(t)
	started := make(chan struct{})
	causes := make(chan error, 1)
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		emit(jobspec.LogLine{Text: "working"})
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		emit(jobspec.LogLine{Text: "stopped"})
		return "", nil, ""
	})
	job := h.queueJob("long", nil, `{}`)
	recv(t, started, "the job to start")
	if _, err := h.db.CancelRun(context.Background(), job.RunID, "cancelled by test"); err != nil {
		t.Fatal(err)
	}
	if cause := recv(t, causes, "the runner to be cancelled"); !errors.Is(cause, ErrCancelled) {
		t.Errorf("runner context cause = %v, want ErrCancelled", cause)
	}
	got := h.waitJob(job.ID, "the job to complete", completed)
	if got.Conclusion != store.ConclusionCancelled {
		t.Errorf("conclusion = %q, want cancelled", got.Conclusion)
	}
	if _, texts := logTexts(t, h.db, job.ID); !slices.Equal(texts, []string{"working", "stopped"}) {
		t.Errorf("logs = %q, want working, stopped", texts)
	}
}

// A server killed mid-job and started again on the same store: the agent reconnects, every
// log line lands exactly once and in order, and the completion lands.
func TestAgentSurvivesServerRestart(t *testing.T) {
	h := newHarness(t)
	half, resume, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		if l.Job.Key == "after" {
			return store.ConclusionSuccess, nil, ""
		}
		step(jobspec.Step{Number: 1, Name: "test", Status: store.StatusInProgress})
		for i := 1; i <= 50; i++ {
			emit(jobspec.LogLine{Step: 1, Text: fmt.Sprintf("line %d", i)})
		}
		close(half)
		<-resume
		for i := 51; i <= 120; i++ {
			emit(jobspec.LogLine{Step: 1, Text: fmt.Sprintf("line %d", i)})
		}
		close(finished)
		return store.ConclusionSuccess, nil, ""
	})
	job := h.queueJob("test", nil, `{}`)
	recv(t, half, "the first half of the log")
	waitFor(t, "the first 50 lines to be stored", func() bool {
		seqs, _ := logTexts(t, h.db, job.ID)
		return len(seqs) == 50
	})

	h.kill()
	close(resume)
	recv(t, finished, "the runner to finish")
	waitFor(t, "the agent to notice the server is gone", func() bool {
		return h.logs.has("sending logs failed") || h.logs.has("heartbeat failed")
	})
	if j, err := h.db.GetJob(context.Background(), job.ID); err != nil || j.Status != store.StatusInProgress {
		t.Fatalf("job while the server is down = %+v, %v; want in progress", j, err)
	}
	h.start()

	got := h.waitJob(job.ID, "the job to complete after the restart", completed)
	if got.Conclusion != store.ConclusionSuccess {
		t.Errorf("conclusion = %q (%s), want success", got.Conclusion, got.Reason)
	}
	seqs, texts := logTexts(t, h.db, job.ID)
	var want []string
	for i := 1; i <= 120; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqRange(120), seqs); diff != "" {
		t.Errorf("log seqs (-want +got):\n%s", diff)
	}
	waitFor(t, "the scheduler to hear of the job", func() bool { return h.sched.wasFinished(job.ID) })
	after := h.queueJob("after", nil, `{}`)
	if got := h.waitJob(after.ID, "a job queued after the restart", completed); got.Conclusion != store.ConclusionSuccess {
		t.Errorf("job after the restart: %s, want success", got.Conclusion)
	}
}

// A lease the server declared lost stops the runner, its late completion is refused, and the
// retry attempt runs normally.
func TestLostLeaseCancelsTheRunner(t *testing.T) {
	h := newHarness(t)
	started := make(chan struct{})
	causes := make(chan error, 1)
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		if l.Job.Attempt > 1 {
			return store.ConclusionSuccess, nil, ""
		}
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		// Pretend the work finished anyway: the server must not take this result.
		return store.ConclusionSuccess, nil, ""
	})
	job := h.queueJob("flaky", nil, `{}`)
	recv(t, started, "the job to start")
	// Expire as if the clock had moved past the lease, without waiting for it.
	lost, err := h.db.ExpireLeases(context.Background(), time.Now().Add(time.Hour), true)
	if err != nil || len(lost) != 1 || lost[0].ID != job.ID {
		t.Fatalf("ExpireLeases = %v, %v; want job %d", lost, err, job.ID)
	}
	if cause := recv(t, causes, "the runner to be cancelled"); !errors.Is(cause, ErrLeaseLost) {
		t.Errorf("runner context cause = %v, want ErrLeaseLost", cause)
	}
	waitFor(t, "the late completion to be refused", func() bool { return h.logs.has("refused the job's completion") })
	got, err := h.db.GetJob(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Conclusion != store.ConclusionFailure || !strings.HasPrefix(got.Reason, "agent lost") {
		t.Errorf("lost job = %s (%s), want failure: agent lost", got.Conclusion, got.Reason)
	}
	jobs, err := h.db.ListJobs(context.Background(), job.RunID)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("jobs of the run = %v, %v; want the lost attempt and a retry", jobs, err)
	}
	retry := h.waitJob(jobs[1].ID, "the retry to complete", completed)
	if retry.Attempt != 2 || retry.Conclusion != store.ConclusionSuccess {
		t.Errorf("retry = attempt %d %s, want attempt 2 success", retry.Attempt, retry.Conclusion)
	}
}

func TestArtifactRoundTrip(t *testing.T) {
	h := newHarness(t)
	files := map[string]string{"dist/pkg-1.0.tar.gz": "tarball", "report.txt": "all good\n", ".hidden": "kept"}
	type result struct {
		listed  []Artifact
		got     map[string]string
		foreign error
		err     error
	}
	results := make(chan result, 1)
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		var res result
		defer func() { results <- res }()
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for name, body := range files {
			w, err := zw.Create(name)
			if err != nil {
				res.err = err
				return store.ConclusionFailure, nil, ""
			}
			io.WriteString(w, body)
		}
		zw.Close()
		up, err := l.Server.UploadArtifact(ctx, l.Job.RunID, "dist", bytes.NewReader(buf.Bytes()), ArtifactOptions{})
		if err != nil {
			res.err = err
			return store.ConclusionFailure, nil, ""
		}
		_, res.foreign = l.Server.UploadArtifact(ctx, l.Job.RunID+1000, "dist", bytes.NewReader(buf.Bytes()), ArtifactOptions{})
		if res.listed, res.err = l.Server.ListArtifacts(ctx, l.Job.RunID); res.err != nil {
			return store.ConclusionFailure, nil, ""
		}
		var out bytes.Buffer
		if res.err = l.Server.DownloadArtifact(ctx, l.Job.RunID, up.ID, &out); res.err != nil {
			return store.ConclusionFailure, nil, ""
		}
		res.got, res.err = unzip(out.Bytes())
		return store.ConclusionSuccess, nil, ""
	})
	h.queueJob("upload", nil, `{}`)
	res := recv(t, results, "the artifact round trip")
	if res.err != nil {
		t.Fatalf("round trip: %v", res.err)
	}
	if diff := cmp.Diff(files, res.got); diff != "" {
		t.Errorf("downloaded files (-want +got):\n%s", diff)
	}
	if len(res.listed) != 1 || res.listed[0].Name != "dist" || res.listed[0].Files != 3 ||
		!strings.HasPrefix(res.listed[0].Digest, "sha256:") {
		t.Errorf("listed = %+v, want one artifact dist of 3 files", res.listed)
	}
	if !isStatus(res.foreign, 403) {
		t.Errorf("upload to a run the agent does not work on: err = %v, want 403", res.foreign)
	}
}

func unzip(b []byte) (map[string]string, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out[f.Name] = string(data)
	}
	return out, nil
}

func TestRunRejectsUnknownToken(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Run(ctx, Config{Server: h.url(), Token: "slc_" + strings.Repeat("0", 43), Run: func(context.Context, Lease, func(jobspec.LogLine), func(jobspec.Step)) (string, map[string]string, string) {
		return "", nil, ""
	}})
	if !isStatus(err, 401) {
		t.Errorf("Run with an unknown token = %v, want a 401 error", err)
	}
}

func TestBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 8 {
		got = append(got, b.next())
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	b.reset()
	if d := b.next(); d != 100*time.Millisecond {
		t.Errorf("after reset: %v, want 100ms", d)
	}
}

// TestOverlongLogsKeepLaterLinesAndSteps: a step printing one line of
// 70 MiB (over the server's 64 MiB request bound on its own), then lines
// whose JSON is six times their size (so that a batch of them is over the
// bound too), still has every later line and step recorded: lines are cut
// at lines.Max, and the agent sends smaller batches when the server refuses
// one as too large.
func TestOverlongLogsKeepLaterLinesAndSteps(t *testing.T) {
	h := newHarness(t)
	endless := strings.Repeat("z", 70<<20)
	escaped := strings.Repeat("\x01", lines.Max) // \u0001 in JSON
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		step(jobspec.Step{Number: 1, Name: "flood", Status: store.StatusInProgress})
		emit(jobspec.LogLine{Step: 1, Text: endless})
		for i := 0; i < 200; i++ {
			emit(jobspec.LogLine{Step: 1, Text: escaped})
		}
		emit(jobspec.LogLine{Step: 1, Text: "after the flood"})
		step(jobspec.Step{Number: 1, Name: "flood", Status: store.StatusCompleted, Conclusion: store.ConclusionSuccess})
		step(jobspec.Step{Number: 2, Name: "next", Status: store.StatusCompleted, Conclusion: store.ConclusionSuccess})
		emit(jobspec.LogLine{Step: 2, Text: "next step ran"})
		return store.ConclusionSuccess, nil, ""
	})
	job := h.queueJob("flood", nil, `{"job_id":"flood"}`)
	got := h.waitJobFor(job.ID, "the job to complete", 2*time.Minute, completed)
	if got.Conclusion != store.ConclusionSuccess {
		t.Errorf("job concluded %s, want success (nothing was lost)", got.Conclusion)
	}
	_, texts := logTexts(t, h.db, job.ID)
	if len(texts) != 203 || texts[201] != "after the flood" || texts[202] != "next step ran" {
		t.Fatalf("%d lines recorded, want 203 ending with the lines after the flood", len(texts))
	}
	if want := strings.Repeat("z", lines.Max) + lines.Marker(70<<20-lines.Max); texts[0] != want {
		t.Errorf("the 70 MiB line was stored as %d bytes, want it cut at %d and marked", len(texts[0]), lines.Max)
	}
	if texts[1] != escaped {
		t.Errorf("a line of %d bytes was stored as %d", len(escaped), len(texts[1]))
	}
	steps, err := h.db.ListSteps(context.Background(), job.ID)
	if err != nil || len(steps) != 2 || steps[1].Name != "next" {
		t.Errorf("steps = %+v, %v; want both", steps, err)
	}
}

// TestLostLogsFailTheJob: when the server refuses a job's logs for good,
// the job does not conclude a clean success: it says its record is
// incomplete.
func TestLostLogsFailTheJob(t *testing.T) {
	h := newHarness(t)
	h.kill()
	h.wrap = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/logs") {
				http.Error(w, `{"error":"refused"}`, http.StatusBadRequest)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h.start()
	h.runAgent("a1", nil, 1, func(ctx context.Context, l Lease, emit func(jobspec.LogLine), step func(jobspec.Step)) (string, map[string]string, string) {
		emit(jobspec.LogLine{Text: "a line the server will not take"})
		return store.ConclusionSuccess, nil, "ok"
	})
	job := h.queueJob("lost", nil, `{"job_id":"lost"}`)
	got := h.waitJob(job.ID, "the job to complete", completed)
	if got.Conclusion != store.ConclusionFailure {
		t.Errorf("job concluded %s with lost logs, want failure", got.Conclusion)
	}
	if !h.logs.has("job log lines lost") {
		t.Error("the agent did not say the job's log lines were lost")
	}
}

// A heartbeat answered "not leased" (409) after the job's completion was sent is the completion
// having ended the lease: nothing is logged and the job is not marked lost. Before that, it is
// a lost lease: said, marked, and the runner cancelled.
func TestHeartbeatAfterCompletionIsNotALostLease(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"error":"job 7 is not leased to this agent"}`)
	}))
	defer ts.Close()
	for _, ending := range []bool{true, false} {
		logs := &logSink{}
		a := &agent{cfg: Config{HeartbeatEvery: time.Millisecond}, client: NewClient(ts.URL, "tok"), log: slog.New(logs)}
		var cancelled error
		l := &Lease{}
		l.Job.ID, l.LeaseSeconds = 7, 30
		j := &job{a: a, lease: l, log: a.log, cancel: func(cause error) { cancelled = cause }}
		j.ending.Store(ending)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		j.heartbeat(ctx) // returns at the first 409
		cancel()
		said := logs.has("lease lost")
		if ending && (said || j.lost.Load() || cancelled != nil) {
			t.Errorf("after the completion: logged %v, marked lost %v, runner cancelled with %v; want none", said, j.lost.Load(), cancelled)
		}
		if !ending && (!said || !j.lost.Load() || !errors.Is(cancelled, ErrLeaseLost)) {
			t.Errorf("while running: logged %v, marked lost %v, runner cancelled with %v; want all", said, j.lost.Load(), cancelled)
		}
	}
}
