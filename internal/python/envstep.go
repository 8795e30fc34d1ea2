package python

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Command is a `run:` step's script as sluice will start it.
type Command struct {
	Script    string            // the body, expressions already substituted
	Shell     string            // the step's shell ("" is bash)
	Dir       string            // absolute working directory
	Workspace string            // the job's workspace
	Env       map[string]string // the process environment the step gets
	// Managed says whether an absolute path lies in one of the job's own
	// environments or its workspace: only installs into those can be kept.
	Managed func(path string) bool
}

// StepInputs is everything an environment-changing step reads, by name,
// so that a changed input can be named in the log. Two steps with equal
// Values, applied to equal environments, install the same thing, except
// where the index decides (Index, with the names Pinned does not fix).
type StepInputs struct {
	Values map[string]string `json:"values"`
	// Pinned are the distributions the inputs fix to one version.
	Pinned map[string]bool `json:"pinned,omitempty"`
	// Named are the distributions the step names itself (its top-level
	// requirements); an upgrade re-checks them even when nothing changed.
	Named []string `json:"named,omitempty"`
	// Upgrade says the step upgrades what it names (-U); UpgradeAll that it
	// re-resolves everything in the environment (uv's -U, eager strategy).
	Upgrade    bool `json:"upgrade,omitempty"`
	UpgradeAll bool `json:"upgrade_all,omitempty"`
	// Index is where unpinned distributions come from.
	Index IndexSpec `json:"index"`
	// Locks are the lock files (workspace-relative) a sync installs from:
	// while the step leaves them unchanged, the lock alone decides what is
	// installed.
	Locks []string `json:"locks,omitempty"`
	// Query is true when the step only prints (versions, lists); Echo when
	// it does not even read the environment (echo, printf, set -e).
	Query bool `json:"query,omitempty"`
	Echo  bool `json:"echo,omitempty"`
	// Targets are the environment directories the step writes.
	Targets []string `json:"-"`
}

// Key hashes the inputs: equal keys, equal inputs.
func (s StepInputs) Key() string {
	h := sha256.New()
	io.WriteString(h, "sluice-step-v2\n")
	for _, k := range sortedKeysOf(s.Values) {
		fmt.Fprintf(h, "%s\x00%s\n", k, s.Values[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Changed names the inputs that differ between two steps' inputs, for the
// log: "file c.txt", "env PIP_CONSTRAINT", "command".
func Changed(old, new map[string]string) []string {
	var out []string
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			out = append(out, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeysOf[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// errNotInstall marks a script that is not (only) an install sluice reads.
type errNotInstall struct{ why string }

func (e errNotInstall) Error() string { return e.why }

func notInstall(format string, args ...any) error {
	return errNotInstall{fmt.Sprintf(format, args...)}
}

// NotInstall reports whether err only says the script is not a recognised
// install (as opposed to a failure reading its inputs).
func NotInstall(err error) bool {
	var e errNotInstall
	return errors.As(err, &e)
}

// volatileEnv are variables the runner sets per run or per step that no
// installer reads; everything else in a step's environment is an input.
func volatileEnv(name string) bool {
	return strings.HasPrefix(name, "GITHUB_") || strings.HasPrefix(name, "RUNNER_") ||
		strings.HasPrefix(name, "ACTIONS_") || name == "PYTEST_ADDOPTS" || name == "CI" ||
		name == "SLUICE_RUN_ID"
}

// Recognize reads a script whose every command is an install into one of
// the job's environments (pip, uv pip, uv sync, poetry, pdm, pip-sync,
// uv venv, python -m venv), a version query or a shell option, and returns
// everything those commands read: the script, shell, working directory,
// environment, every requirements, constraints, project, lock and
// configuration file, local projects' trees, the tools outside the job's
// environments. Anything else returns an error for which NotInstall is
// true, saying why; a file it cannot read returns another error.
func Recognize(c Command) (StepInputs, error) {
	r := &recognizer{c: c, in: StepInputs{Values: map[string]string{}, Pinned: map[string]bool{}}, seen: map[string]bool{}}
	switch c.Shell {
	case "", "bash", "sh", "/bin/bash", "/bin/sh", "/usr/bin/bash":
	default:
		return StepInputs{}, notInstall("shell %s", c.Shell)
	}
	script, err := r.fileConditions(c.Script)
	if err != nil {
		return StepInputs{}, err
	}
	cmds, err := splitScript(script)
	if err != nil {
		return StepInputs{}, err
	}
	if len(cmds) == 0 {
		return StepInputs{}, notInstall("empty script")
	}
	r.in.Values["command"] = strings.TrimSpace(c.Script)
	r.in.Values["shell"] = firstNonEmptyStr(c.Shell, "bash")
	rel, err := filepath.Rel(c.Workspace, c.Dir)
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		rel = c.Dir
	}
	r.in.Values["dir"] = filepath.ToSlash(rel)
	for k, v := range c.Env {
		if !volatileEnv(k) {
			r.in.Values["env "+k] = v
		}
	}
	installs, reads := 0, 0
	for _, words := range cmds {
		env := c.Env
		copied := false
		// NAME=value before the command sets it for that command.
		for len(words) > 0 && envAssignRe.MatchString(words[0]) {
			if !copied {
				env, copied = copyEnv(c.Env), true
			}
			k, v, _ := strings.Cut(words[0], "=")
			env[k] = v
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		inst, err := r.command(words, env)
		if err != nil {
			return StepInputs{}, err
		}
		switch {
		case inst:
			installs++
		case !echoCommand(words):
			reads++
		}
	}
	r.in.Query = installs == 0
	r.in.Echo = installs == 0 && reads == 0
	sort.Strings(r.in.Named)
	sort.Strings(r.in.Locks)
	return r.in, nil
}

var envAssignRe = lazyre.New(`^[A-Za-z_][A-Za-z0-9_]*=`)

func copyEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func firstNonEmptyStr(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

var (
	ifFileOneLine = lazyre.New(`^if \[ -f ("?)([^"\s$]+)("?) \]; then (.+?);? fi$`)
	ifFileOpen    = lazyre.New(`^if \[ -f ("?)([^"\s$]+)("?) \]; then$`)
)

// fileConditions reads the one shell condition GitHub's starter workflow
// puts around installs, `if [ -f requirements.txt ]; then ...; fi` (on one
// line or around a block): the file's presence is an input and the body
// stays only when it exists.
func (r *recognizer) fileConditions(script string) (string, error) {
	lines := strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n")
	var out []string
	keep, in := true, false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if m := ifFileOneLine.FindStringSubmatch(t); m != nil && m[1] == m[3] && !in {
			if strings.Contains(m[4], ";") {
				return "", notInstall("shell features beyond if [ -f FILE ]; then COMMAND; fi")
			}
			ok, err := r.exists(m[2])
			if err != nil {
				return "", err
			}
			if ok {
				out = append(out, m[4])
			}
			continue
		}
		if m := ifFileOpen.FindStringSubmatch(t); m != nil && m[1] == m[3] && !in {
			ok, err := r.exists(m[2])
			if err != nil {
				return "", err
			}
			keep, in = ok, true
			continue
		}
		if in && t == "fi" {
			keep, in = true, false
			continue
		}
		if in && (t == "else" || strings.HasPrefix(t, "elif ")) {
			return "", notInstall("shell conditions beyond if [ -f FILE ]")
		}
		if keep {
			out = append(out, l)
		}
	}
	if in {
		return "", notInstall("if without fi")
	}
	return strings.Join(out, "\n"), nil
}

// exists records whether a file is there, as an input.
func (r *recognizer) exists(p string) (bool, error) {
	path := r.abs(p)
	fi, err := os.Stat(path)
	ok := err == nil && fi.Mode().IsRegular()
	r.in.Values["exists "+r.rel(path)] = fmt.Sprint(ok)
	return ok, nil
}

// splitScript splits a script into commands: lines (with backslash
// continuations joined), each split at top-level "&&". Comments and blank
// lines are dropped; anything a shell would give another meaning (pipes,
// redirections, expansions, ";") is refused.
func splitScript(s string) ([][]string, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, part := range splitAndAnd(line) {
			words, err := splitWords(part)
			if err != nil {
				return nil, notInstall("%q: %v", part, err)
			}
			if len(words) > 0 {
				out = append(out, words)
			}
		}
	}
	return out, nil
}

// splitAndAnd splits a line at "&&" outside quotes.
func splitAndAnd(line string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				i++
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '\\':
			i++
		case c == '&' && i+1 < len(line) && line[i+1] == '&':
			parts = append(parts, strings.TrimSpace(line[start:i]))
			start = i + 2
			i++
		}
	}
	return append(parts, strings.TrimSpace(line[start:]))
}

type recognizer struct {
	c    Command
	in   StepInputs
	seen map[string]bool // requirements files read
	// confIndex is the index-url pip's configuration files set (the
	// last file that sets it wins).
	confIndex string
}

// PipIndexURL is the index pip takes packages from in env: PIP_INDEX_URL,
// else the index-url of pip's configuration files (a machine's mirror),
// else PyPI.
func PipIndexURL(env map[string]string) string {
	if v := env["PIP_INDEX_URL"]; v != "" {
		return v
	}
	r := &recognizer{c: Command{Dir: "/", Workspace: "/"}, in: StepInputs{Values: map[string]string{}}}
	r.pipConfig(env)
	if r.confIndex != "" {
		return r.confIndex
	}
	return DefaultIndex
}

func (r *recognizer) lookPath(name string, env map[string]string) string {
	if strings.Contains(name, "/") {
		if filepath.IsAbs(name) {
			return name
		}
		return filepath.Join(r.c.Dir, name)
	}
	for _, d := range filepath.SplitList(env["PATH"]) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
		// A job environment whose making is deferred is not on disk yet,
		// but every one has its interpreter and pip.
		if filepath.Base(d) == "bin" && r.managed(d) && (pythonNameRe.MatchString(name) || pipNameRe.MatchString(name)) {
			if _, err := os.Stat(filepath.Dir(d)); errors.Is(err, fs.ErrNotExist) {
				return p
			}
		}
	}
	return ""
}

func (r *recognizer) managed(p string) bool {
	return r.c.Managed != nil && p != "" && r.c.Managed(filepath.Clean(p))
}

// tool records an installer outside the job's environments by where it is
// and what it is (size and modification time stand for its bytes).
func (r *recognizer) tool(name, path string) {
	if path == "" {
		r.in.Values["tool "+name] = "absent"
		return
	}
	if r.managed(path) {
		return // the environment's own: decided by the steps before
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	fi, err := os.Stat(real)
	if err != nil {
		r.in.Values["tool "+name] = "absent"
		return
	}
	r.in.Values["tool "+name] = fmt.Sprintf("%s %d %d", real, fi.Size(), fi.ModTime().UnixNano())
}

var (
	pythonNameRe = lazyre.New(`^(python(\d+(\.\d+)?t?)?|pypy3(\.\d+)?)$`)
	pipNameRe    = lazyre.New(`^pip(\d+(\.\d+)?)?$`)
)

// command reads one command; inst says it installs (not only queries).
func (r *recognizer) command(w []string, env map[string]string) (inst bool, err error) {
	base := filepath.Base(w[0])
	switch {
	case base == "set" && allFlags(w[1:]):
		return false, nil // set -e, set -euxo pipefail
	case base == "echo" || base == "printf" || base == "true" || base == ":":
		return false, nil
	case base == "which" || base == "type":
		return false, nil
	case pythonNameRe.MatchString(base):
		py := r.lookPath(w[0], env)
		if len(w) == 2 && (w[1] == "-V" || w[1] == "-VV" || w[1] == "--version") {
			return false, nil
		}
		if len(w) >= 3 && w[1] == "-m" {
			switch w[2] {
			case "pip":
				return r.pip(py, w[3:], env)
			case "venv", "virtualenv":
				return true, r.makeVenv(w[3:], env, "python -m "+w[2], py)
			case "uv":
				return r.command(w[2:], env)
			}
		}
		return false, notInstall("%s runs Python code", strings.Join(w, " "))
	case pipNameRe.MatchString(base):
		return r.pip(r.lookPath(w[0], env), w[1:], env)
	case base == "uv":
		uv := r.lookPath(w[0], env)
		r.tool("uv", uv)
		return r.uv(w[1:], env)
	case base == "pip-sync":
		p := r.lookPath(w[0], env)
		if !r.managed(p) {
			return false, notInstall("pip-sync outside the job's environment")
		}
		return true, r.pipSync(w[1:], env)
	case base == "poetry" && len(w) >= 2 && w[1] == "install":
		r.tool("poetry", r.lookPath(w[0], env))
		return true, r.lockSync(w[2:], env, "poetry.lock", []string{"poetry.toml"})
	case base == "pdm" && len(w) >= 2 && (w[1] == "install" || w[1] == "sync"):
		r.tool("pdm", r.lookPath(w[0], env))
		return true, r.lockSync(w[2:], env, "pdm.lock", []string{"pdm.toml", ".pdm-python"})
	case (base == "poetry" || base == "pdm") && len(w) == 2 && w[1] == "--version":
		return false, nil
	}
	return false, notInstall("%s is not an install", base)
}

// echoCommand is a command that neither reads nor writes an environment.
func echoCommand(w []string) bool {
	switch filepath.Base(w[0]) {
	case "echo", "printf", "true", ":":
		return true
	case "set":
		return allFlags(w[1:])
	}
	return false
}

func (r *recognizer) addTarget(dir string) {
	if dir != "" {
		r.in.Targets = appendUnique(r.in.Targets, filepath.Clean(dir))
	}
}

// venvOf is the environment a python or pip executable in its bin/ belongs to.
func venvOf(exe string) string { return filepath.Dir(filepath.Dir(exe)) }

func allFlags(ws []string) bool {
	for i, w := range ws {
		if !strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "+") && !(i > 0 && ws[i-1] == "-o") {
			return false
		}
	}
	return true
}

// pip reads `pip ARGS` run by the pip (or python) at path.
func (r *recognizer) pip(path string, args []string, env map[string]string) (bool, error) {
	if len(args) == 0 {
		return false, notInstall("pip without a command")
	}
	switch args[0] {
	case "--version", "-V", "list", "freeze", "show", "check", "config", "debug", "cache", "inspect":
		if args[0] == "cache" && len(args) > 1 && args[1] != "dir" && args[1] != "info" && args[1] != "list" {
			return false, notInstall("pip cache %s changes the cache", args[1])
		}
		return false, nil
	case "install":
	default:
		return false, notInstall("pip %s is not an install", args[0])
	}
	if !r.managed(path) {
		return false, notInstall("pip %s installs outside the job's environment", path)
	}
	r.addTarget(venvOf(path))
	r.pipConfig(env)
	if v := env["PIP_CONSTRAINT"]; v != "" {
		for _, f := range strings.Fields(v) {
			if err := r.reqFile(r.abs(f), true); err != nil {
				return false, err
			}
		}
	}
	if v := env["PIP_REQUIREMENT"]; v != "" {
		for _, f := range strings.Fields(v) {
			if err := r.reqFile(r.abs(f), false); err != nil {
				return false, err
			}
		}
	}
	if truthy(env["PIP_UPGRADE"]) {
		r.in.Upgrade = true
	}
	if env["PIP_UPGRADE_STRATEGY"] == "eager" {
		r.in.UpgradeAll = true
	}
	r.indexEnv(env, "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX")
	return true, r.installArgs(args[1:], false)
}

// installArgs reads `pip install` / `uv pip install` arguments.
func (r *recognizer) installArgs(args []string, uv bool) error {
	value := func(i *int, a string, names ...string) (string, bool) {
		for _, n := range names {
			switch {
			case a == n:
				if *i+1 < len(args) {
					*i++
					return args[*i], true
				}
				return "", false
			case strings.HasPrefix(n, "--") && strings.HasPrefix(a, n+"="):
				return a[len(n)+1:], true
			case !strings.HasPrefix(n, "--") && strings.HasPrefix(a, n) && len(a) > len(n):
				return a[len(n):], true
			}
		}
		return "", false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := value(&i, a, "--requirement", "-r"); ok {
			if err := r.reqFile(r.abs(v), false); err != nil {
				return err
			}
			continue
		}
		if v, ok := value(&i, a, "--constraint", "-c", "--override", "--build-constraint", "-b"); ok {
			if err := r.reqFile(r.abs(v), true); err != nil {
				return err
			}
			continue
		}
		if v, ok := value(&i, a, "--editable", "-e"); ok {
			if err := r.target(r.c.Dir, v, true); err != nil {
				return err
			}
			continue
		}
		if v, ok := value(&i, a, "--index-url", "-i", "--default-index"); ok {
			r.in.Index.URLs = append([]string{v}, r.in.Index.URLs...)
			continue
		}
		if v, ok := value(&i, a, "--extra-index-url", "--index"); ok {
			if _, u, ok := strings.Cut(v, "="); ok && !strings.Contains(v[:strings.Index(v, "=")], "/") {
				v = u // uv's --index name=url
			}
			r.in.Index.URLs = append(r.in.Index.URLs, v)
			continue
		}
		if v, ok := value(&i, a, "--find-links", "-f"); ok {
			r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(v))
			continue
		}
		if v, ok := value(&i, a, "--group"); ok {
			if err := r.group(v); err != nil {
				return err
			}
			continue
		}
		if v, ok := value(&i, a, "--upgrade-strategy"); ok {
			if v == "eager" {
				r.in.UpgradeAll = true
			}
			continue
		}
		switch {
		case a == "--no-index" || a == "--offline":
			r.in.Index.NoIndex = true
		case a == "-U" || a == "--upgrade":
			r.in.Upgrade = true
			if uv {
				r.in.UpgradeAll = true
			}
		case a == "-P" || a == "--upgrade-package":
			r.in.Upgrade = true
			i++
		case a == "--user" || a == "--system" || a == "--break-system-packages":
			return notInstall("install %s is outside the job's environment", a)
		case a == "--target" || a == "-t" || a == "--prefix" || a == "--root" || a == "--python" || a == "-p" ||
			strings.HasPrefix(a, "--target=") || strings.HasPrefix(a, "--prefix=") || strings.HasPrefix(a, "--root=") || strings.HasPrefix(a, "--python="):
			return notInstall("install %s: sluice keeps only the job's own environment", a)
		case pipValueOpts[a]:
			i++
		case strings.HasPrefix(a, "-"):
		default:
			if err := r.target(r.c.Dir, a, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// pip options that take a value, spelled as separate words.
var pipValueOpts = map[string]bool{
	"--only-binary": true, "--no-binary": true, "--src": true, "--progress-bar": true, "--log": true,
	"--cache-dir": true, "--trusted-host": true, "--timeout": true, "--retries": true,
	"--index-strategy": true, "--keyring-provider": true, "--config-settings": true, "-C": true,
	"--resolution": true, "--prerelease": true, "--exclude-newer": true, "--python-platform": true,
	"--platform": true, "--implementation": true, "--abi": true, "--python-version": true,
	"--report": true, "--link-mode": true, "--compile-bytecode": false, "--exists-action": true,
	"--global-option": true, "--install-option": true, "--cert": true, "--client-cert": true,
	"--proxy": true, "--root-user-action": true, "--extra": true, "--config-setting": true,
}

func (r *recognizer) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(r.c.Dir, p)
}

func (r *recognizer) absLink(p string) string {
	if strings.Contains(p, "://") {
		return p
	}
	return r.abs(p)
}

// rel names a path for the inputs: workspace-relative when inside it.
func (r *recognizer) rel(p string) string {
	if rel, err := filepath.Rel(r.c.Workspace, p); err == nil && (filepath.IsLocal(rel) || rel == ".") {
		return filepath.ToSlash(rel)
	}
	return p
}

// file records a file's bytes (or its absence) as an input.
func (r *recognizer) file(p string) error {
	d, err := fileDigest(p)
	if err != nil {
		return err
	}
	r.in.Values["file "+r.rel(p)] = d
	return nil
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return "absent", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	if fi.IsDir() {
		return "directory", nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reqFile reads a requirements or constraints file and what it includes.
func (r *recognizer) reqFile(path string, constraints bool) error {
	path = filepath.Clean(path)
	if err := r.file(path); err != nil {
		return err
	}
	if r.seen[path] {
		return nil
	}
	r.seen[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading requirements file %s: %w", r.rel(path), err)
	}
	dir := filepath.Dir(path)
	for _, line := range logicalLines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		first := fields[0]
		arg := func(names ...string) (string, bool) {
			for _, n := range names {
				switch {
				case first == n:
					if len(fields) > 1 {
						return fields[1], true
					}
				case strings.HasPrefix(n, "--") && strings.HasPrefix(first, n+"="):
					return first[len(n)+1:], true
				case !strings.HasPrefix(n, "--") && strings.HasPrefix(first, n) && len(first) > len(n) && !strings.HasPrefix(first, "--"):
					return first[len(n):], true
				}
			}
			return "", false
		}
		if v, ok := arg("--requirement", "-r"); ok {
			if err := r.reqFile(join(dir, v), constraints); err != nil {
				return err
			}
			continue
		}
		if v, ok := arg("--constraint", "-c"); ok {
			if err := r.reqFile(join(dir, v), true); err != nil {
				return err
			}
			continue
		}
		if v, ok := arg("--editable", "-e"); ok {
			// pip resolves a relative editable path against the working
			// directory, not the file's.
			if err := r.target(r.c.Dir, v, true); err != nil {
				return err
			}
			continue
		}
		if v, ok := arg("--index-url", "-i"); ok {
			r.in.Index.URLs = append([]string{v}, r.in.Index.URLs...)
			continue
		}
		if v, ok := arg("--extra-index-url"); ok {
			r.in.Index.URLs = append(r.in.Index.URLs, v)
			continue
		}
		if v, ok := arg("--find-links", "-f"); ok {
			r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(v))
			continue
		}
		if first == "--no-index" {
			r.in.Index.NoIndex = true
			continue
		}
		if strings.HasPrefix(first, "-") {
			continue // other options: their bytes are already an input
		}
		req := line
		if i := strings.Index(req, " --"); i >= 0 {
			req = req[:i] // per-requirement options such as --hash
		}
		req = strings.TrimSpace(req)
		if constraints {
			if rq, err := parseRequirement(req); err == nil {
				if rq.URL != "" {
					return notInstall("constraint %q is a URL", req)
				}
				if rq.pinned() {
					r.in.Pinned[rq.Name] = true
				}
			}
			continue
		}
		if err := r.target(r.c.Dir, req, false); err != nil {
			return err
		}
	}
	return nil
}

func join(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// target reads one thing to install: a local project or archive, or a
// requirement on the index.
func (r *recognizer) target(base, t string, editable bool) error {
	t = strings.TrimSpace(t)
	if p, ok := strings.CutPrefix(t, "file://"); ok {
		t = p
	}
	switch {
	case strings.Contains(t, "://") || strings.HasPrefix(t, "git+") || strings.Contains(t, " @ ") || strings.Contains(t, "@ "):
		return notInstall("%q is fetched from a URL, whose contents can change", t)
	case isLocalPath(base, t):
		p, _, _ := strings.Cut(t, "[")
		p = join(base, p)
		fi, err := os.Stat(p)
		switch {
		case err != nil || !fi.IsDir():
			return r.file(p) // a wheel or sdist; a missing one is recorded absent
		default:
			return r.project(p, editable)
		}
	}
	rq, err := parseRequirement(t)
	if err != nil {
		return notInstall("cannot read requirement %q", t)
	}
	if rq.URL != "" {
		return notInstall("%q is fetched from a URL, whose contents can change", t)
	}
	r.in.Named = appendUnique(r.in.Named, rq.Name)
	if rq.pinned() {
		r.in.Pinned[rq.Name] = true
	}
	return nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func isLocalPath(base, t string) bool {
	if strings.HasPrefix(t, ".") || strings.HasPrefix(t, "/") || strings.Contains(strings.SplitN(t, "[", 2)[0], "/") {
		return true
	}
	if strings.HasSuffix(t, ".whl") || strings.HasSuffix(t, ".tar.gz") || strings.HasSuffix(t, ".zip") {
		return true
	}
	_, err := os.Stat(filepath.Join(base, t))
	return err == nil && !strings.ContainsAny(t, "=<>!~;")
}

// group reads pip's --group [PATH:]NAME: the dependency group of a
// pyproject.toml.
func (r *recognizer) group(v string) error {
	path := "pyproject.toml"
	name := v
	if i := strings.LastIndex(v, ":"); i >= 0 {
		path, name = v[:i], v[i+1:]
	}
	p := r.abs(path)
	if err := r.file(p); err != nil {
		return err
	}
	pp, err := readTOML(p)
	if err != nil {
		return notInstall("reading %s: %v", r.rel(p), err)
	}
	groups, err := pyprojectGroups(pp)
	if err != nil {
		return notInstall("%s: %v", r.rel(p), err)
	}
	for _, d := range groups[normName(name)] {
		if err := r.target(filepath.Dir(p), d, false); err != nil {
			return err
		}
	}
	return nil
}

// pipSync reads pip-sync / uv pip sync: fully pinned files.
func (r *recognizer) pipSync(args []string, env map[string]string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--python" || a == "-p" || strings.HasPrefix(a, "--python=") || a == "--system":
			return notInstall("sync %s: sluice keeps only the job's own environment", a)
		case a == "-i" || a == "--index-url" || a == "--default-index":
			if i+1 < len(args) {
				i++
				r.in.Index.URLs = append([]string{args[i]}, r.in.Index.URLs...)
			}
		case a == "--extra-index-url" || a == "--index":
			if i+1 < len(args) {
				i++
				r.in.Index.URLs = append(r.in.Index.URLs, args[i])
			}
		case a == "-f" || a == "--find-links":
			if i+1 < len(args) {
				i++
				r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(args[i]))
			}
		case pipValueOpts[a]:
			i++
		case strings.HasPrefix(a, "-"):
		default:
			p := r.abs(a)
			if err := r.reqFile(p, false); err != nil {
				return err
			}
			r.in.Locks = appendUnique(r.in.Locks, r.rel(p))
		}
	}
	return nil
}

// uv reads a uv command.
func (r *recognizer) uv(args []string, env map[string]string) (bool, error) {
	if len(args) == 0 {
		return false, notInstall("uv without a command")
	}
	r.uvConfig(env)
	r.indexEnv(env, "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX")
	r.indexEnv(env, "UV_DEFAULT_INDEX", "UV_INDEX", "", "UV_OFFLINE")
	for _, k := range []string{"UV_CONSTRAINT", "UV_OVERRIDE", "UV_BUILD_CONSTRAINT"} {
		for _, f := range strings.Fields(env[k]) {
			if err := r.reqFile(r.abs(f), true); err != nil {
				return false, err
			}
		}
	}
	switch {
	case args[0] == "--version" || args[0] == "-V" || args[0] == "version" && len(args) == 1:
		return false, nil
	case args[0] == "pip" && len(args) >= 2 && (args[1] == "list" || args[1] == "freeze" || args[1] == "show" || args[1] == "check"):
		return false, nil
	case args[0] == "pip" && len(args) >= 2 && (args[1] == "install" || args[1] == "sync"):
		target, err := r.uvTarget(args[2:], env)
		if err != nil {
			return false, err
		}
		if !r.managed(target) {
			return false, notInstall("uv pip %s installs outside the job's environment", args[1])
		}
		if fi, err := os.Stat(target); err == nil && !fi.IsDir() {
			target = venvOf(target)
		}
		r.addTarget(target)
		if truthy(env["UV_UPGRADE"]) {
			r.in.Upgrade, r.in.UpgradeAll = true, true
		}
		if args[1] == "sync" {
			return true, r.pipSync(args[2:], env)
		}
		return true, r.installArgs(args[2:], true)
	case args[0] == "sync":
		return true, r.uvSync(args[1:], env)
	case args[0] == "venv":
		return true, r.makeVenv(args[1:], env, "uv venv", "")
	}
	return false, notInstall("uv %s is not an install", args[0])
}

// uvTarget is the environment `uv pip` acts on: --python, else the active
// VIRTUAL_ENV, else a .venv in the working directory or above.
func (r *recognizer) uvTarget(args []string, env map[string]string) (string, error) {
	for i, a := range args {
		if a == "--system" {
			return "", notInstall("uv pip --system installs outside the job's environment")
		}
		if (a == "--python" || a == "-p") && i+1 < len(args) {
			return r.lookPath(args[i+1], env), nil
		}
		if v, ok := strings.CutPrefix(a, "--python="); ok {
			return r.lookPath(v, env), nil
		}
	}
	if v := env["VIRTUAL_ENV"]; v != "" {
		return v, nil
	}
	for d := r.c.Dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".venv", "pyvenv.cfg")); err == nil {
			return filepath.Join(d, ".venv"), nil
		}
		if d == r.c.Workspace || d == filepath.Dir(d) {
			break
		}
	}
	return "", notInstall("uv pip without a virtual environment")
}

// uvSync reads `uv sync`: the project (and its workspace members) and
// uv.lock decide what is installed, into the project's environment.
func (r *recognizer) uvSync(args []string, env map[string]string) error {
	projectDir := r.c.Dir
	active := false
	var upgrade, frozen bool
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--project" || a == "--directory":
			if i+1 < len(args) {
				i++
				projectDir = r.abs(args[i])
			}
		case strings.HasPrefix(a, "--project=") || strings.HasPrefix(a, "--directory="):
			_, v, _ := strings.Cut(a, "=")
			projectDir = r.abs(v)
		case a == "--active":
			active = true
		case a == "-U" || a == "--upgrade" || a == "-P" || strings.HasPrefix(a, "--upgrade-package"):
			upgrade = true
		case a == "--frozen" || a == "--locked":
			frozen = true
		case a == "--python" || a == "-p" || strings.HasPrefix(a, "--python="):
			if a == "--python" || a == "-p" {
				i++
			}
		case a == "--index-url" || a == "--default-index" || a == "--extra-index-url" || a == "--index" || a == "-f" || a == "--find-links":
			if i+1 < len(args) {
				i++
				if a == "-f" || a == "--find-links" {
					r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(args[i]))
				} else {
					v := args[i]
					if name, u, ok := strings.Cut(v, "="); ok && !strings.Contains(name, "/") {
						v = u
					}
					r.in.Index.URLs = append(r.in.Index.URLs, v)
				}
			}
		case a == "--no-index" || a == "--offline":
			r.in.Index.NoIndex = true
		}
	}
	_ = frozen
	root := findProjectRoot(projectDir, r.c.Workspace)
	if root == "" {
		return notInstall("uv sync: no pyproject.toml in %s or above", r.rel(projectDir))
	}
	envDir := filepath.Join(root, ".venv")
	if v := env["UV_PROJECT_ENVIRONMENT"]; v != "" {
		envDir = join(root, v)
	}
	if active || truthy(env["UV_ACTIVE"]) {
		envDir = env["VIRTUAL_ENV"]
	}
	if !r.managed(envDir) {
		return notInstall("uv sync installs into %s, outside the job's environment", envDir)
	}
	r.addTarget(envDir)
	if upgrade || truthy(env["UV_UPGRADE"]) {
		r.in.Upgrade, r.in.UpgradeAll = true, true
	}
	// uv picks its interpreter from these; the machine's uv-managed
	// Pythons are listed by name.
	for d := projectDir; ; d = filepath.Dir(d) {
		if err := r.file(filepath.Join(d, ".python-version")); err != nil {
			return err
		}
		if d == r.c.Workspace || d == filepath.Dir(d) || !strings.HasPrefix(d, r.c.Workspace) {
			break
		}
	}
	r.uvPythons(env)
	lock := filepath.Join(root, "uv.lock")
	if err := r.file(lock); err != nil {
		return err
	}
	r.in.Locks = appendUnique(r.in.Locks, r.rel(lock))
	if err := r.project(root, true); err != nil {
		return err
	}
	// Workspace members and path dependencies installed from the lock.
	if data, err := os.ReadFile(lock); err == nil {
		for _, m := range uvLocalSourceRe.FindAllStringSubmatch(string(data), -1) {
			p := filepath.Join(root, filepath.FromSlash(m[2]))
			if p == root {
				continue
			}
			if err := r.project(p, m[1] == "editable"); err != nil {
				return err
			}
		}
		for _, m := range uvRegistryRe.FindAllStringSubmatch(string(data), -1) {
			r.in.Index.URLs = appendUnique(r.in.Index.URLs, m[1])
		}
	}
	return nil
}

var (
	uvLocalSourceRe = lazyre.New(`source\s*=\s*\{\s*(editable|directory|virtual)\s*=\s*"([^"]+)"`)
	uvRegistryRe    = lazyre.New(`source\s*=\s*\{\s*registry\s*=\s*"([^"]+)"`)
)

// uvPythons records the uv-managed interpreters on the machine by name:
// installing another may change which one uv picks.
func (r *recognizer) uvPythons(env map[string]string) {
	_, dir := ManagedDirs(env["HOME"], func(k string) string { return env[k] })
	if dir == "" {
		dir = filepath.Join("uv", "python")
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	r.in.Values["pythons "+dir] = strings.Join(names, " ")
}

func findProjectRoot(dir, workspace string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "pyproject.toml")); err == nil {
			return d
		}
		if d == workspace || d == filepath.Dir(d) {
			return ""
		}
	}
}

// lockSync reads poetry install / pdm install|sync: the project, its lock
// and the tool's project configuration.
func (r *recognizer) lockSync(args []string, env map[string]string, lock string, config []string) error {
	projectDir := r.c.Dir
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-U" || a == "--update" || a == "--upgrade":
			r.in.Upgrade, r.in.UpgradeAll = true, true
		case a == "-C" || a == "--directory" || a == "-p" || a == "--project":
			if i+1 < len(args) {
				i++
				projectDir = r.abs(args[i])
			}
		case strings.HasPrefix(a, "--directory=") || strings.HasPrefix(a, "--project="):
			_, v, _ := strings.Cut(a, "=")
			projectDir = r.abs(v)
		}
	}
	venv := env["VIRTUAL_ENV"]
	if venv == "" || !r.managed(venv) {
		venv = filepath.Join(projectDir, ".venv")
		if _, err := os.Stat(venv); err != nil || !r.managed(venv) {
			return notInstall("%s installs into an environment outside the job's own (set up Python first)", strings.TrimSuffix(lock, ".lock"))
		}
	}
	r.addTarget(venv)
	lp := filepath.Join(projectDir, lock)
	if err := r.file(lp); err != nil {
		return err
	}
	r.in.Locks = appendUnique(r.in.Locks, r.rel(lp))
	for _, c := range config {
		if err := r.file(filepath.Join(projectDir, c)); err != nil {
			return err
		}
	}
	home := env["HOME"]
	for _, p := range []string{filepath.Join(home, ".config", "pypoetry", "config.toml"), filepath.Join(home, ".config", "pdm", "config.toml")} {
		if err := r.file(p); err != nil {
			return err
		}
	}
	if err := r.project(projectDir, true); err != nil {
		return err
	}
	if data, err := os.ReadFile(lp); err == nil {
		for _, m := range lockPathRe.FindAllStringSubmatch(string(data), -1) {
			p := join(projectDir, m[1])
			if fi, err := os.Stat(p); err == nil && fi.IsDir() {
				if err := r.project(p, true); err != nil {
					return err
				}
			}
		}
		for _, m := range lockURLRe.FindAllStringSubmatch(string(data), -1) {
			if strings.HasPrefix(m[1], "http") {
				r.in.Index.URLs = appendUnique(r.in.Index.URLs, m[1])
			}
		}
	}
	if pp, err := readTOML(filepath.Join(projectDir, "pyproject.toml")); err == nil {
		for _, s := range tablesOf(dig(pp, "tool", "poetry", "source")) {
			if u, _ := s["url"].(string); u != "" {
				r.in.Index.URLs = appendUnique(r.in.Index.URLs, u)
			}
		}
		for _, s := range tablesOf(dig(pp, "tool", "pdm", "source")) {
			if u, _ := s["url"].(string); u != "" {
				r.in.Index.URLs = appendUnique(r.in.Index.URLs, u)
			}
		}
	}
	if v := env["PDM_PYPI_URL"]; v != "" {
		r.in.Index.URLs = appendUnique(r.in.Index.URLs, v)
	}
	return nil
}

var (
	lockPathRe = lazyre.New(`(?m)^\s*(?:path|url)\s*=\s*"((?:\.|/)[^"]*)"`)
	lockURLRe  = lazyre.New(`(?m)^\s*url\s*=\s*"([^"]+)"`)
)

// makeVenv reads `uv venv [PATH]` / `python -m venv PATH`.
func (r *recognizer) makeVenv(args []string, env map[string]string, what, python string) error {
	path := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--python" || a == "-p" || a == "--prompt":
			if i+1 < len(args) {
				i++
				if a != "--prompt" {
					r.tool("python", r.lookPath(args[i], env))
					r.in.Values["venv python"] = args[i]
				}
			}
		case strings.HasPrefix(a, "-"):
		default:
			if path == "" {
				path = a
			}
		}
	}
	if path == "" {
		if what != "uv venv" {
			return notInstall("%s without a path", what)
		}
		path = firstNonEmptyStr(env["UV_PROJECT_ENVIRONMENT"], ".venv")
	}
	p := r.abs(path)
	if !r.managed(p) {
		return notInstall("%s %s is outside the job's environment", what, path)
	}
	r.addTarget(p)
	if python != "" {
		r.tool("python", python)
	} else {
		r.uvPythons(env)
		if err := r.file(filepath.Join(r.c.Dir, ".python-version")); err != nil {
			return err
		}
	}
	return nil
}

// indexEnv reads the index variables of one tool's environment.
func (r *recognizer) indexEnv(env map[string]string, primary, extra, findLinks, noIndex string) {
	if v := env[primary]; v != "" {
		r.in.Index.URLs = append([]string{v}, r.in.Index.URLs...)
	}
	if extra != "" {
		for _, u := range strings.Fields(env[extra]) {
			if name, url, ok := strings.Cut(u, "="); ok && !strings.Contains(name, "/") {
				u = url
			}
			r.in.Index.URLs = append(r.in.Index.URLs, u)
		}
	}
	if findLinks != "" {
		for _, l := range strings.FieldsFunc(env[findLinks], func(c rune) bool { return c == ' ' || c == ',' }) {
			r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(l))
		}
	}
	if noIndex != "" && truthy(env[noIndex]) {
		r.in.Index.NoIndex = true
	}
}

func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// pipConfig records pip's configuration files and takes their index
// settings (global and install sections; later files win, as in pip).
func (r *recognizer) pipConfig(env map[string]string) {
	var files []string
	if cf := env["PIP_CONFIG_FILE"]; cf == os.DevNull {
		r.in.Values["pip config"] = "none"
	} else {
		files = append(files, "/etc/xdg/pip/pip.conf", "/etc/pip.conf")
		if home := env["HOME"]; home != "" {
			files = append(files, filepath.Join(home, ".pip", "pip.conf"))
		}
		if x := env["XDG_CONFIG_HOME"]; x != "" {
			files = append(files, filepath.Join(x, "pip", "pip.conf"))
		} else if home := env["HOME"]; home != "" {
			files = append(files, filepath.Join(home, ".config", "pip", "pip.conf"))
		}
		if v := env["VIRTUAL_ENV"]; v != "" {
			files = append(files, filepath.Join(v, "pip.conf"))
		}
		if cf != "" {
			files = append(files, r.abs(cf))
		}
	}
	for _, f := range files {
		d, err := fileDigest(f)
		if err != nil {
			d = "unreadable"
		}
		r.in.Values["file "+r.rel(f)] = d
		if d == "absent" || d == "unreadable" {
			continue
		}
		r.readPipConf(f)
	}
}

var iniLineRe = lazyre.New(`^\s*([A-Za-z0-9_-]+)\s*[=:]\s*(.*)$`)

func (r *recognizer) readPipConf(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	section := ""
	key := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
			continue
		}
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			section = strings.ToLower(strings.Trim(t, "[]"))
			key = ""
			continue
		}
		if section != "global" && section != "install" {
			continue
		}
		var vals []string
		if m := iniLineRe.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			key = strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))
			vals = strings.Fields(m[2])
		} else {
			vals = strings.Fields(t) // a continuation line
		}
		switch key {
		case "index-url", "i":
			if len(vals) > 0 {
				r.confIndex = vals[0]
				r.in.Index.URLs = append([]string{vals[0]}, r.in.Index.URLs...)
			}
		case "extra-index-url":
			r.in.Index.URLs = append(r.in.Index.URLs, vals...)
		case "find-links", "f":
			for _, v := range vals {
				r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(v))
			}
		case "no-index":
			if len(vals) > 0 && truthy(vals[0]) {
				r.in.Index.NoIndex = true
			}
		}
	}
}

// uvConfig records uv's configuration files; an index configured there is
// read from uv.toml or pyproject.toml's [tool.uv].
func (r *recognizer) uvConfig(env map[string]string) {
	if truthy(env["UV_NO_CONFIG"]) {
		r.in.Values["uv config"] = "none"
		return
	}
	var files []string
	if cf := env["UV_CONFIG_FILE"]; cf != "" {
		files = append(files, r.abs(cf))
	} else {
		files = append(files, "/etc/xdg/uv/uv.toml", "/etc/uv/uv.toml")
		if x := env["XDG_CONFIG_HOME"]; x != "" {
			files = append(files, filepath.Join(x, "uv", "uv.toml"))
		} else if home := env["HOME"]; home != "" {
			files = append(files, filepath.Join(home, ".config", "uv", "uv.toml"))
		}
		for d := r.c.Dir; ; d = filepath.Dir(d) {
			files = append(files, filepath.Join(d, "uv.toml"), filepath.Join(d, "pyproject.toml"))
			if d == r.c.Workspace || d == filepath.Dir(d) || !strings.HasPrefix(d, r.c.Workspace) {
				break
			}
		}
	}
	for _, f := range files {
		d, err := fileDigest(f)
		if err != nil {
			d = "unreadable"
		}
		r.in.Values["file "+r.rel(f)] = d
		if d == "absent" || d == "unreadable" {
			continue
		}
		doc, err := readTOML(f)
		if err != nil {
			continue
		}
		t := doc
		if filepath.Base(f) == "pyproject.toml" {
			t = asMap(dig(doc, "tool", "uv"))
		}
		if u, _ := t["index-url"].(string); u != "" {
			r.in.Index.URLs = append([]string{u}, r.in.Index.URLs...)
		}
		r.in.Index.URLs = append(r.in.Index.URLs, asStrings(t["extra-index-url"])...)
		for _, ix := range tablesOf(t["index"]) {
			if u, _ := ix["url"].(string); u != "" {
				r.in.Index.URLs = append(r.in.Index.URLs, u)
			}
		}
		for _, l := range asStrings(t["find-links"]) {
			r.in.Index.FindLinks = append(r.in.Index.FindLinks, r.absLink(l))
		}
		if b, _ := t["no-index"].(bool); b {
			r.in.Index.NoIndex = true
		}
	}
}

// project reads a local project an install builds. Its metadata files are
// inputs. An editable install of a project whose metadata is static
// (pyproject.toml's [project] with nothing dynamic, no setup.py, no in-tree
// backend) points at the source, so only which files exist matters (a
// build backend maps packages by their files); any other install copies or
// computes from the source, so the whole tree's bytes are an input, and
// the git description too (versions from tags).
func (r *recognizer) project(dir string, editable bool) error {
	dir = filepath.Clean(dir)
	if rel, err := filepath.Rel(r.c.Workspace, dir); err != nil || (!filepath.IsLocal(rel) && rel != ".") {
		return notInstall("local project %s is outside the workspace", dir)
	}
	name := r.rel(dir)
	for _, f := range []string{"pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in"} {
		if err := r.file(filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	static := false
	if pp, err := readTOML(filepath.Join(dir, "pyproject.toml")); err == nil {
		proj := asMap(pp["project"])
		_, setupPy := os.Stat(filepath.Join(dir, "setup.py"))
		static = proj != nil && proj["version"] != nil && len(asStrings(proj["dynamic"])) == 0 &&
			setupPy != nil && dig(pp, "build-system", "backend-path") == nil && pointsAtSource(pp, dir)
		for _, key := range []string{"readme", "license"} {
			switch v := proj[key].(type) {
			case string:
				if key == "readme" {
					if err := r.file(filepath.Join(dir, v)); err != nil {
						return err
					}
				}
			case map[string]any:
				if f, _ := v["file"].(string); f != "" {
					if err := r.file(filepath.Join(dir, f)); err != nil {
						return err
					}
				}
			}
		}
		for _, f := range asStrings(proj["license-files"]) {
			r.in.Values["license-files "+name] += f + " "
		}
	}
	if editable && static {
		d, err := treeDigest(dir, false)
		if err != nil {
			return err
		}
		r.in.Values["names "+name] = d
		return nil
	}
	d, err := treeDigest(dir, true)
	if err != nil {
		return err
	}
	r.in.Values["tree "+name] = d
	r.in.Values["git "+name] = gitDescribe(dir)
	return nil
}

// pointsAtSource says whether the project's build backend makes an
// editable install that points at the source (a path entry or a finder over
// its files) without building anything from it. Backends that compile in
// editable mode (scikit-build-core, meson-python, maturin), build hooks and
// build scripts read the sources' bytes, so their trees are keyed whole.
func pointsAtSource(pp map[string]any, dir string) bool {
	backend, _ := dig(pp, "build-system", "build-backend").(string)
	switch strings.TrimSpace(backend) {
	case "", "setuptools.build_meta", "setuptools.build_meta:__legacy__", "flit_core.buildapi", "uv_build", "poetry.core.masonry.api":
	case "hatchling.build":
		if dig(pp, "tool", "hatch", "build", "hooks") != nil {
			return false
		}
		for _, t := range asMap(dig(pp, "tool", "hatch", "build", "targets")) {
			if asMap(t)["hooks"] != nil {
				return false
			}
		}
	case "pdm.backend":
		if _, err := os.Stat(filepath.Join(dir, "pdm_build.py")); err == nil {
			return false
		}
	default:
		return false
	}
	return dig(pp, "tool", "poetry", "build") == nil
}

// maxTreeFiles bounds a local project sluice hashes.
const maxTreeFiles = 100_000

// treeSkip are directories a build never reads as source: VCS data, caches,
// environments (any directory with a pyvenv.cfg), build outputs.
func treeSkip(dir, name string) bool {
	switch name {
	case ".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache", "build", "dist", ".eggs":
		return true
	}
	if strings.HasSuffix(name, ".egg-info") {
		return true
	}
	_, err := os.Stat(filepath.Join(dir, name, "pyvenv.cfg"))
	return err == nil
}

// treeDigest hashes the file names under dir, and with contents their bytes too.
func treeDigest(root string, contents bool) (string, error) {
	h := sha256.New()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && treeSkip(filepath.Dir(p), d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if n++; n > maxTreeFiles {
			return notInstall("local project %s has over %d files", root, maxTreeFiles)
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%s\x00", filepath.ToSlash(rel), d.Type().String())
		if contents {
			if d.Type()&fs.ModeSymlink != 0 {
				t, _ := os.Readlink(p)
				io.WriteString(h, t)
			} else if d.Type().IsRegular() {
				dg, err := fileDigest(p)
				if err != nil {
					return err
				}
				io.WriteString(h, dg)
			}
		}
		io.WriteString(h, "\n")
		return nil
	})
	if err != nil {
		if NotInstall(err) {
			return "", err
		}
		return "", fmt.Errorf("reading local project %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// gitDescribe is what version-from-VCS build plugins read: the nearest tag,
// the distance and the commit.
func gitDescribe(dir string) string {
	cmd := exec.Command("git", "-C", dir, "describe", "--tags", "--long", "--always", "--abbrev=40")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	if err != nil {
		return "none"
	}
	return strings.TrimSpace(string(out))
}

// logicalLines joins backslash continuations and strips comments, as pip does.
func logicalLines(s string) []string {
	var out []string
	var cur strings.Builder
	for _, raw := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		line := raw
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			line = ""
		} else if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		if t := strings.TrimSpace(cur.String()); t != "" {
			out = append(out, t)
		}
		cur.Reset()
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}
