package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ci/sluice/internal/client"
	"github.com/sluice-ci/sluice/internal/server"
	"github.com/sluice-ci/sluice/internal/store"
)

// client is an API client whose requests time out, so calls take
// context.Background().
func (s *srv) client() *client.Client {
	c := client.New(s.url, s.token)
	c.HTTP = &http.Client{Timeout: 30 * time.Second}
	return c
}

// getRaw GETs an API path with the admin token and returns the body,
// failing on anything but 200.
func (s *srv) getRaw(t *testing.T, path string) string {
	t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	return string(b)
}

// addRepo registers g as repository name with a webhook secret through the CLI.
func (s *srv) addRepo(t *testing.T, name string, g *gitRepo, hookSecret string) {
	t.Helper()
	s.mustCLI(t, "repo", "add", name, "--url", g.url(), "--webhook-secret", hookSecret, "--default-branch", "main")
}

// runsCLI lists the runs of repo with `sluice runs --json`.
func (s *srv) runsCLI(t *testing.T, repo string) []server.RunView {
	t.Helper()
	out := s.mustCLI(t, "runs", "--json", "--repo", repo)
	var runs []server.RunView
	if err := json.Unmarshal([]byte(out), &runs); err != nil {
		t.Fatalf("decoding sluice runs --json %q: %v", out, err)
	}
	return runs
}

// waitRunDone polls the API until run id is completed.
func (s *srv) waitRunDone(t *testing.T, id int64, timeout time.Duration) *server.RunDetail {
	t.Helper()
	c := s.client()
	return waitFor(t, fmt.Sprintf("run %d to complete", id), timeout, func() (*server.RunDetail, bool, error) {
		d, err := c.GetRun(context.Background(), id)
		if err != nil {
			return nil, false, err
		}
		return d, d.Run.Status == store.StatusCompleted, nil
	})
}

// waitRunsCLIDone polls `sluice runs --json` until run id shows completed.
func (s *srv) waitRunsCLIDone(t *testing.T, repo string, id int64, timeout time.Duration) server.RunView {
	t.Helper()
	return waitFor(t, fmt.Sprintf("sluice runs to show run %d completed", id), timeout, func() (server.RunView, bool, error) {
		for _, r := range s.runsCLI(t, repo) {
			if r.ID == id {
				return r, r.Status == store.StatusCompleted, nil
			}
		}
		return server.RunView{}, false, fmt.Errorf("run %d not listed", id)
	})
}

// jobLog returns the text of job id's log lines, one per line.
func (s *srv) jobLog(t *testing.T, id int64) string {
	t.Helper()
	lines, err := s.client().Logs(context.Background(), id, 0, 10000)
	if err != nil {
		t.Fatalf("reading the log of job %d: %v", id, err)
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// jobByKey finds the job with key in a run's detail.
func jobByKey(t *testing.T, d *server.RunDetail, key string) server.JobView {
	t.Helper()
	var keys []string
	for _, j := range d.Jobs {
		if j.Key == key {
			return j
		}
		keys = append(keys, j.Key)
	}
	t.Fatalf("run %d has no job %q; it has %q", d.Run.ID, key, keys)
	return server.JobView{}
}

// describeJobs summarises the jobs of a run for failure messages.
func describeJobs(d *server.RunDetail) string {
	var b strings.Builder
	for _, j := range d.Jobs {
		fmt.Fprintf(&b, "\n  job %d %s attempt %d: %s/%s %s", j.ID, j.Key, j.Attempt, j.Status, j.Conclusion, j.Reason)
	}
	return b.String()
}
