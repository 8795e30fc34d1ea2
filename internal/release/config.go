package release

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// ConfigPath is where a repository configures `sluice bump`.
const ConfigPath = ".sluice/bump.yml"

// Config is .sluice/bump.yml:
//
//	tag-format: "v{version}"          # default; "{version}" for bare tags
//	version-files:                    # besides pyproject.toml and __version__, found by themselves
//	  - docs/conf.py:release          # PATH:NAME replaces the value assigned to NAME
//	  - README.md                     # PATH alone replaces the current version wherever it occurs
//	changelog: CHANGELOG.md           # default; false for none
//	major-version-zero: true          # 0.x: a breaking change moves the minor number
//	commit-url: "https://git.example.com/acme/app/commit/{sha}"  # default: from origin
type Config struct {
	TagFormat        string   `yaml:"tag-format"`
	VersionFiles     []string `yaml:"version-files"`
	Changelog        *string  `yaml:"changelog"`
	MajorVersionZero bool     `yaml:"major-version-zero"`
	CommitURL        string   `yaml:"commit-url"`
}

var yamlLineRe = lazyre.New(`line (\d+):? ?`)

// LoadConfig reads dir/.sluice/bump.yml; a missing file is the defaults.
func LoadConfig(dir string) (Config, error) {
	cfg := Config{TagFormat: "v{version}"}
	path := filepath.Join(dir, ConfigPath)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("reading %s: %w", ConfigPath, err)
	}
	if len(data) > 1<<20 {
		return cfg, fmt.Errorf("%s: larger than 1 MiB", ConfigPath)
	}
	// "changelog: false" is a boolean in YAML; read it as "no changelog".
	var raw map[string]any
	_ = yaml.Unmarshal(data, &raw)
	if v, ok := raw["changelog"].(bool); ok && !v {
		data = regexp.MustCompile(`(?m)^changelog:\s*false\s*$`).ReplaceAll(data, []byte(`changelog: ""`))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			msg = strings.TrimPrefix(yamlLineRe.ReplaceAllString(strings.TrimPrefix(msg, "yaml: "), ""), "unmarshal errors:\n")
			return cfg, fmt.Errorf("%s:%s:1: %s (see `sluice bump --help` for the keys)", ConfigPath, m[1], strings.TrimSpace(msg))
		}
		return cfg, fmt.Errorf("%s: %s", ConfigPath, msg)
	}
	if cfg.TagFormat == "" {
		cfg.TagFormat = "v{version}"
	}
	if !strings.Contains(cfg.TagFormat, "{version}") {
		return cfg, fmt.Errorf("%s: tag-format %q must contain {version}", ConfigPath, cfg.TagFormat)
	}
	for _, f := range cfg.VersionFiles {
		p, _, _ := strings.Cut(f, ":")
		if err := relPathOK(p); err != nil {
			return cfg, fmt.Errorf("%s: version-files entry %q: %w", ConfigPath, f, err)
		}
	}
	if cfg.Changelog != nil && *cfg.Changelog != "" {
		if err := relPathOK(*cfg.Changelog); err != nil {
			return cfg, fmt.Errorf("%s: changelog %q: %w", ConfigPath, *cfg.Changelog, err)
		}
	}
	return cfg, nil
}

// relPathOK refuses paths that leave the repository.
func relPathOK(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return errors.New("must be a path relative to the repository")
	}
	c := filepath.Clean(filepath.FromSlash(p))
	if c == ".." || strings.HasPrefix(c, ".."+string(filepath.Separator)) {
		return errors.New("must stay inside the repository")
	}
	return nil
}

// ChangelogFile is the changelog's path, "" when there is none.
func (c Config) ChangelogFile() string {
	if c.Changelog == nil {
		return "CHANGELOG.md"
	}
	return *c.Changelog
}

// Tag is the tag name of a version.
func (c Config) Tag(v string) string { return strings.ReplaceAll(c.TagFormat, "{version}", v) }

// VersionOfTag returns the version a tag names under the tag format, or false.
func (c Config) VersionOfTag(tag string) (string, bool) {
	pre, post, _ := strings.Cut(c.TagFormat, "{version}")
	if !strings.HasPrefix(tag, pre) || !strings.HasSuffix(tag, post) || len(tag) <= len(pre)+len(post) {
		return "", false
	}
	return tag[len(pre) : len(tag)-len(post)], true
}
