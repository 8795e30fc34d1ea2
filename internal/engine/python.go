package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sluice-ci/sluice/internal/actions"
	"github.com/sluice-ci/sluice/internal/executor/host"
	"github.com/sluice-ci/sluice/internal/logs"
	"github.com/sluice-ci/sluice/internal/testreport"
)

func (s *nativeStep) ManageEnv(m actions.EnvManager) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	s.jr.envs = append(s.jr.envs, m)
}

func (s *nativeStep) RecordVersion(tool, version string) {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	s.jr.versions[tool] = version
}

// activeEnv is the Python environment the latest setup action put first on
// PATH, if any.
func (jr *jobRun) activeEnv() actions.EnvManager {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if len(jr.envs) == 0 {
		return nil
	}
	return jr.envs[len(jr.envs)-1]
}

// releaseEnvs lets the job's environments record themselves for the next
// run; only a successful job's environment may be reused.
func (jr *jobRun) releaseEnvs(succeeded bool) {
	jr.mu.Lock()
	envs := jr.envs
	jr.envs = nil
	jr.mu.Unlock()
	for _, m := range envs {
		if err := m.Release(succeeded); err != nil {
			jr.notice("", fmt.Sprintf("recording the Python environment: %v", err))
		}
	}
}

// replayer runs an install command again while an environment is rebuilt.
func (jr *jobRun) replayer(sc *scope, id, display string, stepEnv map[string]string) func(ctx context.Context, command, dir string) (int, error) {
	return func(ctx context.Context, command, dir string) (int, error) {
		p := &lineProcessor{jr: jr, step: display, outputs: map[string]string{}}
		jr.notice(display, "replaying: "+command)
		res, err := jr.hostRun(ctx, sc, host.Cmd{Argv: []string{"bash", "-e", "-c", command}, Dir: dir,
			Env: jr.processEnv(sc, id, stepEnv, jr.files), Line: p.line, Grace: jr.wr.e.opts.StepGrace})
		return res.ExitCode, err
	}
}

var junitFlag = regexp.MustCompile(`--junit-?xml[= ]+("[^"]+"|'[^']+'|\S+)`)

// junitFiles are the JUnit XML files a step may write: the one sluice asks
// pytest for through PYTEST_ADDOPTS, and any the script names itself.
func (jr *jobRun) junitFiles(id, dir, body string) (ours string, all []string) {
	ours = filepath.Join(jr.temp, "junit", id+"-"+randomName()+".xml")
	all = []string{ours}
	for _, m := range junitFlag.FindAllStringSubmatch(body, -1) {
		p := strings.Trim(m[1], `"'`)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		all = append(all, p)
	}
	return ours, all
}

// collectTests reads the JUnit files a step wrote and adds them to the
// job's results.
func (jr *jobRun) collectTests(display string, files []string, since int64) {
	var reports []*testreport.Report
	// Only inside the job's directories: a path the script names is the
	// job's to choose, and sluice reads it outside any sandbox.
	jroots := jr.roots()
	for _, f := range files {
		fi, err := jroots.Stat(f)
		if err != nil || fi.ModTime().UnixNano() < since {
			continue
		}
		fh, err := jroots.OpenFile(f)
		if err != nil {
			continue
		}
		r, err := testreport.ParseJUnit(fh)
		fh.Close()
		if err != nil {
			jr.notice(display, fmt.Sprintf("reading test results %s: %v", f, err))
			continue
		}
		reports = append(reports, r)
		break // the first is the most specific; pytest writes one file
	}
	if len(reports) == 0 {
		return
	}
	r := testreport.Merge(reports...)
	jr.notice(display, "tests: "+r.Summary())
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.tests == nil {
		jr.tests = r
	} else {
		jr.tests = testreport.Merge(jr.tests, r)
	}
}

func (jr *jobRun) testSummary() *logs.TestSummary {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	r := jr.tests
	if r == nil {
		return nil
	}
	ts := &logs.TestSummary{Passed: r.Passed, Failed: r.Failed + r.Errors, Skipped: r.Skipped, Line: r.Summary()}
	for _, c := range r.Cases {
		if c.Status != "failed" && c.Status != "error" {
			continue
		}
		msg, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		id := c.Name
		if c.Class != "" {
			id = c.Class + "::" + c.Name
		}
		ts.Failures = append(ts.Failures, id+": "+msg)
	}
	return ts
}
