package provenance

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	wheelDigest = "sha256:0f343b0931126a20f133d67c2b018a3b5e1f1e9aa3b2f3f1a1cd0b1c0a1e2f3d"
	imageDigest = "sha256:9a1e2f3d0f343b0931126a20f133d67c2b018a3b5e1f1e9aa3b2f3f1a1cd0b1c"
	lockDigest  = "sha256:5e1f1e9aa3b2f3f1a1cd0b1c0a1e2f3d0f343b0931126a20f133d67c2b018a3b"
)

func sampleInfo() BuildInfo {
	return BuildInfo{
		Repo:     "https://git.example.test/acme/service",
		Commit:   "3f786850e387550fdab836ed7e6dc881de23001b",
		Ref:      "refs/heads/main",
		Workflow: ".github/workflows/release.yml",
		RunID:    "42",
		JobID:    "build",
		LockHash: lockDigest,
		Tools:    map[string]string{"python": "3.11.7", "pip": "23.2.1", "sluice": "0.1.0"},
		Builder:  "https://sluice.example.test/agents/linux-x64",
		Started:  time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Finished: time.Date(2024, 5, 1, 12, 3, 30, 500_000_000, time.UTC),
		Params:   map[string]any{"python-version": "3.11", "publish": true, "<html>": "a&b"},
	}
}

func sampleSubjects() []Subject {
	return []Subject{
		{Name: "service-1.2.0-py3-none-any.whl", Digest: wheelDigest},
		{Name: "registry.test/acme/service", Digest: imageDigest},
	}
}

func TestStatementGolden(t *testing.T) {
	got, err := Statement(sampleSubjects(), sampleInfo())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "statement.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(bytes.TrimSuffix(want, []byte("\n"))), string(got)); diff != "" {
		t.Errorf("statement differs from %s (-want +got):\n%s", golden, diff)
	}
	again, err := Statement(sampleSubjects(), sampleInfo())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Error("two renderings of the same inputs differ")
	}
}

// The spec fixes these field names; check them structurally so a rename of a
// Go tag cannot slip through together with a regenerated golden file.
func TestStatementFieldNames(t *testing.T) {
	raw, err := Statement(sampleSubjects(), sampleInfo())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var cur any = m
		for _, p := range path {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = obj[p]
		}
		return cur
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"_type"}, "https://in-toto.io/Statement/v1"},
		{[]string{"predicateType"}, "https://slsa.dev/provenance/v1"},
		{[]string{"predicate", "buildDefinition", "buildType"}, BuildType},
		{[]string{"predicate", "buildDefinition", "externalParameters", "workflow", "ref"}, "refs/heads/main"},
		{[]string{"predicate", "runDetails", "builder", "id"}, "https://sluice.example.test/agents/linux-x64"},
		{[]string{"predicate", "runDetails", "builder", "version", "python"}, "3.11.7"},
		{[]string{"predicate", "runDetails", "metadata", "invocationId"}, "42/build"},
		{[]string{"predicate", "runDetails", "metadata", "startedOn"}, "2024-05-01T12:00:00Z"},
		{[]string{"predicate", "runDetails", "metadata", "finishedOn"}, "2024-05-01T12:03:30.5Z"},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, get(c.path...)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", strings.Join(c.path, "."), diff)
		}
	}
	deps, _ := get("predicate", "buildDefinition", "resolvedDependencies").([]any)
	wantDeps := []any{
		map[string]any{"uri": "git+https://git.example.test/acme/service@refs/heads/main",
			"digest": map[string]any{"gitCommit": "3f786850e387550fdab836ed7e6dc881de23001b"}},
		map[string]any{"name": "lockfile", "digest": map[string]any{"sha256": strings.TrimPrefix(lockDigest, "sha256:")}},
	}
	if diff := cmp.Diff(wantDeps, deps); diff != "" {
		t.Errorf("resolvedDependencies (-want +got):\n%s", diff)
	}
	subj, _ := get("subject").([]any)
	if len(subj) != 2 || subj[0].(map[string]any)["digest"].(map[string]any)["sha256"] != strings.TrimPrefix(wheelDigest, "sha256:") {
		t.Errorf("subject = %v", subj)
	}
}

func TestRoundTrip(t *testing.T) {
	in := sampleInfo()
	raw, err := Statement(sampleSubjects(), in)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, doc.BuildInfo()); diff != "" {
		t.Errorf("BuildInfo after round trip (-want +got):\n%s", diff)
	}
	again, err := Statement(sampleSubjects(), doc.BuildInfo())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(raw), string(again)); diff != "" {
		t.Errorf("re-rendered statement differs (-first +second):\n%s", diff)
	}
}

func TestVerify(t *testing.T) {
	raw, err := Statement(sampleSubjects(), sampleInfo())
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(raw), "https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1", 1)
	tests := []struct {
		name, subject, digest, stmt string
		wantErr                     string
	}{
		{name: "good", subject: "service-1.2.0-py3-none-any.whl", digest: wheelDigest},
		{name: "good upper-case hex", subject: "registry.test/acme/service", digest: strings.ToUpper(imageDigest[7:])},
		{name: "any name", digest: imageDigest},
		{name: "bad digest", subject: "service-1.2.0-py3-none-any.whl", digest: imageDigest, wantErr: "has digest"},
		{name: "unknown subject", subject: "other.whl", digest: wheelDigest, wantErr: "no subject named"},
		{name: "malformed digest", subject: "other.whl", digest: "abc", wantErr: "not <algorithm>:<hex>"},
		{name: "wrong statement type", subject: "service-1.2.0-py3-none-any.whl", digest: wheelDigest, stmt: tampered, wantErr: "_type"},
		{name: "not json", digest: wheelDigest, stmt: "{", wantErr: "decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stmt := string(raw)
			if tt.stmt != "" {
				stmt = tt.stmt
			}
			digest := tt.digest
			if tt.name == "good upper-case hex" {
				digest = "sha256:" + digest
			}
			err := Verify([]byte(stmt), tt.subject, digest)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Verify error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStatementRejects(t *testing.T) {
	tests := []struct {
		name     string
		subjects []Subject
		info     BuildInfo
	}{
		{"no subjects", nil, sampleInfo()},
		{"no builder", sampleSubjects(), BuildInfo{}},
		{"short sha256", []Subject{{Name: "x", Digest: "sha256:abc"}}, sampleInfo()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Statement(tt.subjects, tt.info); err == nil {
				t.Fatal("Statement succeeded, want an error")
			}
		})
	}
}

func TestDigestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(p, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := DigestFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// sha256sum of "hello\n"
	want := "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	if got != want {
		t.Errorf("DigestFile = %s, want %s", got, want)
	}
	if _, err := DigestFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("DigestFile of a missing file succeeded")
	}
}
