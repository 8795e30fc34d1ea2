package logs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFileSink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	fs, err := NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	events := script()
	for _, e := range events {
		fs.Emit(e)
	}
	// A straggler after its job finished is appended, not lost.
	fs.Emit(Event{Time: t0.Add(time.Second), Kind: Notice, Job: "build", Text: "late"})
	if err := fs.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	buildLog := filepath.Join(dir, "1-build.log")
	testLog := filepath.Join(dir, "2-test_3.11.log")
	paths := map[string]string{"build": fs.Path("build"), "test (3.11)": fs.Path("test (3.11)"), "none": fs.Path("none")}
	if diff := cmp.Diff(map[string]string{"build": buildLog, "test (3.11)": testLog, "none": ""}, paths); diff != "" {
		t.Errorf("Path mismatch (-want +got):\n%s", diff)
	}

	wantFiles := map[string]string{
		buildLog: `2025-03-04T05:06:07.891Z job started: build
2025-03-04T05:06:07.892Z step started: Run x
2025-03-04T05:06:07.893Z ##[group]Install
2025-03-04T05:06:07.894Z collected 3 items
2025-03-04T05:06:07.895Z ##[endgroup]
2025-03-04T05:06:07.896Z ##[debug]cache miss
2025-03-04T05:06:07.897Z sluice: set-output is deprecated
2025-03-04T05:06:07.898Z ##[error]boom
2025-03-04T05:06:07.899Z ##[warning]a.py:3: careful
2025-03-04T05:06:07.900Z step finished: Run x: success (8ms)
2025-03-04T05:06:07.901Z step started: Lint
2025-03-04T05:06:07.902Z step finished: Lint: failure (2.1s) - exit code 1 (continue-on-error)
2025-03-04T05:06:07.903Z step finished: Deploy: skipped
2025-03-04T05:06:07.904Z job finished: success (15ms)
2025-03-04T05:06:08.890Z sluice: late
`,
		testLog: `2025-03-04T05:06:07.910Z job started: test (3.11)
2025-03-04T05:06:07.911Z step started: Run x
2025-03-04T05:06:07.912Z FAILED test_a.py::test_x
2025-03-04T05:06:07.913Z ##[error]a.py:3:5: T: m
2025-03-04T05:06:07.914Z step finished: Run x: failure (2m03s) - exit code 1
2025-03-04T05:06:07.915Z job finished: failure (1.2s) - step Run x failed
`,
	}
	sum := *events[len(events)-1].Summary
	sum.Jobs = append([]JobSummary(nil), sum.Jobs...)
	sum.Jobs[0].LogFile = buildLog
	sum.Jobs[1].LogFile = testLog
	sum.LogDir = dir
	var txt bytes.Buffer
	WriteSummary(&txt, sum, false)
	wantFiles[filepath.Join(dir, "summary.txt")] = txt.String()

	gotFiles := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, perm)
		}
		if e.Name() == "summary.json" {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		gotFiles[p] = string(data)
	}
	if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
		t.Errorf("files mismatch (-want +got):\n%s", diff)
	}

	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gotSum RunSummary
	if err := json.Unmarshal(data, &gotSum); err != nil {
		t.Fatalf("decoding summary.json: %v", err)
	}
	if diff := cmp.Diff(sum, gotSum); diff != "" {
		t.Errorf("summary.json mismatch (-want +got):\n%s", diff)
	}
	if events[len(events)-1].Summary.Jobs[0].LogFile != "" {
		t.Error("FileSink changed the summary shared with other sinks")
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("log dir has mode %v, want 0700", perm)
	}
}

func TestFileSinkMultiLineText(t *testing.T) {
	dir := t.TempDir()
	fs, err := NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	fs.Emit(Event{Time: t0, Kind: Line, Job: "j", Step: "s", Text: "a\nb"})
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(fs.Path("j"))
	if err != nil {
		t.Fatal(err)
	}
	want := "2025-03-04T05:06:07.890Z a\n2025-03-04T05:06:07.890Z b\n"
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestFileSinkError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	fs, err := NewFileSink(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Replace the directory by a file so that even root cannot create logs.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fs.Emit(Event{Kind: Line, Job: "j", Text: "x"})
	if err := fs.Close(); err == nil {
		t.Error("Close returned no error after a log could not be created")
	}
	if _, err := NewFileSink(filepath.Join(dir, "sub")); err == nil {
		t.Error("NewFileSink under a file returned no error")
	}
}

func TestSanitizeName(t *testing.T) {
	tests := map[string]string{
		"build":               "build",
		"test (3.11)":         "test_3.11",
		"a/b\\c":              "a_b_c",
		"../../etc/passwd":    "etc_passwd",
		"":                    "job",
		"///":                 "job",
		"tëst, ubuntu-latest": "t_st_ubuntu-latest",
	}
	got := map[string]string{}
	for in := range tests {
		got[in] = sanitizeName(in)
	}
	if diff := cmp.Diff(tests, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
