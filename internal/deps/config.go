package deps

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/robfig/cron/v3"
	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/python"
	"go.yaml.in/yaml/v3"
)

// ConfigPath is where a repository configures dependency updates.
const ConfigPath = ".sluice/deps.yml"

// Modes of the server's scheduled update.
const (
	ModePullRequest = "pull-request" // open a pull/merge request on the forge with the diff and the run's result
	ModeMerge       = "merge"        // push to the default branch when every job of the run succeeded
	ModeBranch      = "branch"       // leave the branch and its run; nothing else
)

// Config is .sluice/deps.yml:
//
//	schedule: weekly          # daily, weekly (default), monthly, off, or a cron line ("0 6 * * 1")
//	mode: pull-request        # pull-request (default), merge (when every job is green), branch
//	cooldown: 3               # days a release must have been public (default 0)
//	groups:                   # the first group a package matches takes it
//	  - name: dev-tools
//	    patterns: ["pytest*", ruff, mypy]   # name globs; default every name
//	    exclude: [pytest-xdist]
//	    dependency-type: dev  # dev, runtime or all (default)
//	    update-types: [minor, patch]        # default all three
//	    cooldown: 7           # overrides the top-level one
//	ignore:
//	  - name: numpy
//	    versions: ">=2"       # default: every version
//
// Packages no group takes are a group of their own, named after the package; without any
// groups everything is one group named "all".
type Config struct {
	Schedule string   `yaml:"schedule" json:"schedule"`
	Mode     string   `yaml:"mode" json:"mode"`
	Cooldown int      `yaml:"cooldown" json:"cooldown"`
	Groups   []Group  `yaml:"groups" json:"groups,omitempty"`
	Ignore   []Ignore `yaml:"ignore" json:"ignore,omitempty"`
	// Dir is the project directory inside the repository (default ".").
	Dir string `yaml:"directory" json:"directory,omitempty"`
}

// Group gathers updates into one change.
type Group struct {
	Name           string   `yaml:"name" json:"name"`
	Patterns       []string `yaml:"patterns" json:"patterns,omitempty"`
	Exclude        []string `yaml:"exclude" json:"exclude,omitempty"`
	DependencyType string   `yaml:"dependency-type" json:"dependency_type,omitempty"`
	UpdateTypes    []string `yaml:"update-types" json:"update_types,omitempty"`
	Cooldown       *int     `yaml:"cooldown" json:"cooldown,omitempty"`
}

// Ignore keeps a package (or some of its versions) out of updates.
type Ignore struct {
	Name     string `yaml:"name" json:"name"`
	Versions string `yaml:"versions" json:"versions,omitempty"`
}

// DefaultGroup is the one group of a configuration that names none.
const DefaultGroup = "all"

var (
	groupNameRe = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	yamlLineRe  = lazyre.New(`line (\d+):? ?`)
)

// LoadConfig reads dir/.sluice/deps.yml; a missing file is the defaults.
func LoadConfig(dir string) (*Config, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigPath))
	if errors.Is(err, os.ErrNotExist) {
		return ParseConfig(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ConfigPath, err)
	}
	return ParseConfig(data)
}

// ParseConfig validates a deps.yml; errors name ConfigPath:line:col where YAML knows it.
func ParseConfig(data []byte) (*Config, error) {
	cfg := &Config{}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("%s: larger than 1 MiB", ConfigPath)
	}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = strings.TrimSpace(strings.TrimPrefix(msg, "unmarshal errors:\n"))
			if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
				return nil, fmt.Errorf("%s:%s:1: %s", ConfigPath, m[1], strings.TrimSpace(yamlLineRe.ReplaceAllString(msg, "")))
			}
			return nil, fmt.Errorf("%s: %s", ConfigPath, msg)
		}
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: "+format, append([]any{ConfigPath}, a...)...)
	}
	if cfg.Schedule == "" {
		cfg.Schedule = "weekly"
	}
	if _, err := cfg.Cron(); err != nil {
		return nil, err
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModePullRequest
	case ModePullRequest, ModeMerge, ModeBranch:
	default:
		return nil, bad("mode %q: use pull-request, merge or branch", cfg.Mode)
	}
	if cfg.Cooldown < 0 || cfg.Cooldown > 365 {
		return nil, bad("cooldown %d: days between 0 and 365", cfg.Cooldown)
	}
	if cfg.Dir == "" {
		cfg.Dir = "."
	}
	if c := filepath.Clean(cfg.Dir); filepath.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return nil, bad("directory %q must stay inside the repository", cfg.Dir)
	}
	seen := map[string]bool{}
	for i, g := range cfg.Groups {
		if !groupNameRe.MatchString(g.Name) {
			return nil, bad("groups[%d]: name %q: letters, digits, '.', '_' and '-' only (it names a branch)", i, g.Name)
		}
		if seen[g.Name] {
			return nil, bad("groups[%d]: name %q is used twice", i, g.Name)
		}
		seen[g.Name] = true
		for _, p := range append(append([]string{}, g.Patterns...), g.Exclude...) {
			if _, err := path.Match(p, "x"); err != nil {
				return nil, bad("group %s: pattern %q: %v", g.Name, p, err)
			}
		}
		switch g.DependencyType {
		case "", "all", "dev", "runtime":
		default:
			return nil, bad("group %s: dependency-type %q: use dev, runtime or all", g.Name, g.DependencyType)
		}
		for _, u := range g.UpdateTypes {
			if u != "major" && u != "minor" && u != "patch" {
				return nil, bad("group %s: update-types entry %q: use major, minor or patch", g.Name, u)
			}
		}
		if g.Cooldown != nil && (*g.Cooldown < 0 || *g.Cooldown > 365) {
			return nil, bad("group %s: cooldown %d: days between 0 and 365", g.Name, *g.Cooldown)
		}
	}
	for i, ig := range cfg.Ignore {
		if ig.Name == "" {
			return nil, bad("ignore[%d]: name is required", i)
		}
		if _, err := path.Match(ig.Name, "x"); err != nil {
			return nil, bad("ignore[%d]: name %q: %v", i, ig.Name, err)
		}
		if ig.Versions != "" {
			if _, err := python.SpecifierContains(ig.Versions, python.NewVersion(0, []int{0}, "", 0, -1, -1)); err != nil {
				return nil, bad("ignore %s: versions %q: %v", ig.Name, ig.Versions, err)
			}
		}
	}
	return cfg, nil
}

// Cron is the schedule as a cron line; nil for "off".
func (c *Config) Cron() (cron.Schedule, error) {
	spec := map[string]string{"daily": "0 5 * * *", "weekly": "0 5 * * 1", "monthly": "0 5 1 * *"}[c.Schedule]
	switch {
	case c.Schedule == "off":
		return nil, nil
	case spec == "":
		spec = c.Schedule
	}
	s, err := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow).Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: schedule %q: use daily, weekly, monthly, off or a cron line (%v)", ConfigPath, c.Schedule, err)
	}
	return s, nil
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(python.NormalizeName(p), name); ok {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(p), name); ok {
			return true
		}
	}
	return false
}

// GroupOf is the group an update of a package belongs to, and its cooldown in days.
func (c *Config) GroupOf(name string, dev bool, updateType string) (string, int) {
	if len(c.Groups) == 0 {
		return DefaultGroup, c.Cooldown
	}
	for _, g := range c.Groups {
		if len(g.Patterns) > 0 && !matchAny(g.Patterns, name) {
			continue
		}
		if matchAny(g.Exclude, name) {
			continue
		}
		if (g.DependencyType == "dev" && !dev) || (g.DependencyType == "runtime" && dev) {
			continue
		}
		if len(g.UpdateTypes) > 0 {
			ok := false
			for _, u := range g.UpdateTypes {
				ok = ok || u == updateType
			}
			if !ok {
				continue
			}
		}
		cool := c.Cooldown
		if g.Cooldown != nil {
			cool = *g.Cooldown
		}
		return g.Name, cool
	}
	return name, c.Cooldown
}

// Ignored reports whether version v of a package is kept out by the ignore list.
func (c *Config) Ignored(name, v string) bool {
	for _, ig := range c.Ignore {
		if !matchAny([]string{ig.Name}, name) {
			continue
		}
		if ig.Versions == "" {
			return true
		}
		pv, err := python.ParseVersion(v)
		if err != nil {
			return true
		}
		if ok, _ := python.SpecifierContains(ig.Versions, pv); ok {
			return true
		}
	}
	return false
}
