package cd

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// DefaultPath is where a repository declares its environments.
const DefaultPath = ".sluice/environments.yml"

// maxWaitTimer is GitHub's limit on an environment's wait timer.
const maxWaitTimer = 30 * 24 * time.Hour

// Load reads and validates an environments file; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading environments: %w", err)
	}
	return Parse(path, data)
}

// Parse validates an environments file and expands its strategy preset. A file looks like:
//
//	strategy: trunk                 # optional: trunk, github-flow or gitflow
//	environments:                   # in promotion order
//	  production:
//	    tier: production            # development, testing, staging or production
//	    url: https://example.com
//	    upstream: [staging]
//	    reviewers: [alice, bob, carol]
//	    required-approvals: 2       # default 1 when reviewers are listed
//	    wait-timer: 15m             # Go duration, or an integer of minutes
//	    branches: [main, '!main-old']
//	    tags: ['v*']
//	    pull-requests: false
//	    hotfix: ['hotfix/*']
//	    windows:
//	      - days: [mon-thu]         # mon…sun, full names, ranges; default every day
//	        hours: '09:00-17:00'    # may run past midnight: '22:00-02:00'; default all day
//	        timezone: Europe/Paris  # default UTC
//	    verify:
//	      http: {url: https://example.com/health, status: 200, contains: ok, timeout: 10s, retries: 3}
//	      # or: command: {run: ./smoke.sh, timeout: 5m}
//	    auto-rollback: true
//	    automatic: false
//
// Every problem is reported, each as an *Error with the file, line and column, in an Errors.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return cfg, nil
}

type parser struct {
	file string
	errs Errors
}

// envNodes remembers where an environment's keys are, to place errors found after merging.
type envNodes struct {
	key      *yaml.Node
	fields   map[string]*yaml.Node
	upstream []*yaml.Node
}

var (
	syntaxLine = lazyre.New(`^yaml: line (\d+): (.*)$`)
	envName    = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

func (p *parser) errAt(n *yaml.Node, hint, format string, args ...any) {
	e := &Error{File: p.file, Msg: fmt.Sprintf(format, args...), Hint: hint}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parser) parse(data []byte) *Config {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: p.file, Msg: strings.TrimPrefix(err.Error(), "yaml: "), Hint: "fix the YAML syntax"}
		if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		p.errs = append(p.errs, e)
		return nil
	}
	cfg := &Config{Environments: []Environment{}}
	if len(doc.Content) == 0 {
		return cfg
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return cfg
	}
	if root.Kind != yaml.MappingNode {
		p.errAt(root, "write a mapping with strategy: and environments:", "the file must be a mapping, not a %s", kindName(root))
		return nil
	}
	var envsNode *yaml.Node
	p.pairs(root, func(k, v *yaml.Node) {
		switch k.Value {
		case "strategy":
			s, ok := p.str(v)
			if !ok {
				return
			}
			if _, known := preset(s); !known {
				p.errAt(v, "use one of "+strings.Join(strategies(), ", ")+", or leave it out", "unknown strategy %q", s)
				return
			}
			cfg.Strategy = s
		case "environments":
			envsNode = v
		default:
			p.errAt(k, suggest(k.Value, []string{"strategy", "environments"}), "unknown key %q", k.Value)
		}
	})
	envs, _ := preset(cfg.Strategy)
	nodes := make([]envNodes, len(envs))
	if envsNode != nil && !isNull(envsNode) {
		if envsNode.Kind != yaml.MappingNode {
			p.errAt(envsNode, "map each environment's name to its settings", "environments must be a mapping, not a %s", kindName(envsNode))
		} else {
			p.pairs(envsNode, func(k, v *yaml.Node) {
				if !envName.MatchString(k.Value) {
					p.errAt(k, "use letters, digits, '.', '_' and '-', starting with a letter or digit", "invalid environment name %q", k.Value)
					return
				}
				i := slices.IndexFunc(envs, func(e Environment) bool { return e.Name == k.Value })
				if i < 0 {
					envs = append(envs, Environment{Name: k.Value})
					nodes = append(nodes, envNodes{})
					i = len(envs) - 1
				}
				nodes[i].key = k
				envs[i].Pos = Pos{Line: k.Line, Col: k.Column}
				p.env(&envs[i], &nodes[i], v)
			})
		}
	}
	p.check(envs, nodes)
	cfg.Environments = envs
	return cfg
}

// envKeys lists an environment's keys, for hints.
func envKeys() []string {
	return []string{
		"tier", "url", "upstream", "reviewers", "required-approvals", "wait-timer", "branches", "tags",
		"pull-requests", "hotfix", "windows", "verify", "auto-rollback", "automatic",
	}
}

func (p *parser) env(e *Environment, n *envNodes, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errAt(v, "give the environment's settings as a mapping (or nothing)", "environment %q must be a mapping, not a %s", e.Name, kindName(v))
		return
	}
	n.fields = map[string]*yaml.Node{}
	p.pairs(v, func(k, v *yaml.Node) {
		n.fields[k.Value] = v
		switch k.Value {
		case "tier":
			if s, ok := p.str(v); ok {
				switch s {
				case TierDevelopment, TierTesting, TierStaging, TierProduction:
					e.Tier = s
				default:
					p.errAt(v, "use development, testing, staging or production", "unknown tier %q", s)
				}
			}
		case "url":
			if s, ok := p.str(v); ok {
				e.URL = s
			}
		case "upstream":
			e.Upstream, n.upstream = p.strList(v)
		case "reviewers":
			rs, items := p.strList(v)
			for i, r := range rs {
				if slices.IndexFunc(rs[:i], func(s string) bool { return strings.EqualFold(s, r) }) >= 0 {
					p.errAt(items[i], "list each reviewer once", "reviewer %q is listed twice", r)
				}
			}
			e.Reviewers = rs
		case "required-approvals":
			if i, ok := p.integer(v); ok {
				e.RequiredApprovals = i
			} else {
				delete(n.fields, k.Value) // reported; checking it against reviewers would repeat that
			}
		case "wait-timer":
			if d, ok := p.duration(v); ok {
				if d < 0 || d > maxWaitTimer {
					p.errAt(v, "use a duration from 0 to 720h (30 days)", "wait-timer %s is out of range", d)
				}
				e.WaitTimer = d
			}
		case "branches":
			e.Branches = p.patterns(v)
		case "tags":
			e.Tags = p.patterns(v)
		case "hotfix":
			e.Hotfix = p.patterns(v)
		case "pull-requests":
			e.PullRequests, _ = p.boolean(v)
		case "windows":
			e.Windows = p.windows(v)
		case "verify":
			e.Verify = p.verify(v)
		case "auto-rollback":
			e.AutoRollback, _ = p.boolean(v)
		case "automatic":
			e.Automatic, _ = p.boolean(v)
		default:
			p.errAt(k, suggest(k.Value, envKeys()), "unknown key %q in environment %q", k.Value, e.Name)
		}
	})
}

// check validates what depends on several keys or environments, after merging with the preset.
func (p *parser) check(envs []Environment, nodes []envNodes) {
	for i := range envs {
		e, n := &envs[i], nodes[i]
		if e.Tier == "" {
			e.Tier = inferTier(e.Name)
		}
		reqNode := n.fields["required-approvals"]
		switch {
		case e.RequiredApprovals < 0:
			p.errAt(reqNode, "use a number from 1 to the number of reviewers", "required-approvals cannot be negative")
		case len(e.Reviewers) == 0 && e.RequiredApprovals > 0:
			p.errAt(reqNode, "list who may approve under reviewers:", "required-approvals is %d but environment %q has no reviewers", e.RequiredApprovals, e.Name)
		case e.RequiredApprovals > len(e.Reviewers):
			p.errAt(reqNode, "lower required-approvals or add reviewers", "required-approvals is %d but only %d reviewers are listed", e.RequiredApprovals, len(e.Reviewers))
		case len(e.Reviewers) > 0 && e.RequiredApprovals == 0:
			if reqNode != nil {
				p.errAt(reqNode, "remove reviewers to need no approval", "required-approvals is 0 but reviewers are listed")
			}
			e.RequiredApprovals = 1
		}
		for j, u := range e.Upstream {
			var at *yaml.Node
			if j < len(n.upstream) {
				at = n.upstream[j]
			}
			switch {
			case u == e.Name:
				p.errAt(at, "remove it from its own upstream", "environment %q lists itself as upstream", u)
			case !slices.ContainsFunc(envs, func(o Environment) bool { return o.Name == u }):
				p.errAt(at, "declare it under environments: or fix the name", "unknown upstream environment %q", u)
			}
		}
	}
	p.cycles(envs, nodes)
}

// cycles reports the first upstream cycle, at the upstream entry that closes it.
func (p *parser) cycles(envs []Environment, nodes []envNodes) {
	const (
		unseen = iota
		active
		done
	)
	state := make([]int, len(envs))
	index := func(name string) int {
		return slices.IndexFunc(envs, func(e Environment) bool { return e.Name == name })
	}
	// path is the chain being visited and edges[k] the upstream entry leading from path[k] to
	// path[k+1], so a cycle can be reported at an entry the file wrote even when the link
	// that closes it comes from a preset.
	var path []string
	var edges []*yaml.Node
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = active
		path = append(path, envs[i].Name)
		for j, u := range envs[i].Upstream {
			k := index(u)
			if k < 0 || k == i {
				continue // reported by check
			}
			var at *yaml.Node
			if j < len(nodes[i].upstream) {
				at = nodes[i].upstream[j]
			}
			edges = append(edges, at)
			if state[k] == active {
				start := slices.Index(path, u)
				cycle := append(slices.Clone(path[start:]), u)
				for e := len(edges) - 1; at == nil && e >= start; e-- {
					at = edges[e]
				}
				p.errAt(at, "an environment cannot be upstream of itself, directly or not; remove one link",
					"upstream cycle: %s", strings.Join(cycle, " → "))
				return true
			}
			if state[k] == unseen && visit(k) {
				return true
			}
			edges = edges[:len(edges)-1]
		}
		path = path[:len(path)-1]
		state[i] = done
		return false
	}
	for i := range envs {
		if state[i] == unseen && visit(i) {
			return
		}
	}
}

// inferTier gives an environment without a tier the one its name suggests.
func inferTier(name string) string {
	switch strings.ToLower(name) {
	case "production", "prod", "live":
		return TierProduction
	case "staging", "stage", "preprod", "pre-production", "uat":
		return TierStaging
	case "test", "testing", "qa":
		return TierTesting
	}
	return TierDevelopment
}
