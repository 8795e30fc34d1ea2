package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The sandbox is built from an allow-list: bubblewrap starts from an empty
// root and only what is named here is mounted. The machine's system
// directories are read-only; the job's own roots are writable; nothing else
// of the machine exists inside, so sluice's data directory, keys, database,
// credentials and other jobs' workspaces are out of reach because they were
// never mounted, not because something was laid over them.
//
// The jail also has its own PID, IPC, UTS and user namespaces (so no other
// process, nor its /proc/<pid>/root or /environ, is visible), drops every
// capability, and dies with the process that started it.

// systemDirs are the top-level directories of the machine a job sees,
// read-only: programs, libraries and configuration.
var systemDirs = []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc"}

// masked are files of the system directories that hold the machine's own
// secrets (a job runs as the user sluice runs as, often root, so file
// permissions do not keep it out): they are covered with an empty file or
// directory. Covering costs one mount each, where mounting /etc entry by
// entry around them would cost a hundred and more, at every step.
var masked = []string{"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssl/private"}

// maskedGlobs are masked too: the machine's SSH host keys.
var maskedGlobs = []string{"/etc/ssh/ssh_host_*key"}

// ErrNoBubblewrap is returned when a sandbox is asked for and bwrap is missing.
var ErrNoBubblewrap = errors.New("--sandbox needs bubblewrap (bwrap) on PATH: install it with `apt-get install bubblewrap`")

// Policy is the machine-wide half of the sandbox, worked out once: where
// bwrap is, the read-only system mounts and the paths no mount may reach.
// It is immutable and shared by every job of an engine.
type Policy struct {
	bwrap  string
	system []string // bwrap arguments mounting the system directories
	// systemRoots are the system directories mounted whole: a read-only
	// path inside one needs no mount of its own.
	systemRoots []string
	deny        []string // cleaned absolute paths, symlinks resolved
	// readOnly are directories of tools the machine's owner offers every
	// job, read-only (sluice serve --sandbox-readonly).
	readOnly []string
	// helper is the program that runs HelperMain in a job's Jail; "" runs
	// every process in a jail of its own.
	helper string
}

// WithHelper returns the policy with helper as the program serving jobs'
// jails (see Jail); path is normally this program.
func (p *Policy) WithHelper(path string) *Policy {
	q := *p
	q.helper = path
	return &q
}

// Helper is the program serving jobs' jails, "" for none.
func (p *Policy) Helper() string { return p.helper }

// Bind mounts Src at Dst inside the jail.
type Bind struct {
	Src, Dst string
	ReadOnly bool
}

// Spec is one job's half of the sandbox.
type Spec struct {
	// Writable are the job's roots (workspace, runner temp, its own
	// environments and caches), bound read-write at their own paths.
	Writable []string
	// ReadOnly are more paths the job reads at their own paths:
	// interpreters, tools on PATH, an action's files, a checkout's source.
	// A missing one is left out.
	ReadOnly []string
	// Binds map a host directory to another path: the job's own home and
	// /tmp. They are mounted before Writable and ReadOnly, which may sit
	// inside them.
	Binds []Bind
}

// Sandbox is a prepared jail: the bwrap arguments that come before the
// command.
type Sandbox struct {
	args []string
}

// NewPolicy finds bwrap, checks that it can create the namespaces the jail
// needs here, and prepares the system mounts around deny: paths that must
// never be mounted (the data directory, keys, an agent's credential). It
// returns ErrNoBubblewrap when bwrap is missing and a *SandboxError saying
// why when it cannot run.
func NewPolicy(ctx context.Context, deny []string, readOnly ...string) (*Policy, error) {
	bw, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, ErrNoBubblewrap
	}
	p := &Policy{bwrap: bw, readOnly: readOnly}
	for _, d := range deny {
		if d == "" {
			continue
		}
		p.deny = append(p.deny, realPath(d))
	}
	sort.Strings(p.deny)
	if p.system, err = p.systemMounts(); err != nil {
		return nil, err
	}
	if err := p.probe(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// SandboxError says why bubblewrap cannot make a jail on this machine.
type SandboxError struct {
	Output string
	Err    error
}

func (e *SandboxError) Error() string {
	msg := "bubblewrap is installed but cannot create a sandbox here (it needs user namespaces, or to run as root): " + e.Err.Error()
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

func (e *SandboxError) Unwrap() error { return e.Err }

// probe runs `true` in the jail the policy builds, so that a machine
// without user namespaces is found at start, not at the first job.
func (p *Policy) probe(ctx context.Context) error {
	sb, err := p.Sandbox(Spec{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	argv := append(sb.Argv("/"), "true")
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if err := cmd.Run(); err != nil {
		return &SandboxError{Output: strings.TrimSpace(out.String()), Err: err}
	}
	return nil
}

// Denied says whether path is, or is inside, a path the policy never mounts.
func (p *Policy) Denied(path string) bool {
	_, ok := p.deniedBy(realPath(path))
	return ok
}

func (p *Policy) deniedBy(real string) (string, bool) {
	for _, d := range p.deny {
		if within(real, d) {
			return d, true
		}
	}
	return "", false
}

// holdsDenied returns a denied path inside dir (dir included).
func (p *Policy) holdsDenied(dir string) (string, bool) {
	for _, d := range p.deny {
		if within(d, dir) {
			return d, true
		}
	}
	return "", false
}

// systemMounts mounts each system directory read-only, recreating
// top-level symlinks (bin -> usr/bin) as they are. A directory holding a
// denied path is mounted entry by entry around it.
func (p *Policy) systemMounts() ([]string, error) {
	var args []string
	for _, name := range systemDirs {
		path := "/" + name
		fi, err := os.Lstat(path)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", path, err)
			}
			args = append(args, "--symlink", target, path)
			continue
		}
		if !fi.IsDir() {
			continue
		}
		a, err := p.mountAround(path)
		if err != nil {
			return nil, err
		}
		if _, holds := p.holdsDenied(path); !holds {
			p.systemRoots = append(p.systemRoots, path)
		}
		args = append(args, a...)
	}
	masks := append([]string(nil), masked...)
	for _, g := range maskedGlobs {
		m, _ := filepath.Glob(g)
		masks = append(masks, m...)
	}
	for _, m := range masks {
		fi, err := os.Lstat(m)
		switch {
		case err != nil:
		case fi.IsDir():
			args = append(args, "--tmpfs", m)
		default:
			args = append(args, "--ro-bind", os.DevNull, m)
		}
	}
	// A resolver configuration kept under /run (systemd-resolved) is
	// followed to its file, the only part of /run a job reads.
	if target, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && !within(target, "/etc") {
		if _, denied := p.deniedBy(target); !denied {
			args = append(args, "--ro-bind", target, target)
		}
	}
	return args, nil
}

// mountAround mounts dir read-only, or, when it holds a denied path, each
// of its entries but the one leading there, recursively.
func (p *Policy) mountAround(dir string) ([]string, error) {
	if _, ok := p.deniedBy(dir); ok {
		return nil, nil
	}
	if _, ok := p.holdsDenied(dir); !ok {
		return []string{"--ro-bind", dir, dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing %s for the sandbox: %w", dir, err)
	}
	args := []string{"--dir", dir}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if e.Type()&os.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				continue
			}
			if _, ok := p.deniedBy(realPath(path)); ok {
				continue
			}
			args = append(args, "--symlink", target, path)
			continue
		}
		if !e.IsDir() {
			if _, ok := p.deniedBy(path); ok {
				continue
			}
			args = append(args, "--ro-bind", path, path)
			continue
		}
		a, err := p.mountAround(path)
		if err != nil {
			return nil, err
		}
		args = append(args, a...)
	}
	return args, nil
}

// Sandbox prepares a job's jail. A writable or read-only root, or a bind,
// that is or holds a denied path is refused with an error naming both.
func (p *Policy) Sandbox(s Spec) (*Sandbox, error) {
	args := []string{p.bwrap,
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--die-with-parent", "--cap-drop", "ALL",
		"--dev", "/dev", "--proc", "/proc", "--ro-bind", "/sys", "/sys",
	}
	args = append(args, p.system...)
	check := func(path, what string) (string, error) {
		real := realPath(path)
		if d, ok := p.deniedBy(real); ok {
			return "", fmt.Errorf("sandbox: %s %s is inside %s, which jobs must never reach", what, path, d)
		}
		if d, ok := p.holdsDenied(real); ok {
			return "", fmt.Errorf("sandbox: %s %s holds %s, which jobs must never reach; keep sluice's data outside the job's directories", what, path, d)
		}
		return real, nil
	}
	hasTmp := false
	for _, b := range s.Binds {
		src, err := check(b.Src, "bind source")
		if err != nil {
			return nil, err
		}
		flag := "--bind"
		if b.ReadOnly {
			flag = "--ro-bind"
		}
		args = append(args, flag, src, b.Dst)
		if b.Dst == "/tmp" {
			hasTmp = true
		}
	}
	if !hasTmp {
		args = append(args, "--tmpfs", "/tmp")
	}
	// Parents before children, so that a root inside another is mounted
	// over it and not hidden by it. A read-only path that is missing, or
	// that is inside a denied path, is left out: it simply does not exist
	// in the jail. One that holds a denied path (a checkout's source
	// repository holding sluice's state) is mounted around it, as the
	// system directories are: the denied path does not exist in the jail.
	// Each mount costs time at every step, so a path already inside a
	// mounted one is not mounted again.
	writable := map[string]bool{}
	for _, w := range s.Writable {
		writable[filepath.Clean(w)] = true
	}
	mounted := append([]string(nil), p.systemRoots...)
	inside := func(path string) bool {
		for _, m := range mounted {
			if within(path, m) {
				return true
			}
		}
		return false
	}
	ro := append(append([]string(nil), s.ReadOnly...), p.readOnly...)
	for _, m := range sortedPaths(append(append([]string(nil), s.Writable...), ro...)) {
		if writable[m] {
			real, err := check(m, "writable root")
			if err != nil {
				return nil, err
			}
			args = append(args, "--bind", real, m)
			continue
		}
		if _, err := os.Stat(m); err != nil {
			continue
		}
		if inside(m) || inside(realPath(m)) {
			continue
		}
		real, err := check(m, "read-only path")
		if err != nil {
			if real := realPath(m); real == filepath.Clean(m) {
				if _, holds := p.holdsDenied(real); holds {
					if _, in := p.deniedBy(real); !in {
						around, err := p.mountAround(real)
						if err != nil {
							return nil, err
						}
						args = append(args, around...)
					}
				}
			}
			continue
		}
		mounted = append(mounted, m)
		args = append(args, "--ro-bind", real, m)
	}
	return &Sandbox{args: args}, nil
}

// Argv is the bwrap command line that runs a command in dir inside the jail.
func (s *Sandbox) Argv(dir string) []string {
	out := append([]string(nil), s.args...)
	if dir != "" {
		out = append(out, "--chdir", dir)
	}
	return append(out, "--")
}

func sortedPaths(ps []string) []string {
	out := make([]string, 0, len(ps))
	seen := map[string]bool{}
	for _, p := range ps {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := strings.Count(out[i], "/"), strings.Count(out[j], "/"); a != b {
			return a < b
		}
		return out[i] < out[j]
	})
	return out
}

// realPath is path made absolute with its symlinks resolved; a path that
// does not exist (yet) resolves its longest existing prefix.
func realPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	rest := ""
	for cur := abs; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(cur) == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

// within says whether path is dir or inside it (both clean and absolute).
func within(path, dir string) bool {
	if dir == "/" {
		return true
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// PolicyFor applies a --sandbox setting: "on" needs a working sandbox,
// "off" runs jobs without one, "auto" uses one when this machine can. note
// says plainly, for the start-up output, what jobs will and will not reach.
func PolicyFor(ctx context.Context, mode string, deny, readOnly []string) (p *Policy, note string, err error) {
	switch mode {
	case "off":
		return nil, "jobs run WITHOUT a sandbox (--sandbox off): " + unsandboxed, nil
	case "on", "auto":
	default:
		return nil, "", fmt.Errorf("--sandbox %q: use auto, on or off", mode)
	}
	p, err = NewPolicy(ctx, deny, readOnly...)
	if err == nil {
		if exe, err := os.Executable(); err == nil {
			p = p.WithHelper(exe)
		}
		return p, "jobs run in a bubblewrap sandbox: own PID, IPC, UTS and user namespaces, no capabilities, the system read-only, only the job's own directories writable, sluice's data never mounted", nil
	}
	if mode == "on" {
		return nil, "", err
	}
	return nil, "jobs run WITHOUT a sandbox: " + err.Error() + ". " + unsandboxed, nil
}

const unsandboxed = "a job's steps can then read and write everything this user can, including sluice's data directory, keys, database and other jobs' files, and see other processes. " +
	"Install bubblewrap (apt-get install bubblewrap) on a kernel with user namespaces, run untrusted jobs in containers (jobs.<id>.container), " +
	"or give them agents on machines of their own (README: Trust model)"
