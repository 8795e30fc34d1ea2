package workflow

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v3"
)

// Load parses and lints one workflow file. root is the repository root, which actionlint needs
// to check local actions and local reusable workflows. A finding GitHub refuses the workflow for
// gives (nil, Errors); warnings are kept in the Workflow.
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

// LoadSource is Load for a workflow read from elsewhere (a reusable workflow fetched from
// another repository): path is where it sits under root, display how errors name it.
func LoadSource(ctx context.Context, root, path, display string, src []byte) (*Workflow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l, err := newLoader(root)
	if err != nil {
		return nil, err
	}
	w, errs, err := l.loadBytes(path, src)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		e.File = display
	}
	if len(errs) > 0 {
		return nil, errs
	}
	w.Path = display
	for _, e := range w.Warnings {
		e.File = display
	}
	return w, nil
}

// Invalid is a workflow file GitHub would refuse to run, with every refusal in it. Like GitHub,
// sluice fails such a file on its own and runs the other workflows of the push.
type Invalid struct {
	Path   string // as the user should see it
	Errors Errors // refusals first-to-last; warnings are left out
}

// LoadAll loads one file, or every *.yml and *.yaml file directly inside a directory, sorted by
// file name. Files with refusals come back as Invalid, next to the workflows that loaded; the
// error is for failures to read or lint at all.
func LoadAll(ctx context.Context, root, path string) ([]*Workflow, []Invalid, error) {
	files, err := workflowFiles(path)
	if err != nil {
		return nil, nil, err
	}
	l, err := newLoader(root)
	if err != nil {
		return nil, nil, err
	}
	var (
		all []*Workflow
		bad []Invalid
	)
	for _, f := range files {
		w, errs, err := l.load(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		if len(errs) > 0 {
			bad = append(bad, Invalid{Path: errs[0].File, Errors: errs})
			continue
		}
		all = append(all, w)
	}
	return all, bad, nil
}

// LintOptions adds checks to Lint that need more than the files.
type LintOptions struct {
	// Uses, when set, is asked whether each `uses:` can be resolved, as `sluice run` asks
	// before it starts.
	Uses UsesChecker
}

// Lint returns every finding, refusals and warnings, in the given workflow files (or the
// workflow files directly in given directories); a clean file adds nothing. The error is for
// failures to lint at all (unreadable file, broken actionlint config).
func Lint(ctx context.Context, root string, paths []string, opts LintOptions) (Errors, error) {
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
	var all Errors
	for _, p := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		src, err := readWorkflow(p)
		if err != nil {
			return nil, err
		}
		errs, ast, _, err := l.check(p, src)
		if err != nil {
			return nil, err
		}
		all = append(all, errs...)
		if opts.Uses != nil && ast != nil {
			uses, err := usesFindings(ctx, l.displayPath(p), ast, opts.Uses)
			if err != nil {
				return nil, err
			}
			all = append(all, uses...)
		}
	}
	sortErrors(all)
	return all, nil
}

// readWorkflow reads a workflow file, refusing to read more than a workflow may hold.
func readWorkflow(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading workflow %s: %w", path, err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading workflow %s: %w", path, err)
	}
	return src, nil
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
	src, err := readWorkflow(path)
	if err != nil {
		return nil, nil, err
	}
	return l.loadBytes(path, src)
}

func (l *loader) loadBytes(path string, src []byte) (*Workflow, Errors, error) {
	errs, ast, doc, err := l.check(path, src)
	if err != nil {
		return nil, nil, err
	}
	refusals, warnings := errs.Split()
	if len(refusals) > 0 {
		return nil, refusals, nil
	}
	if ast == nil {
		// Unreachable: a file actionlint could not parse has a syntax-check refusal.
		return nil, nil, fmt.Errorf("parsing %s: no workflow", path)
	}
	typeMatrixScalars(ast, doc)
	return &Workflow{Path: l.displayPath(path), Source: src, AST: ast, Warnings: warnings}, nil, nil
}

// parse builds a Workflow from source that was validated before (a server planning a run of a
// file that loaded). The limits are checked again: the bytes may come from anywhere.
func parse(display string, src []byte) (*Workflow, error) {
	doc, lerr := checkLimits(display, src)
	if lerr != nil {
		return nil, Errors{lerr}
	}
	ast, perrs := actionlint.Parse(src)
	refusals, _ := fromActionlint(display, perrs).Split()
	if len(refusals) > 0 {
		return nil, refusals
	}
	if ast == nil {
		return nil, fmt.Errorf("parsing %s: no workflow", display)
	}
	typeMatrixScalars(ast, doc)
	return &Workflow{Path: display, Source: src, AST: ast}, nil
}

// check gives every finding for one file and, when actionlint could parse it, its syntax tree
// and YAML document. A broken limit stops everything else: nothing walks an alias bomb.
func (l *loader) check(path string, src []byte) (Errors, *actionlint.Workflow, *yaml.Node, error) {
	display := l.displayPath(path)
	doc, lerr := checkLimits(display, src)
	if lerr != nil {
		return Errors{lerr}, nil, nil, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	lerrs, err := l.linter.Lint(abs, src, l.project)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("linting %s: %w", path, err)
	}
	kept := lerrs[:0]
	for _, e := range lerrs {
		if !runnerAccepts(e) {
			kept = append(kept, e)
		}
	}
	out := fromActionlint(display, kept)
	ast, _ := actionlint.Parse(src)
	if doc != nil {
		out = append(out, expressionLimits(display, doc)...)
	}
	if ast != nil {
		out = append(out, matrixLimits(display, ast)...)
		out = append(out, eventWarningsOf(display, ast)...)
	}
	sortErrors(out)
	return out, ast, doc, nil
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
// run whose files passed Load) without linting it again; YAML limits still apply.
func Parse(display string, src []byte) (*Workflow, error) {
	return parse(display, src)
}
