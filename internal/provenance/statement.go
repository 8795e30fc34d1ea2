// Package provenance writes and checks in-toto Statement v1 documents whose
// predicate is SLSA Provenance v1, recording how sluice produced an artifact.
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Type URIs fixed by the in-toto Statement v1 and SLSA Provenance v1 specs.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names the shape of externalParameters/internalParameters that
	// sluice writes, so a consumer knows how to read them.
	BuildType = "https://github.com/sluice-ci/sluice/buildtypes/workflow/v1"
)

// Subject is one artifact the statement is about. Digest is "sha256:<hex>".
type Subject struct{ Name, Digest string }

// BuildInfo is what sluice knows about the run that produced the subjects.
type BuildInfo struct {
	Repo, Commit, Ref, Workflow, RunID, JobID string
	LockHash                                  string // "sha256:<hex>" or bare hex of the lockfile
	Tools                                     map[string]string
	Builder                                   string
	Started, Finished                         time.Time
	Params                                    map[string]any
}

// Document is the decoded form of a statement (in-toto field names).
type Document struct {
	Type          string               `json:"_type"`
	Subject       []ResourceDescriptor `json:"subject"`
	PredicateType string               `json:"predicateType"`
	Predicate     Provenance           `json:"predicate"`
}

// ResourceDescriptor is the in-toto v1 ResourceDescriptor.
type ResourceDescriptor struct {
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest,omitempty"`
	Name             string            `json:"name,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
	MediaType        string            `json:"mediaType,omitempty"`
	Annotations      map[string]any    `json:"annotations,omitempty"`
}

// Provenance is the SLSA Provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is SLSA v1 buildDefinition.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   map[string]any       `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// RunDetails is SLSA v1 runDetails.
type RunDetails struct {
	Builder    Builder              `json:"builder"`
	Metadata   *BuildMetadata       `json:"metadata,omitempty"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// Builder is SLSA v1 runDetails.builder.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// BuildMetadata is SLSA v1 runDetails.metadata; times are RFC 3339 in UTC.
type BuildMetadata struct {
	InvocationID string     `json:"invocationId,omitempty"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

// Statement renders the statement for subjects as canonical JSON: object keys
// sorted, no insignificant whitespace, no HTML escaping, so that the same
// inputs always give the same bytes (and the same digest when signed).
func Statement(subjects []Subject, b BuildInfo) ([]byte, error) {
	if len(subjects) == 0 {
		return nil, fmt.Errorf("building provenance statement: no subjects")
	}
	if b.Builder == "" {
		return nil, fmt.Errorf("building provenance statement: builder id is empty")
	}
	doc := Document{Type: StatementType, PredicateType: PredicateType}
	for _, s := range subjects {
		algo, hex, err := splitDigest(s.Digest)
		if err != nil {
			return nil, fmt.Errorf("building provenance statement: subject %q: %w", s.Name, err)
		}
		doc.Subject = append(doc.Subject, ResourceDescriptor{Name: s.Name, Digest: map[string]string{algo: hex}})
	}
	doc.Predicate = predicate(b)
	return canonical(doc)
}

func predicate(b BuildInfo) Provenance {
	workflow := map[string]any{}
	putNonEmpty(workflow, "repository", b.Repo)
	putNonEmpty(workflow, "ref", b.Ref)
	putNonEmpty(workflow, "path", b.Workflow)
	ext := map[string]any{"workflow": workflow}
	if len(b.Params) > 0 {
		ext["inputs"] = b.Params
	}
	internal := map[string]any{}
	putNonEmpty(internal, "runId", b.RunID)
	putNonEmpty(internal, "jobId", b.JobID)

	var deps []ResourceDescriptor
	if b.Repo != "" || b.Commit != "" {
		src := ResourceDescriptor{URI: sourceURI(b.Repo, b.Ref)}
		if b.Commit != "" {
			src.Digest = map[string]string{"gitCommit": b.Commit}
		}
		deps = append(deps, src)
	}
	if b.LockHash != "" {
		algo, hex, err := splitDigest(b.LockHash)
		if err != nil {
			algo, hex = "sha256", b.LockHash
		}
		deps = append(deps, ResourceDescriptor{Name: "lockfile", Digest: map[string]string{algo: hex}})
	}

	p := Provenance{
		BuildDefinition: BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ext,
			ResolvedDependencies: deps,
		},
		RunDetails: RunDetails{Builder: Builder{ID: b.Builder}},
	}
	if len(internal) > 0 {
		p.BuildDefinition.InternalParameters = internal
	}
	if len(b.Tools) > 0 {
		p.RunDetails.Builder.Version = b.Tools
	}
	md := &BuildMetadata{InvocationID: invocationID(b.RunID, b.JobID)}
	if !b.Started.IsZero() {
		t := b.Started.UTC()
		md.StartedOn = &t
	}
	if !b.Finished.IsZero() {
		t := b.Finished.UTC()
		md.FinishedOn = &t
	}
	if *md != (BuildMetadata{}) {
		p.RunDetails.Metadata = md
	}
	return p
}

// sourceURI follows the SPDX download-location form that SLSA examples use
// ("git+<repo>@<ref>").
func sourceURI(repo, ref string) string {
	if repo == "" {
		return ""
	}
	u := "git+" + repo
	if ref != "" {
		u += "@" + ref
	}
	return u
}

func invocationID(run, job string) string {
	switch {
	case run == "":
		return ""
	case job == "":
		return run
	default:
		return run + "/" + job
	}
}

func putNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// canonical marshals v, then re-marshals through generic values so that
// struct fields are emitted in sorted key order like map keys are.
func canonical(v any) ([]byte, error) {
	raw, err := marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, fmt.Errorf("re-reading statement: %w", err)
	}
	out, err := marshal(generic)
	if err != nil {
		return nil, fmt.Errorf("encoding canonical statement: %w", err)
	}
	return out, nil
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Parse decodes a statement and checks that it is an in-toto v1 statement
// carrying SLSA Provenance v1.
func Parse(stmt []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(stmt))
	dec.UseNumber()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding provenance statement: %w", err)
	}
	if doc.Type != StatementType {
		return nil, fmt.Errorf("decoding provenance statement: _type is %q, want %q", doc.Type, StatementType)
	}
	if doc.PredicateType != PredicateType {
		return nil, fmt.Errorf("decoding provenance statement: predicateType is %q, want %q", doc.PredicateType, PredicateType)
	}
	return &doc, nil
}

// Verify checks that stmt is a valid statement naming an artifact with the
// given digest ("sha256:<hex>"). An empty name matches any subject name.
func Verify(stmt []byte, name, digest string) error {
	doc, err := Parse(stmt)
	if err != nil {
		return err
	}
	algo, hex, err := splitDigest(digest)
	if err != nil {
		return fmt.Errorf("verifying provenance: %w", err)
	}
	var seen []string
	for _, s := range doc.Subject {
		if name != "" && s.Name != name {
			continue
		}
		got, ok := s.Digest[algo]
		if ok && strings.EqualFold(got, hex) {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%s:%s", algo, got))
	}
	if len(seen) == 0 {
		names := make([]string, 0, len(doc.Subject))
		for _, s := range doc.Subject {
			names = append(names, s.Name)
		}
		sort.Strings(names)
		return fmt.Errorf("verifying provenance: no subject named %q (subjects: %s)", name, strings.Join(names, ", "))
	}
	return fmt.Errorf("verifying provenance: subject %q has digest %s, not %s", name, strings.Join(seen, ", "), digest)
}

// BuildInfo recovers the build facts from a decoded statement; it is the
// inverse of Statement for the fields Statement records.
func (d *Document) BuildInfo() BuildInfo {
	p := d.Predicate
	var b BuildInfo
	if wf, ok := p.BuildDefinition.ExternalParameters["workflow"].(map[string]any); ok {
		b.Repo, _ = wf["repository"].(string)
		b.Ref, _ = wf["ref"].(string)
		b.Workflow, _ = wf["path"].(string)
	}
	if in, ok := p.BuildDefinition.ExternalParameters["inputs"].(map[string]any); ok {
		b.Params = in
	}
	b.RunID, _ = p.BuildDefinition.InternalParameters["runId"].(string)
	b.JobID, _ = p.BuildDefinition.InternalParameters["jobId"].(string)
	for _, dep := range p.BuildDefinition.ResolvedDependencies {
		if c, ok := dep.Digest["gitCommit"]; ok {
			b.Commit = c
		}
		if dep.Name == "lockfile" {
			for algo, hex := range dep.Digest {
				b.LockHash = algo + ":" + hex
			}
		}
	}
	b.Tools = p.RunDetails.Builder.Version
	b.Builder = p.RunDetails.Builder.ID
	if md := p.RunDetails.Metadata; md != nil {
		if md.StartedOn != nil {
			b.Started = *md.StartedOn
		}
		if md.FinishedOn != nil {
			b.Finished = *md.FinishedOn
		}
	}
	return b
}

func splitDigest(d string) (algo, hex string, err error) {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || algo == "" || hex == "" {
		return "", "", fmt.Errorf("digest %q is not <algorithm>:<hex>", d)
	}
	if algo == "sha256" && !isHex(hex, 64) {
		return "", "", fmt.Errorf("digest %q: sha256 needs 64 hex digits", d)
	}
	return strings.ToLower(algo), strings.ToLower(hex), nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
