package actions

import (
	"context"
	"strings"

	"github.com/sluice-ci/sluice/internal/roots"
)

// StepContext is what a native action knows about the step it runs in.
type StepContext struct {
	Workspace string
	Temp      string
	// JobDir is the job's own directory, writable by its processes and gone when it ends:
	// setup-python makes the job's copies of interpreters there.
	JobDir      string
	ToolCache   string
	StateDir    string // sluice's state directory (caches, environments)
	ArtifactDir string // where run artifacts are kept (a server's, for its agents)
	RunID       string
	Repository  string // owner/name
	// RepoIdentity, BaseRef (a pull request's base branch) and
	// DefaultBranch scope caches (see cache.Scopes).
	RepoIdentity  string
	BaseRef       string
	DefaultBranch func() string // asked only by actions that need it
	RepoRoot      string        // the user's repository, source of checkouts
	CloneSource   string        // where checkouts fetch from when not RepoRoot
	SHA           string
	Ref           string
	WorkingTree   bool              // checkouts overlay uncommitted changes
	JobKey        string            // stable identity of this job leg across runs
	EnvReuse      bool              // Python environments may be kept between runs
	Env           map[string]string // the environment a process of this step would get
	Cache         CacheBackend      // where actions/cache keeps entries; nil: a store under StateDir
	// Roots are the job's directories: every path a native action reads or
	// writes for the job must resolve inside them (after symlinks).
	Roots roots.Set
	// Contained is true when the job runs in a sandbox: what natives start
	// for it (containers) is held to the same boundary.
	Contained bool
	// ToolEnv is the environment for processes sluice runs for itself
	// (installing its own uv): the machine's, nothing of the job's.
	ToolEnv []string
}

// Step is the engine's side of a native action: logging, runner-file
// effects and processes, all as a `run:` step would have them.
type Step interface {
	Context() StepContext
	Log(line string)
	Warn(msg string)
	Debug(msg string)
	SetEnv(name, value string) // as through GITHUB_ENV: later steps see it
	AddPath(dir string)        // as through GITHUB_PATH
	AddMask(secret string)
	// Exec runs a process with the step's environment plus extra, its
	// output logged as the step's; it returns the exit code.
	Exec(ctx context.Context, argv []string, dir string, extra map[string]string) (int, error)
	// Output runs a process for the job as Exec does and returns its
	// standard output; readOnly are more paths it may read in the job's
	// sandbox for this process only (a checkout's source). A failure's
	// error holds the end of its standard error.
	Output(ctx context.Context, argv []string, dir string, readOnly []string) (string, error)
	// AddPost registers work to run after the job's steps (in reverse order
	// of registration), the way an action's `post:` does.
	AddPost(p Post)
	// PythonEnvs are the job's Python environments: setup actions make
	// theirs through it, so a kept one can stand in.
	PythonEnvs() PythonEnvs
	// RecordVersion notes a tool version the job ran with (python, pip, uv).
	RecordVersion(tool, version string)
	// AddRoot lets the job's later processes use dir: writable (the job's
	// own environment) or read-only (an interpreter, a tool). Under a
	// sandbox nothing else outside the job's directories is reachable.
	AddRoot(dir string, writable bool)
}

// Post is an action's post step.
type Post struct {
	Name string
	// Always runs it even when the job failed; otherwise only on success.
	Always bool
	Run    func(ctx context.Context, s Step) error
}

// Native is an action implemented in Go. It returns the step's outputs.
type Native func(ctx context.Context, s Step, with map[string]string) (map[string]string, error)

// LookupNative returns the implementation of owner/repo[/path], matched
// case-insensitively and whatever the ref.
func LookupNative(name string) (Native, bool) {
	n, ok := natives()[strings.ToLower(name)]
	return n, ok
}

// natives are the actions sluice implements itself, by lower-case owner/repo[/path].
func natives() map[string]Native {
	return map[string]Native{
		"actions/checkout":              Checkout,
		"actions/setup-python":          SetupPython,
		"astral-sh/setup-uv":            SetupUV,
		"actions/cache":                 Cache,
		"actions/cache/restore":         CacheRestore,
		"actions/cache/save":            CacheSave,
		"actions/upload-artifact":       UploadArtifact,
		"actions/upload-artifact/merge": MergeArtifacts,
		"actions/download-artifact":     DownloadArtifact,
		"pypa/gh-action-pypi-publish":   PypiPublish,
		"sluice-ci/lock-check":          LockCheck,
		"sluice/build-image":            BuildImage,
		"sluice/push-image":             PushImage,
		"sluice/deploy-container":       DeployContainer,
	}
}

// isNative says whether sluice implements owner/repo itself.
func isNative(name string) bool {
	_, ok := LookupNative(name)
	return ok
}
