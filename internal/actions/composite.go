package actions

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

// Input is one declared input of an action.
type Input struct {
	Name     string
	Default  string
	Required bool
}

// Output is one declared output of a composite action.
type Output struct {
	Name  string
	Value string
}

// Metadata is what sluice needs from an action.yml.
type Metadata struct {
	Dir     string
	File    string
	Name    string
	Using   string // composite, node16, node20, docker
	Inputs  []Input
	Outputs []Output
	Steps   []*actionlint.Step // composite steps, parsed as workflow steps
	Main    string
	Pre     string
	PreIf   string
	Post    string
	PostIf  string
	// Docker actions: image is "Dockerfile" (or a path to one) or
	// "docker://ref"; args and env may hold expressions.
	Image      string
	Entrypoint string
	Args       []string
	Env        map[string]string
}

type rawMetadata struct {
	Name   string `yaml:"name"`
	Inputs yaml.Node
	Output yaml.Node `yaml:"outputs"`
	Runs   struct {
		Using  string    `yaml:"using"`
		Main   string    `yaml:"main"`
		Pre    string    `yaml:"pre"`
		PreIf  string    `yaml:"pre-if"`
		Post   string    `yaml:"post"`
		PostIf string    `yaml:"post-if"`
		Steps  yaml.Node `yaml:"steps"`
		// docker actions
		Image      string            `yaml:"image"`
		Entrypoint string            `yaml:"entrypoint"`
		Args       []string          `yaml:"args"`
		Env        map[string]string `yaml:"env"`
	} `yaml:"runs"`
}

// HasInput says whether the action declares the input (case-insensitive).
func (md *Metadata) HasInput(name string) bool {
	for _, in := range md.Inputs {
		if strings.EqualFold(in.Name, name) {
			return true
		}
	}
	return false
}

// LoadMetadata reads dir/action.yml (or action.yaml).
func LoadMetadata(dir string) (*Metadata, error) {
	var file string
	var src []byte
	for _, n := range []string{"action.yml", "action.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			file, src = filepath.Join(dir, n), b
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading action metadata: %w", err)
		}
	}
	if file == "" {
		return nil, fmt.Errorf("no action.yml or action.yaml in %s (did a step check out the repository first? local actions are read from the workspace)", dir)
	}
	var raw rawMetadata
	if err := yaml.Unmarshal(src, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	md := &Metadata{Dir: dir, File: file, Name: raw.Name, Using: raw.Runs.Using, Main: raw.Runs.Main,
		Pre: raw.Runs.Pre, PreIf: raw.Runs.PreIf, Post: raw.Runs.Post, PostIf: raw.Runs.PostIf,
		Image: raw.Runs.Image, Entrypoint: raw.Runs.Entrypoint, Args: raw.Runs.Args, Env: raw.Runs.Env}
	var err error
	if md.Inputs, err = parseInputs(&raw.Inputs); err != nil {
		return nil, fmt.Errorf("%s: inputs: %w", file, err)
	}
	if md.Outputs, err = parseOutputs(&raw.Output); err != nil {
		return nil, fmt.Errorf("%s: outputs: %w", file, err)
	}
	if md.Using == "composite" {
		if md.Steps, err = parseSteps(file, &raw.Runs.Steps); err != nil {
			return nil, err
		}
	}
	return md, nil
}

func mappingPairs(n *yaml.Node) ([][2]*yaml.Node, error) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: expected a mapping", n.Line)
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out, nil
}

func field(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func parseInputs(n *yaml.Node) ([]Input, error) {
	pairs, err := mappingPairs(n)
	if err != nil {
		return nil, err
	}
	var out []Input
	for _, p := range pairs {
		in := Input{Name: p[0].Value}
		if d := field(p[1], "default"); d != nil {
			in.Default = d.Value
		}
		if r := field(p[1], "required"); r != nil {
			in.Required = r.Value == "true"
		}
		out = append(out, in)
	}
	return out, nil
}

func parseOutputs(n *yaml.Node) ([]Output, error) {
	pairs, err := mappingPairs(n)
	if err != nil {
		return nil, err
	}
	var out []Output
	for _, p := range pairs {
		o := Output{Name: p[0].Value}
		if v := field(p[1], "value"); v != nil {
			o.Value = v.Value
		}
		out = append(out, o)
	}
	return out, nil
}

// parseSteps reuses actionlint's step parser by placing the composite's
// steps inside a minimal workflow, so composite steps and workflow steps are
// one type and run through one code path.
func parseSteps(file string, steps *yaml.Node) ([]*actionlint.Step, error) {
	if steps.Kind == 0 {
		return nil, fmt.Errorf("%s: a composite action needs runs.steps", file)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "on"}, {Kind: yaml.ScalarNode, Value: "push"},
		{Kind: yaml.ScalarNode, Value: "jobs"}, {Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "composite"}, {Kind: yaml.MappingNode, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Value: "runs-on"}, {Kind: yaml.ScalarNode, Value: "composite"},
				{Kind: yaml.ScalarNode, Value: "steps"}, steps,
			}},
		}},
	}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("%s: re-encoding steps: %w", file, err)
	}
	wf, errs := actionlint.Parse(buf.Bytes())
	if len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Message)
		}
		sort.Strings(msgs)
		return nil, fmt.Errorf("%s: runs.steps: %s", file, strings.Join(msgs, "; "))
	}
	job := wf.Jobs["composite"]
	if job == nil {
		return nil, fmt.Errorf("%s: runs.steps could not be read", file)
	}
	for i, s := range job.Steps {
		if r, ok := s.Exec.(*actionlint.ExecRun); ok && (r.Shell == nil || r.Shell.Value == "") {
			line := s.Pos.Line
			if i < len(steps.Content) {
				line = steps.Content[i].Line // where it stands in action.yml
			}
			return nil, fmt.Errorf("%s: composite step %q needs an explicit shell (GitHub requires `shell:` on run steps of composite actions)", file, stepLabel(s, line))
		}
	}
	return job.Steps, nil
}

func stepLabel(s *actionlint.Step, line int) string {
	if s.Name != nil {
		return s.Name.Value
	}
	if s.ID != nil {
		return s.ID.Value
	}
	return fmt.Sprintf("at line %d", line)
}
