package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluice-ci/sluice/internal/blob"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testreport"
)

// Job results that are not store records (the step summary markdown and the test report) are
// kept as files under DATA/jobs/<id>/, written before the job is completed.
const (
	jobSummaryFile = "summary.md"
	jobTestsFile   = "tests.json"
)

func (s *Server) jobResultDir(jobID int64) string {
	return filepath.Join(s.cfg.DataDir, "jobs", strconv.FormatInt(jobID, 10))
}

func (s *Server) saveJobResults(jobID int64, summary string, tests json.RawMessage) error {
	if summary == "" && len(tests) == 0 {
		return nil
	}
	if s.cfg.Blobs != nil {
		return s.saveJobResultBlobs(jobID, summary, tests)
	}
	if s.cfg.DataDir == "" {
		return nil
	}
	dir := s.jobResultDir(jobID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	files := []struct {
		name string
		data []byte
	}{{jobSummaryFile, []byte(summary)}, {jobTestsFile, tests}}
	for _, f := range files {
		if len(f.data) == 0 || string(f.data) == "null" {
			continue
		}
		if err := agentWriteFile(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// jobSummary returns the step summary markdown the agent reported for job jobID ("" if none).
func (s *Server) jobSummary(jobID int64) (string, error) {
	b, err := s.readJobResult(jobID, jobSummaryFile)
	return string(b), err
}

// jobTests returns the test report JSON the agent reported for job jobID (nil if none).
func (s *Server) jobTests(jobID int64) (json.RawMessage, error) {
	b, err := s.readJobResult(jobID, jobTestsFile)
	if len(b) == 0 {
		return nil, err
	}
	return json.RawMessage(b), err
}

func (s *Server) readJobResult(jobID int64, name string) ([]byte, error) {
	if s.cfg.Blobs != nil {
		return s.readJobResultBlob(jobID, name)
	}
	if s.cfg.DataDir == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(s.jobResultDir(jobID), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s of job %d: %w", name, jobID, err)
	}
	return b, nil
}

func agentWriteFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// jobResults is what the delivery metrics keep of a job's completion: its tool versions and test
// cases (by pytest node id). A report that does not decode keeps no tests; the store bounds the
// rest, since both come from the job.
func jobResults(versions map[string]string, tests json.RawMessage) store.JobResults {
	res := store.JobResults{Tools: versions}
	var rep testreport.Report
	if len(tests) == 0 || json.Unmarshal(tests, &rep) != nil {
		return res
	}
	res.Tests = make([]store.TestCase, 0, len(rep.Cases))
	for _, c := range rep.Cases {
		res.Tests = append(res.Tests, store.TestCase{Name: c.ID(), Outcome: c.Status, Duration: c.Duration})
	}
	return res
}

// With a blob store (several replicas), job results are blobs jobs/<id>/<name>: the replica the
// agent reports to is not the one a browser asks.
func jobResultKey(jobID int64, name string) string {
	return "jobs/" + strconv.FormatInt(jobID, 10) + "/" + name
}

func (s *Server) saveJobResultBlobs(jobID int64, summary string, tests json.RawMessage) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, data := range map[string][]byte{jobSummaryFile: []byte(summary), jobTestsFile: tests} {
		if len(data) == 0 || string(data) == "null" {
			continue
		}
		if err := s.cfg.Blobs.Put(ctx, jobResultKey(jobID, name), bytes.NewReader(data), int64(len(data))); err != nil {
			return fmt.Errorf("saving %s of job %d: %w", name, jobID, err)
		}
	}
	return nil
}

func (s *Server) readJobResultBlob(jobID int64, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := s.cfg.Blobs.Get(ctx, jobResultKey(jobID, name))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s of job %d: %w", name, jobID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, agentMaxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s of job %d: %w", name, jobID, err)
	}
	return b, nil
}
