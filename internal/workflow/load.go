package workflow

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rhysd/actionlint"
)

// Load parses and lints one workflow file. root is the repository root, which actionlint needs
// to check local actions and local reusable workflows. Any lint error gives (nil, Errors).
func Load(ctx context.Context, root, path string) (*Workflow, error) {
	l, err := newLoader(root)
	if err != nil {
		return nil, err
	}
	w, errs, err := l.load(ctx, path)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return w, nil
}

// LoadAll loads one file, or every *.yml and *.yaml file directly inside a directory, sorted by
// file name. Problems from all files are gathered into one Errors.
func LoadAll(ctx context.Context, root, path string) ([]*Workflow, error) {
	files, err := workflowFiles(path)
	if err != nil {
		return nil, err
	}
	l, err := newLoader(root)
	if err != nil {
		return nil, err
	}
	var (
		all []*Workflow
		bad Errors
	)
	for _, f := range files {
		w, errs, err := l.load(ctx, f)
		if err != nil {
			return nil, err
		}
		bad = append(bad, errs...)
		if w != nil {
			all = append(all, w)
		}
	}
	if len(bad) > 0 {
		sortErrors(bad)
		return nil, bad
	}
	return all, nil
}

// Lint returns the problems in the given workflow files (or the workflow files directly in
// given directories); a clean file adds nothing. The error
// is for failures to lint at all (unreadable file, broken actionlint config).
func Lint(ctx context.Context, root string, paths []string) (Errors, error) {
	l, err := newLoader(root)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, p := range paths {
		fs, err := workflowFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, fs...)
	}
	var bad Errors
	for _, p := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading workflow %s: %w", p, err)
		}
		errs, err := l.lint(p, src)
		if err != nil {
			return nil, err
		}
		bad = append(bad, errs...)
	}
	sortErrors(bad)
	return bad, nil
}

// workflowFiles lists path itself when it is a file, or the workflow files directly in it.
func workflowFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("finding workflows: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path) // sorted by file name
	if err != nil {
		return nil, fmt.Errorf("listing workflows in %s: %w", path, err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
			continue
		}
		files = append(files, filepath.Join(path, name))
	}
	return files, nil
}

// loader holds one actionlint linter configured for a repository.
type loader struct {
	root    string // absolute
	project *actionlint.Project
	linter  *actionlint.Linter
}

func newLoader(root string) (*loader, error) {
	if root == "" {
		root = "."
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving repository root %s: %w", root, err)
	}
	// NewProject reads the repository's own .github/actionlint.yaml, so users keep their config.
	project, err := actionlint.NewProject(abs)
	if err != nil {
		return nil, fmt.Errorf("reading actionlint config in %s: %w", abs, err)
	}
	linter, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{
		// Shellcheck and Pyflakes stay empty: those executables are not part of our contract.
		WorkingDir:     abs,
		OnRulesCreated: acceptAnyRunnerLabel,
	})
	if err != nil {
		return nil, fmt.Errorf("setting up actionlint: %w", err)
	}
	return &loader{root: abs, project: project, linter: linter}, nil
}

func (l *loader) load(ctx context.Context, path string) (*Workflow, Errors, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading workflow %s: %w", path, err)
	}
	errs, err := l.lint(path, src)
	if err != nil {
		return nil, nil, err
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	w, err := parse(l.displayPath(path), src)
	if err != nil {
		return nil, nil, err
	}
	return w, nil, nil
}

// parse builds a Workflow from source that linted clean.
func parse(display string, src []byte) (*Workflow, error) {
	ast, perrs := actionlint.Parse(src)
	if len(perrs) > 0 || ast == nil {
		// Unreachable after a clean lint, which parses the same bytes; kept so a caller can
		// never get a nil AST.
		return nil, fromActionlint(display, perrs)
	}
	typeMatrixScalars(ast, src)
	return &Workflow{Path: display, Source: src, AST: ast}, nil
}

func (l *loader) lint(path string, src []byte) (Errors, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	errs, err := l.linter.Lint(abs, src, l.project)
	if err != nil {
		return nil, fmt.Errorf("linting %s: %w", path, err)
	}
	kept := errs[:0]
	for _, e := range errs {
		if !runnerAccepts(e) {
			kept = append(kept, e)
		}
	}
	out := fromActionlint(l.displayPath(path), kept)
	sortErrors(out)
	return out, nil
}

// runnerAccepts reports lint findings that GitHub's runner itself accepts
// when it runs a workflow, so refusing the run for them would break
// workflows that work on GitHub: a local action's metadata without a
// description is one (only Marketplace listing needs it).
func runnerAccepts(e *actionlint.Error) bool {
	return e.Kind == "action" && strings.Contains(e.Message, "description is required in metadata")
}

// displayPath is path relative to the repository root, or path as given when it lies outside.
func (l *loader) displayPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(l.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return filepath.ToSlash(rel)
}

// acceptAnyRunnerLabel keeps actionlint's runner-label rule (it still catches conflicting OS
// labels) but accepts every label: sluice runs jobs on the host whatever runs-on names, and
// self-hosted labels are the user's business.
func acceptAnyRunnerLabel(rules []actionlint.Rule) []actionlint.Rule {
	for i, r := range rules {
		if rl, ok := r.(*actionlint.RuleRunnerLabel); ok {
			w := &anyLabelRule{RuleRunnerLabel: rl}
			w.SetConfig(nil)
			rules[i] = w
		}
	}
	return rules
}

// anyLabelRule adds match-everything label patterns to whatever config the repository has.
// The patterns are path.Match globs, where "*" stops at "/", hence the second pattern.
type anyLabelRule struct {
	*actionlint.RuleRunnerLabel
}

func (r *anyLabelRule) SetConfig(cfg *actionlint.Config) {
	merged := &actionlint.Config{}
	if cfg != nil {
		c := *cfg
		merged = &c
	}
	merged.SelfHostedRunner.Labels = append([]string{"*", "*/*", "*/*/*"}, merged.SelfHostedRunner.Labels...)
	r.RuleRunnerLabel.SetConfig(merged)
}

// Parse reads a workflow that was already validated (a server planning a
// run whose files passed Load) without linting it again.
func Parse(display string, src []byte) (*Workflow, error) {
	return parse(display, src)
}
