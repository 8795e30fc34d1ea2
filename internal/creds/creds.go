// Package creds reads the credentials sluice's long-running processes start
// with (the admin token and password, an agent's registration token) so that
// none stays where a job could read it: not in argv (a file, a prompt or the
// environment instead), and not in the process's environment either — a
// value found there is taken and the process re-executes itself without it,
// so /proc/<pid>/environ no longer holds it. It also keeps an agent's own
// credential in a file only its user can read.
package creds

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// fdEnv names the inherited pipe a re-executed process reads its
// credentials from; its value is a descriptor number, never a secret.
const fdEnv = "SLUICE_CREDENTIALS_FD"

// maxSecret bounds what is read as one credential.
const maxSecret = 4096

// TakeFromEnv returns the values of the named variables and makes sure the
// process no longer carries them: when any is set, it re-executes the
// program (same arguments, same process id) with them removed, handing their
// values over through an inherited pipe. Call it first thing in a command
// that runs for long (serve, agent); it does not return when it re-executes.
func TakeFromEnv(names ...string) (map[string]string, error) {
	if fd := os.Getenv(fdEnv); fd != "" {
		os.Unsetenv(fdEnv)
		return readHandover(fd)
	}
	found := map[string]string{}
	for _, n := range names {
		if v, ok := os.LookupEnv(n); ok {
			found[n] = v
		}
	}
	if len(found) == 0 {
		return found, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to drop %s from its environment: %w", strings.Join(keys(found), ", "), err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("handing credentials over: %w", err)
	}
	b, err := json.Marshal(found)
	if err != nil {
		return nil, err
	}
	// A pipe holds 64 KiB: the few small values fit before anyone reads.
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("handing credentials over: %w", err)
	}
	w.Close()
	// The read end must survive exec; everything else of Go's is close-on-exec.
	if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, r.Fd(), syscall.F_SETFD, 0); errno != 0 {
		return nil, fmt.Errorf("handing credentials over: %w", errno)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, drop := found[k]; !drop {
			env = append(env, kv)
		}
	}
	env = append(env, fdEnv+"="+strconv.Itoa(int(r.Fd())))
	return nil, syscall.Exec(exe, os.Args, env)
}

func readHandover(fd string) (map[string]string, error) {
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor", fdEnv, fd)
	}
	f := os.NewFile(uintptr(n), "credentials")
	defer f.Close()
	var out map[string]string
	if err := json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&out); err != nil {
		return nil, fmt.Errorf("reading credentials handed over: %w", err)
	}
	return out, nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// ReadFile reads a credential from path: its first line, trimmed. "-"
// prompts on the terminal (without echo) or, without one, reads a line
// from standard input.
func ReadFile(path, prompt string) (string, error) {
	if path == "-" {
		return Prompt(prompt)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	v, err := firstLine(f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// Prompt asks for a credential on the terminal without echoing it, or reads
// a line from standard input when it is not a terminal.
func Prompt(prompt string) (string, error) {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(os.Stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", fmt.Errorf("reading from the terminal: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	v, err := firstLine(os.Stdin)
	if err != nil {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	if v == "" {
		return "", errors.New("nothing on standard input")
	}
	return v, nil
}

func firstLine(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxSecret))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// Agent is an agent's own credential, given by the server in exchange for a
// registration token.
type Agent struct {
	Server  string `json:"server"`
	AgentID int64  `json:"agent_id"`
	Name    string `json:"name"`
	Token   string `json:"token"`
}

// AgentFile is where an agent keeps its credential for server, under dir
// (a directory only its user can enter).
func AgentFile(dir, server string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"))
	return filepath.Join(dir, safe+".json")
}

// LoadAgent reads the credential at path; a missing file is (nil, nil).
func LoadAgent(path string) (*Agent, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the agent's credential: %w", err)
	}
	var a Agent
	if err := json.Unmarshal(b, &a); err != nil || a.Token == "" {
		return nil, fmt.Errorf("%s is not an agent credential; remove it to register again", path)
	}
	return &a, nil
}

// SaveAgent writes a credential readable by this user only (0600, in a
// 0700 directory), replacing the file whole.
func SaveAgent(path string, a Agent) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credential-")
	if err != nil {
		return fmt.Errorf("saving the agent's credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the agent's credential: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
