package python

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoSystemCopy says an interpreter's layout is not one SystemCopy knows (PyPy's, a
// distribution's /usr): the caller goes on without a copy.
var ErrNoSystemCopy = errors.New("no system copy for this interpreter's layout")

// SystemCopy makes at dir a prefix of interp's own that Python and uv take for a system
// installation, not a virtual environment: its binary is a copy, its standard library is
// links to interp's files, and its site-packages is its own, empty but for a .pth that puts
// paths (a pip wheel) and then interp's site-packages (what the machine put there) behind it.
// It returns the copy's bin directory.
//
// Why: on GitHub's runner setup-python's interpreter is the job's own, and workflows install
// into it (`uv pip install --system .`, then the tool's console script). sluice's interpreters
// are shared by every job, read-only in the sandbox; a job that did that here wrote into the
// machine's interpreter on the host, and failed with "Read-only file system" in the sandbox.
// The copy takes a few hundred links, not a copy of the standard library; and nothing a job
// deletes in it reaches the machine's files: only links are deleted, the site-packages that
// installers write and remove from is the copy's own, and pip and uv leave alone what lies
// outside the prefix they install into.
func SystemCopy(interp Interpreter, dir string, paths ...string) (string, error) {
	if interp.Impl != "" && interp.Impl != "cpython" {
		return "", ErrNoSystemCopy
	}
	real, err := filepath.EvalSymlinks(interp.Path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", interp.Path, err)
	}
	base := filepath.Dir(filepath.Dir(real))
	if base == "/" || base == "/usr" || base == "/usr/local" {
		return "", ErrNoSystemCopy
	}
	std, err := stdlibName(interp)
	if err != nil {
		return "", err
	}
	baseStd := filepath.Join(base, "lib", std)
	if _, err := os.Stat(filepath.Join(baseStd, "os.py")); err != nil {
		return "", ErrNoSystemCopy
	}
	bin, site := filepath.Join(dir, "bin"), filepath.Join(dir, "lib", std, "site-packages")
	exe := filepath.Base(real)
	// A copy made earlier in the job (setup-python run again for the same version) is kept
	// with what the job installed into it, as the runner's interpreter keeps it.
	if _, err := os.Stat(filepath.Join(site, machineSitePth)); err == nil {
		if _, err := os.Stat(filepath.Join(bin, exe)); err == nil {
			return bin, nil
		}
	}
	if err := makeSystemCopy(real, base, std, dir, paths); err != nil {
		return "", fmt.Errorf("making the job's copy of Python %s: %w", interp.Version, err)
	}
	return bin, nil
}

// makeSystemCopy makes at dir the copy SystemCopy describes of the interpreter whose binary
// is real, whose prefix is base and whose standard library is lib/std.
func makeSystemCopy(real, base, std, dir string, paths []string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	bin, site := filepath.Join(dir, "bin"), filepath.Join(dir, "lib", std, "site-packages")
	for _, d := range []string{bin, site} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// A copy, not a link: Python finds its prefix from where its binary really is, and a
	// hard link would let the job write the machine's binary.
	exe := filepath.Base(real)
	if err := copyExecutable(real, filepath.Join(bin, exe)); err != nil {
		return err
	}
	for _, name := range []string{"python", "python3", strings.TrimSuffix(std, "t"), std} {
		if name != exe {
			if err := os.Symlink(exe, filepath.Join(bin, name)); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		}
	}
	// Everything else of the prefix is the machine's, through links: the shared library
	// (its binary may find it beside itself), headers, the standard library.
	for _, name := range []string{"include", "share"} {
		if _, err := os.Lstat(filepath.Join(base, name)); err == nil {
			if err := os.Symlink(filepath.Join(base, name), filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	baseStd := filepath.Join(base, "lib", std)
	if err := linkEntries(filepath.Join(base, "lib"), filepath.Join(dir, "lib"), std); err != nil {
		return err
	}
	// The copy is the job's to install into, as the runner's interpreter is: the PEP 668
	// marker of a uv-managed interpreter speaks for the machine's installation, not this one.
	if err := linkEntries(baseStd, filepath.Join(dir, "lib", std), "site-packages", "EXTERNALLY-MANAGED"); err != nil {
		return err
	}
	// The machine's site-packages comes after the copy's own, its .pth files read as a site
	// directory's are: what is installed there is importable, what the job installs wins.
	var pth strings.Builder
	for _, p := range paths {
		if strings.ContainsAny(p, "\n\r") {
			return fmt.Errorf("a path with a line break: %q", p)
		}
		pth.WriteString(p + "\n")
	}
	fmt.Fprintf(&pth, "import site; site.addsitedir(%s)\n", strconv.Quote(filepath.Join(baseStd, "site-packages")))
	return os.WriteFile(filepath.Join(site, machineSitePth), []byte(pth.String()), 0o644)
}

// linkEntries links each entry of from, but those named in skip, into to.
func linkEntries(from, to string, skip ...string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if slices.Contains(skip, e.Name()) {
			continue
		}
		if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// machineSitePth is the copy's .pth file; it is written last, so a copy that has it is whole.
const machineSitePth = "_sluice_machine_site.pth"

// stdlibName is the name of interp's standard library directory under lib: python3.12,
// python3.13t for a free-threaded build.
func stdlibName(interp Interpreter) (string, error) {
	parts := strings.SplitN(interp.Version, ".", 3)
	if len(parts) < 2 {
		return "", ErrNoSystemCopy
	}
	minor := strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	name := "python" + parts[0] + "." + minor
	if interp.FreeThreaded {
		name += "t"
	}
	return name, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
