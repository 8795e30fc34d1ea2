// Package host runs a step's process on this machine: a script through a
// shell template, in its own process group so that cancellation reaches every
// child, optionally inside a bubblewrap sandbox.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-ci/sluice/internal/lines"
	"github.com/sluice-ci/sluice/internal/shellwords"
)

// DefaultGrace is how long a cancelled step has between SIGINT and SIGKILL.
const DefaultGrace = 7500 * time.Millisecond

// Cmd is one process to run.
type Cmd struct {
	Argv []string
	// Path, when set, is the program argv[0] names, already found on sluice's PATH: a caller
	// that runs the same shell for every step need not search PATH for it each time.
	Path string
	Dir  string
	Env  []string
	// Line receives each line of combined stdout and stderr, without the
	// trailing newline, in order. It is called from one goroutine at a time.
	Line func(string)
	// Stdout, when set, takes standard output instead; Line then sees
	// standard error only.
	Stdout io.Writer
	// Grace is the time between SIGINT and SIGKILL on cancellation; zero
	// means DefaultGrace.
	Grace time.Duration
	// Sandbox, when set, runs the process inside that bubblewrap jail.
	Sandbox *Sandbox
}

// Result is how a process ended.
type Result struct {
	ExitCode int
	// Interrupted is true when the context ended the process.
	Interrupted bool
}

// Run starts c and waits for it. When ctx ends, the whole process group gets
// SIGINT and, after the grace period, SIGKILL. An error means the process
// could not be started at all.
func Run(ctx context.Context, c Cmd) (Result, error) {
	argv := c.Argv
	if c.Sandbox != nil && len(argv) > 0 {
		argv = append(c.Sandbox.Argv(c.Dir), argv...)
	}
	if len(argv) == 0 {
		return Result{}, errors.New("empty command")
	}
	var cmd *exec.Cmd
	if c.Path != "" && c.Sandbox == nil {
		cmd = &exec.Cmd{Path: c.Path, Args: argv}
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	cmd.Dir = c.Dir
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("creating output pipe: %w", err)
	}
	cmd.Stdout = pw
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	}
	cmd.Stderr = pw
	cmd.Stdin = nil
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return Result{}, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	pw.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readLines(pr, c.Line)
	}()

	done := make(chan struct{})
	interrupted := make(chan bool, 1)
	go func() {
		select {
		case <-done:
			interrupted <- false
		case <-ctx.Done():
			pgid := -cmd.Process.Pid
			_ = syscall.Kill(pgid, syscall.SIGINT)
			grace := c.Grace
			if grace == 0 {
				grace = DefaultGrace
			}
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				_ = syscall.Kill(pgid, syscall.SIGKILL)
			}
			interrupted <- true
		}
	}()
	werr := cmd.Wait()
	close(done)
	intr := <-interrupted
	// Children that escaped into the background still hold the pipe; they
	// belong to the step, so they end with it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	wg.Wait()
	pr.Close()

	res := Result{Interrupted: intr}
	if werr != nil {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			return res, fmt.Errorf("waiting for %s: %w", argv[0], werr)
		}
		res.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
	}
	return res, nil
}

// readLines reads r to its end as lines cut at lines.Max: an endless line
// costs no memory, and the lines after it still arrive.
func readLines(r io.Reader, line func(string)) {
	sp := &lines.Splitter{Line: line}
	// 16 KiB: a pipe hands over at most 64 KiB at a time, and most steps print a few lines;
	// a larger buffer per stream per step only feeds the collector.
	_, _ = io.CopyBuffer(sp, r, make([]byte, 16*1024))
	sp.Flush()
}

// Shell is a resolved `shell:` value.
type Shell struct {
	Template []string // argv with "{0}" standing for the script path
	Ext      string   // script file extension
}

// ResolveShell turns a step's `shell:` into a command template the way the
// GitHub runner does on Linux. Empty means the default (bash -e, or sh -e
// when bash is missing).
func ResolveShell(shell string, lookPath func(string) (string, error)) (Shell, error) {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	switch strings.TrimSpace(shell) {
	case "":
		if _, err := lookPath("bash"); err == nil {
			return Shell{Template: []string{"bash", "-e", "{0}"}, Ext: ".sh"}, nil
		}
		return Shell{Template: []string{"sh", "-e", "{0}"}, Ext: ".sh"}, nil
	case "bash":
		return Shell{Template: []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"}, Ext: ".sh"}, nil
	case "sh":
		return Shell{Template: []string{"sh", "-e", "{0}"}, Ext: ".sh"}, nil
	case "python":
		return Shell{Template: []string{"python", "{0}"}, Ext: ".py"}, nil
	case "pwsh":
		if _, err := lookPath("pwsh"); err != nil {
			return Shell{}, errors.New("shell pwsh: pwsh is not installed on this machine")
		}
		return Shell{Template: []string{"pwsh", "-command", ". '{0}'"}, Ext: ".ps1"}, nil
	case "cmd", "powershell":
		return Shell{}, fmt.Errorf("shell %s is only available on Windows runners", shell)
	}
	if !strings.Contains(shell, "{0}") {
		return Shell{}, fmt.Errorf("shell %q: a custom shell must contain {0} where the script path goes (e.g. \"perl {0}\")", shell)
	}
	argv, err := SplitWords(shell)
	if err != nil {
		return Shell{}, fmt.Errorf("shell %q: %w", shell, err)
	}
	ext := ""
	if strings.Contains(argv[0], "python") {
		ext = ".py"
	}
	return Shell{Template: argv, Ext: ext}, nil
}

// Argv substitutes the script path into the template.
func (s Shell) Argv(script string) []string {
	out := make([]string, len(s.Template))
	for i, a := range s.Template {
		out[i] = strings.ReplaceAll(a, "{0}", script)
	}
	return out
}

// SplitWords splits a command line on blanks, honouring single and double
// quotes, which is all a shell template needs: a backslash is an ordinary
// character, as it is in the paths and flags such templates hold.
func SplitWords(s string) ([]string, error) {
	out, err := shellwords.Splitter{Blanks: " \t\n"}.Split(s)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("empty shell")
	}
	return out, nil
}

// WriteScript writes a step's script into dir with the shell's extension and
// returns its path.
func WriteScript(dir, name, body string, sh Shell) (string, error) {
	p := filepath.Join(dir, name+sh.Ext)
	if err := os.WriteFile(p, []byte(body), 0o700); err != nil {
		return "", fmt.Errorf("writing step script: %w", err)
	}
	return p, nil
}
