package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/sluice-ci/sluice/internal/fslock"
)

// maxSlots bounds how many runs of one job leg get a slot of their own at
// once; more concurrent runs get one-off directories (and nothing kept).
const maxSlots = 16

// jobSlot is where one job leg runs: the same directories on every run of
// the leg (as GitHub's runner reuses _work/REPO/REPO), so the absolute paths
// that installs write into its Python environments (scripts' shebangs,
// editable installs) stay right from one run to the next. A concurrent run
// of the same leg takes the next slot.
type jobSlot struct {
	name            string // stable name, keys the kept environments
	root            string // everything of the job: removed at its end
	workspace, temp string
	envs            string // the job's own Python environments
	unlock          func()
}

// RepoIdentity is what keeps one repository's state apart from another's:
// the server's repository id, or for `sluice run` the origin remote's URL,
// else the repository's absolute path.
func (e *Engine) repoIdentity() string {
	if e.opts.RepoIdentity != "" {
		return e.opts.RepoIdentity
	}
	if e.opts.RepoRoot != "" {
		if abs, err := filepath.Abs(e.opts.RepoRoot); err == nil {
			return "path:" + abs
		}
	}
	return "name:" + e.opts.Run.Repository
}

// slotBase names a job leg's slots: the state directory, the repository
// identity, whether the run is from a fork, the workflow and the leg.
func (e *Engine) slotBase(jr *jobRun) string {
	fork := ""
	if e.opts.Run.Fork {
		fork = "fork"
	}
	sum := sha256.Sum256([]byte(e.opts.StateDir + "\x00" + e.repoIdentity() + "\x00" + fork + "\x00" + jr.wr.wf.Path + "\x00" + jr.name))
	return hex.EncodeToString(sum[:8])
}

// jobSlot takes the first free slot of the leg and makes its directories
// afresh (whatever a kept run left there goes).
func (e *Engine) jobSlot(jr *jobRun) (*jobSlot, error) {
	locks := filepath.Join(e.opts.WorkRoot, ".locks")
	if err := os.MkdirAll(locks, 0o755); err != nil {
		return nil, fmt.Errorf("creating job directory: %w", err)
	}
	base := e.slotBase(jr)
	s := &jobSlot{unlock: func() {}}
	for n := 0; n < maxSlots; n++ {
		name := fmt.Sprintf("%s-%d", base, n)
		unlock, ok, err := fslock.TryLock(filepath.Join(locks, name+".lock"))
		if err != nil {
			return nil, fmt.Errorf("locking job directory: %w", err)
		}
		if ok {
			s.name, s.unlock = name, unlock
			break
		}
	}
	if s.name == "" {
		s.name = base + "-x" + randomName()
	}
	s.root = filepath.Join(e.opts.WorkRoot, s.name)
	s.workspace = filepath.Join(s.root, "work", filepath.Base(e.opts.Run.Repository))
	s.temp = filepath.Join(s.root, "temp")
	s.envs = filepath.Join(s.root, "envs")
	if err := os.RemoveAll(s.root); err != nil {
		s.unlock()
		return nil, fmt.Errorf("clearing job directory: %w", err)
	}
	dirs := []string{s.workspace, s.temp, filepath.Join(s.temp, "_runner_file_commands"), s.envs}
	if e.opts.ToolCache != "" {
		dirs = append(dirs, e.opts.ToolCache)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.unlock()
			return nil, fmt.Errorf("creating job directory: %w", err)
		}
	}
	return s, nil
}

// baseRef is a pull request's base branch, from the event.
func (e *Engine) baseRef() string {
	if pr, ok := e.opts.Run.Payload["pull_request"].(map[string]any); ok {
		if b, ok := pr["base"].(map[string]any); ok {
			if s, ok := b["ref"].(string); ok {
				return s
			}
		}
	}
	return ""
}

// defaultBranch is the repository's default branch: the event's, else the
// one the engine was given, else main.
func (e *Engine) defaultBranch() string {
	if r, ok := e.opts.Run.Payload["repository"].(map[string]any); ok {
		if s, ok := r["default_branch"].(string); ok && s != "" {
			return s
		}
	}
	if e.opts.DefaultBranch != nil {
		if b := e.opts.DefaultBranch(); b != "" {
			return b
		}
	}
	if e.opts.Run.DefaultBranch != "" {
		return e.opts.Run.DefaultBranch
	}
	return "main"
}

// discard removes an ended job's directory. Removing a job's few directories
// takes a millisecond or two of the disk's time, which the next job of a chain
// would wait for: the directory is moved aside at once (the slot is free for
// the next run) and removed in the background, and Run and RunJob wait for
// that before they return. Where it cannot be moved it is removed here.
func (e *Engine) discard(dir string) {
	trash := filepath.Join(e.opts.WorkRoot, ".trash")
	if err := os.MkdirAll(trash, 0o755); err == nil {
		moved := filepath.Join(trash, filepath.Base(dir)+"-"+randomName())
		if err := os.Rename(dir, moved); err == nil {
			e.remove(moved)
			return
		}
	}
	_ = os.RemoveAll(dir)
}

// clearTrash removes, in the background, what a process that ended before its
// removals did left in the trash (see discard).
func (e *Engine) clearTrash() {
	if e.opts.WorkRoot == "" {
		return
	}
	e.trash.Go(func() {
		trash := filepath.Join(e.opts.WorkRoot, ".trash")
		des, err := os.ReadDir(trash)
		if err != nil {
			return
		}
		for _, d := range des {
			e.remove(filepath.Join(trash, d.Name()))
		}
	})
}

// remove removes dir, moved into the trash, in the background.
func (e *Engine) remove(dir string) {
	if e.opts.DetachRemovals {
		e.trashMu.Lock()
		e.removing = append(e.removing, dir)
		e.trashMu.Unlock()
	}
	e.trash.Go(func() { _ = os.RemoveAll(dir) })
}

// settleTrash runs as Run and RunJob return: it waits for the background removals, or,
// with DetachRemovals, hands them to a detached `rm` that outlives this process (the
// removals under way here end with it). Where that cannot start, it waits.
func (e *Engine) settleTrash() {
	if !e.opts.DetachRemovals {
		e.trash.Wait()
		return
	}
	e.trashMu.Lock()
	dirs := slices.Clone(e.removing)
	e.trashMu.Unlock()
	if len(dirs) == 0 {
		e.trash.Wait()
		return
	}
	rm, err := exec.LookPath("rm")
	if err != nil {
		e.trash.Wait()
		return
	}
	// Only paths this engine moved into its own trash directory, after "--": nothing of a
	// workflow's reaches this command line.
	cmd := exec.Command(rm, append([]string{"-rf", "--"}, dirs...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		e.trash.Wait()
		return
	}
	_ = cmd.Process.Release()
}
