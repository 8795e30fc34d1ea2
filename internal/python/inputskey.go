package python

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// keyInputs gathers the files an install reads and whether its result is fixed by them.
type keyInputs struct {
	workdir string
	files   map[string]bool // absolute paths whose bytes (or absence) go into the key
	ok      bool
	visited map[string]bool
}

// projectFiles are what a local project install or a lock-driven sync reads to decide what
// to install.
var projectFiles = []string{"pyproject.toml", "setup.py", "setup.cfg", "uv.lock", "poetry.lock", "pdm.lock"}

// pip options that take a value, spelled as separate words.
var pipValueOpts = map[string]bool{
	"-i": true, "--index-url": true, "--extra-index-url": true, "-f": true, "--find-links": true,
	"--only-binary": true, "--no-binary": true, "--target": true, "-t": true, "--prefix": true,
	"--root": true, "--python": true, "-p": true, "--python-version": true, "--platform": true,
	"--implementation": true, "--abi": true, "--src": true, "--progress-bar": true, "--log": true,
	"--cache-dir": true, "--trusted-host": true, "--timeout": true, "--retries": true,
	"--index-strategy": true, "--keyring-provider": true, "--config-settings": true, "-C": true,
	"--extra": true, "--group": true, "--only-group": true, "--no-group": true, "--package": true,
	"--resolution": true, "--prerelease": true, "--exclude-newer": true, "--python-platform": true,
	"--with": true, "-E": true, "--extras": true, "--only": true, "--without": true, "-G": true,
	"--directory": true, "--project": true,
}

var pythonNameRe = regexp.MustCompile(`^(.*/)?(python(\d+(\.\d+)?t?)?|pypy3(\.\d+)?)$`)
var pipNameRe = regexp.MustCompile(`^(.*/)?pip(\d+(\.\d+)?)?$`)

// InputsKey hashes everything that fixes the result of an install command: the interpreter, the
// command and the bytes of every requirements, constraints, project and lock file it reads
// (requirements includes are followed recursively). ok is false when the command is not a
// recognised install whose result those inputs fully decide: shell operators or expansions,
// URLs, unpinned names, --upgrade of something not locked, or a sync without its lock file.
func InputsKey(workdir string, interp Interpreter, command string) (key string, ok bool, err error) {
	words, err := splitWords(strings.TrimSpace(command))
	if err != nil || len(words) == 0 {
		return "", false, nil
	}
	in := &keyInputs{workdir: workdir, files: map[string]bool{}, ok: true, visited: map[string]bool{}}
	if err := in.command(words); err != nil {
		return "", false, err
	}
	if !in.ok {
		return "", false, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "sluice-inputs-v1\x00%s\x00%s\x00%s\x00%t\x00%s\x00", interp.Path, interp.Version, interp.Impl, interp.FreeThreaded, strings.Join(words, "\x01"))
	paths := make([]string, 0, len(in.files))
	for p := range in.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(workdir, p)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		if err := hashFile(h, p); err != nil {
			return "", false, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), true, nil
}

func hashFile(h io.Writer, p string) error {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		_, err = io.WriteString(h, "absent\x00")
		return err
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer f.Close()
	fh := sha256.New()
	if _, err := io.Copy(fh, f); err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	_, err = fmt.Fprintf(h, "%x\x00", fh.Sum(nil))
	return err
}

// command recognises the installer and dispatches on its subcommand.
func (in *keyInputs) command(w []string) error {
	switch {
	case len(w) >= 3 && pythonNameRe.MatchString(w[0]) && w[1] == "-m" && w[2] == "pip":
		return in.pipInstall(w[3:])
	case len(w) >= 3 && pythonNameRe.MatchString(w[0]) && w[1] == "-m" && w[2] == "uv":
		return in.command(w[2:])
	case len(w) >= 1 && pipNameRe.MatchString(w[0]):
		return in.pipInstall(w[1:])
	case len(w) >= 2 && filepath.Base(w[0]) == "uv" && w[1] == "pip":
		return in.pipInstall(w[2:])
	case len(w) >= 2 && filepath.Base(w[0]) == "uv" && w[1] == "sync":
		return in.lockSync(w[2:], "uv.lock")
	case len(w) >= 2 && filepath.Base(w[0]) == "poetry" && w[1] == "install":
		return in.lockSync(w[2:], "poetry.lock")
	case len(w) >= 2 && filepath.Base(w[0]) == "pdm" && (w[1] == "install" || w[1] == "sync"):
		return in.lockSync(w[2:], "pdm.lock")
	case len(w) >= 2 && filepath.Base(w[0]) == "pip-sync":
		return in.pipSync(w[1:])
	}
	in.ok = false
	return nil
}

func (in *keyInputs) lockSync(args []string, lock string) error {
	for _, a := range args {
		if a == "-U" || a == "--upgrade" || strings.HasPrefix(a, "--upgrade-package") || a == "-P" || a == "--update" {
			in.ok = false
			return nil
		}
	}
	lp := filepath.Join(in.workdir, lock)
	if _, err := os.Stat(lp); err != nil {
		in.ok = false // without the lock the tool resolves afresh
		return nil
	}
	in.addProject(in.workdir)
	return nil
}

func (in *keyInputs) pipSync(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if pipValueOpts[a] {
			i++
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		if err := in.reqFile(filepath.Join(in.workdir, a), false); err != nil {
			return err
		}
	}
	return nil
}

func (in *keyInputs) addProject(dir string) {
	for _, f := range projectFiles {
		in.files[filepath.Join(dir, f)] = true
	}
}

// pipInstall reads `pip install` arguments (args starts at the subcommand).
func (in *keyInputs) pipInstall(args []string) error {
	if len(args) == 0 {
		in.ok = false
		return nil
	}
	if args[0] == "sync" {
		return in.pipSync(args[1:])
	}
	if args[0] != "install" {
		in.ok = false
		return nil
	}
	args = args[1:]
	var upgrade, local bool
	value := func(i *int, a, long, short string) (string, bool) {
		switch {
		case a == long || (short != "" && a == short):
			if *i+1 < len(args) {
				*i++
				return args[*i], true
			}
		case strings.HasPrefix(a, long+"="):
			return a[len(long)+1:], true
		case short != "" && strings.HasPrefix(a, short) && len(a) > len(short):
			return a[len(short):], true
		}
		return "", false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := value(&i, a, "--requirement", "-r"); ok {
			if err := in.reqFile(filepath.Join(in.workdir, v), false); err != nil {
				return err
			}
			continue
		}
		if v, ok := value(&i, a, "--constraint", "-c"); ok {
			if err := in.reqFile(filepath.Join(in.workdir, v), true); err != nil {
				return err
			}
			continue
		}
		if v, ok := value(&i, a, "--editable", "-e"); ok {
			local = true
			in.target(in.workdir, v, true)
			continue
		}
		switch {
		case a == "-U" || a == "--upgrade":
			upgrade = true
		case pipValueOpts[a]:
			i++
		case strings.HasPrefix(a, "-"):
		default:
			if isLocalPath(in.workdir, a) {
				local = true
			}
			in.target(in.workdir, a, false)
		}
	}
	if upgrade && local {
		in.ok = false // upgrading a project's unlocked dependencies depends on the index, not on files
	}
	return nil
}

// target handles one thing to install: a local project, a local archive, a pinned name.
// A project installed without -e is copied into the environment, so its
// source is an input too: such an install is never taken as determined by
// its files (editable installs point at the source and stay correct).
func (in *keyInputs) target(base, t string, editable bool) {
	switch {
	case strings.Contains(t, "://") || strings.Contains(t, "@"):
		in.ok = false
	case isLocalPath(base, t):
		p := t
		if i := strings.Index(p, "["); i >= 0 {
			p = p[:i]
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		st, err := os.Stat(p)
		switch {
		case err != nil || !st.IsDir():
			in.files[p] = true // a wheel or sdist (a missing one is recorded as absent)
		case !editable:
			in.ok = false
		default:
			in.addProject(p)
		}
	default:
		r, err := parseRequirement(t)
		if err != nil || !r.pinned() {
			in.ok = false
		}
	}
}

func isLocalPath(base, t string) bool {
	if strings.HasPrefix(t, ".") || strings.HasPrefix(t, "/") || strings.Contains(t, "/") {
		return true
	}
	if strings.HasSuffix(t, ".whl") || strings.HasSuffix(t, ".tar.gz") || strings.HasSuffix(t, ".zip") {
		return true
	}
	_, err := os.Stat(filepath.Join(base, t))
	return err == nil && !strings.ContainsAny(t, "=<>!~")
}

// reqFile reads a requirements or constraints file and everything it includes.
func (in *keyInputs) reqFile(path string, constraints bool) error {
	path = filepath.Clean(path)
	in.files[path] = true
	if in.visited[path] {
		return nil
	}
	in.visited[path] = true
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading requirements file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, line := range logicalLines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		first := fields[0]
		arg := func(long, short string) (string, bool) {
			switch {
			case first == long || first == short:
				if len(fields) > 1 {
					return fields[1], true
				}
			case strings.HasPrefix(first, long+"="):
				return first[len(long)+1:], true
			case strings.HasPrefix(first, short) && len(first) > len(short) && !strings.HasPrefix(first, "--"):
				return first[len(short):], true
			}
			return "", false
		}
		if v, ok := arg("--requirement", "-r"); ok {
			if err := in.reqFile(filepath.Join(dir, v), constraints); err != nil {
				return err
			}
			continue
		}
		if v, ok := arg("--constraint", "-c"); ok {
			if err := in.reqFile(filepath.Join(dir, v), true); err != nil {
				return err
			}
			continue
		}
		if v, ok := arg("--editable", "-e"); ok {
			in.target(dir, v, true)
			continue
		}
		if strings.HasPrefix(first, "-") {
			continue // index options and the like: already part of the hashed bytes
		}
		// Drop per-requirement options such as --hash before reading the requirement.
		req := line
		if i := strings.Index(req, " --"); i >= 0 {
			req = req[:i]
		}
		if constraints {
			if strings.Contains(req, "://") {
				in.ok = false
			}
			continue
		}
		in.target(dir, strings.TrimSpace(req), false)
	}
	return nil
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
