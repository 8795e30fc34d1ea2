package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A Jail is one job's sandbox kept for the length of the job: bubblewrap
// sets its namespaces and mounts up once, and a small helper inside (this
// program again, run with HelperArg) starts every process the job asks for.
// A process then costs a fork and an exec inside the jail, not a new set of
// namespaces and mounts, which is what keeps a sandboxed step within a few
// milliseconds of an unsandboxed one.
//
// The helper and the host speak over a socket pair: a request carries the
// argv, directory and environment of one process and, as passed descriptors,
// the pipe ends its output goes to; answers say when it started and how it
// ended. One process runs at a time.

// HelperArg is the first argument that makes this program the jail's
// helper (see HelperMain).
const HelperArg = "__sluice-sandbox-helper"

// jailMsg is one message between the host and the helper.
type jailMsg struct {
	Op       string   `json:"op"` // run, signal (host); started, exit, error (helper)
	Argv     []string `json:"argv,omitempty"`
	Dir      string   `json:"dir,omitempty"`
	Env      []string `json:"env,omitempty"`
	Signal   int      `json:"signal,omitempty"`
	Pid      int      `json:"pid,omitempty"`
	Code     int      `json:"code,omitempty"`
	Signaled bool     `json:"signaled,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// Jail is a running job sandbox.
type Jail struct {
	cmd  *exec.Cmd
	conn *net.UnixConn
	done chan struct{}

	mu     sync.Mutex // one process at a time
	closed bool
}

// Start starts a job's jail with spec; helper is an executable that runs
// HelperMain when given HelperArg (normally this program).
func (p *Policy) Start(spec Spec, helper string) (*Jail, error) {
	if helper == "" {
		return nil, errors.New("no sandbox helper program")
	}
	spec.ReadOnly = append(append([]string(nil), spec.ReadOnly...), helper)
	sb, err := p.Sandbox(spec)
	if err != nil {
		return nil, err
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	host, inside := os.NewFile(uintptr(fds[0]), "jail"), os.NewFile(uintptr(fds[1]), "jail-helper")
	defer inside.Close()
	fc, err := net.FileConn(host)
	host.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	argv := append(sb.Argv("/"), helper, HelperArg)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{inside} // fd 3 in the helper
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	j := &Jail{cmd: cmd, conn: fc.(*net.UnixConn), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(j.done)
	}()
	return j, nil
}

// Close ends the jail and everything still running in it.
func (j *Jail) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	j.conn.Close() // the helper ends at EOF
	select {
	case <-j.done:
	case <-time.After(2 * time.Second):
		_ = syscall.Kill(-j.cmd.Process.Pid, syscall.SIGKILL)
		<-j.done
	}
	return nil
}

func (j *Jail) send(m jailMsg, files ...*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	_, _, err = j.conn.WriteMsgUnix(b, oob, nil)
	return err
}

func (j *Jail) recv() (jailMsg, error) {
	var m jailMsg
	buf := make([]byte, 64<<10)
	n, _, _, _, err := j.conn.ReadMsgUnix(buf, nil)
	if err != nil {
		return m, err
	}
	if n == 0 {
		return m, io.EOF
	}
	return m, json.Unmarshal(buf[:n], &m)
}

// Run runs c in the jail (c.Sandbox is not used): its process group gets
// SIGINT when ctx ends and SIGKILL after the grace period, and whatever it
// left running in the background is killed when it exits, as Run does.
func (j *Jail) Run(ctx context.Context, c Cmd) (Result, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return Result{}, errors.New("the job's sandbox is closed")
	}
	if len(c.Argv) == 0 {
		return Result{}, errors.New("empty command")
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("creating output pipe: %w", err)
	}
	errW := outW
	var stdoutR *os.File
	if c.Stdout != nil {
		if stdoutR, outW, err = os.Pipe(); err != nil {
			outR.Close()
			errW.Close()
			return Result{}, fmt.Errorf("creating output pipe: %w", err)
		}
	}
	// The request itself (an environment can be large) goes through a pipe
	// of its own, passed with the output pipes.
	reqR, reqW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		if errW != outW {
			errW.Close()
		}
		return Result{}, fmt.Errorf("creating request pipe: %w", err)
	}
	go func() {
		_ = json.NewEncoder(reqW).Encode(jailMsg{Op: "run", Argv: c.Argv, Dir: c.Dir, Env: c.Env})
		reqW.Close()
	}()
	err = j.send(jailMsg{Op: "run"}, reqR, outW, errW)
	reqR.Close()
	outW.Close()
	if errW != outW {
		errW.Close()
	}
	if err != nil {
		outR.Close()
		if stdoutR != nil {
			stdoutR.Close()
		}
		return Result{}, fmt.Errorf("starting %s in the sandbox: %w", c.Argv[0], err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { readLines(outR, c.Line) })
	if stdoutR != nil {
		wg.Go(func() { _, _ = io.Copy(c.Stdout, stdoutR) })
	}
	finish := func() {
		// A process that left its own session still holds the output: the
		// lines already written are read, then the pipes are closed.
		read := make(chan struct{})
		go func() {
			wg.Wait()
			close(read)
		}()
		select {
		case <-read:
		case <-time.After(500 * time.Millisecond):
		}
		outR.Close()
		if stdoutR != nil {
			stdoutR.Close()
		}
		<-read
	}
	m, err := j.recv()
	if err == nil && m.Op == "error" {
		err = errors.New(m.Error)
	}
	if err != nil {
		finish()
		return Result{}, fmt.Errorf("starting %s: %w", c.Argv[0], err)
	}
	exited := make(chan jailMsg, 1)
	recvErr := make(chan error, 1)
	go func() {
		m, err := j.recv()
		if err != nil {
			recvErr <- err
			return
		}
		exited <- m
	}()
	interrupted := false
	var end jailMsg
	grace := c.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	var killAt <-chan time.Time
	ctxDone := ctx.Done()
wait:
	for {
		select {
		case end = <-exited:
			break wait
		case err := <-recvErr:
			finish()
			return Result{Interrupted: interrupted}, fmt.Errorf("waiting for %s in the sandbox: %w", c.Argv[0], err)
		case <-ctxDone:
			ctxDone = nil
			interrupted = true
			_ = j.send(jailMsg{Op: "signal", Signal: int(syscall.SIGINT)})
			t := time.NewTimer(grace)
			defer t.Stop()
			killAt = t.C
		case <-killAt:
			killAt = nil
			_ = j.send(jailMsg{Op: "signal", Signal: int(syscall.SIGKILL)})
		}
	}
	finish()
	res := Result{ExitCode: end.Code, Interrupted: interrupted}
	if end.Signaled {
		res.ExitCode = 128 + end.Signal
	}
	return res, nil
}

// HelperMain is the jail's helper: it runs the processes the host asks for,
// one at a time, until the host closes the socket (fd 3). It never returns.
func HelperMain() {
	f := os.NewFile(3, "jail")
	fc, err := net.FileConn(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox helper:", err)
		os.Exit(2)
	}
	conn := fc.(*net.UnixConn)
	send := func(m jailMsg) {
		b, _ := json.Marshal(m)
		_, _ = conn.Write(b)
	}
	var (
		mu      sync.Mutex
		running *os.Process
	)
	for {
		buf := make([]byte, 4096)
		oob := make([]byte, syscall.CmsgSpace(3*4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			os.Exit(0)
		}
		var m jailMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			continue
		}
		switch m.Op {
		case "signal":
			mu.Lock()
			if running != nil {
				_ = syscall.Kill(-running.Pid, syscall.Signal(m.Signal))
			}
			mu.Unlock()
		case "run":
			files := receivedFiles(oob[:oobn])
			if len(files) != 3 {
				for _, f := range files {
					f.Close()
				}
				send(jailMsg{Op: "error", Error: "a run request needs three descriptors"})
				continue
			}
			var req jailMsg
			err := json.NewDecoder(files[0]).Decode(&req)
			files[0].Close()
			var cmd *exec.Cmd
			if err == nil {
				cmd, err = helperCommand(req, files[1], files[2])
			}
			if err == nil {
				err = cmd.Start()
			}
			files[1].Close()
			files[2].Close()
			if err != nil {
				send(jailMsg{Op: "error", Error: err.Error()})
				continue
			}
			mu.Lock()
			running = cmd.Process
			mu.Unlock()
			send(jailMsg{Op: "started", Pid: cmd.Process.Pid})
			go func() {
				werr := cmd.Wait()
				pid := cmd.Process.Pid
				// What it left in the background belongs to it.
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				mu.Lock()
				running = nil
				mu.Unlock()
				end := jailMsg{Op: "exit"}
				var ee *exec.ExitError
				if errors.As(werr, &ee) {
					end.Code = ee.ExitCode()
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						end.Signaled, end.Signal = true, int(ws.Signal())
					}
				}
				send(end)
			}()
		}
	}
}

func receivedFiles(oob []byte) []*os.File {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var out []*os.File
	for _, msg := range msgs {
		fds, err := syscall.ParseUnixRights(&msg)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			out = append(out, os.NewFile(uintptr(fd), "output"))
		}
	}
	return out
}

// helperCommand builds the process of a run request, finding argv[0] on the
// request's own PATH.
func helperCommand(m jailMsg, stdout, stderr *os.File) (*exec.Cmd, error) {
	if len(m.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	path := m.Argv[0]
	if !strings.Contains(path, "/") {
		found := ""
		for _, kv := range m.Env {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				for _, d := range filepath.SplitList(p) {
					cand := filepath.Join(d, path)
					if fi, err := os.Stat(cand); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
						found = cand
						break
					}
				}
			}
		}
		if found == "" {
			return nil, &exec.Error{Name: path, Err: exec.ErrNotFound}
		}
		path = found
	}
	cmd := &exec.Cmd{Path: path, Args: m.Argv, Dir: m.Dir, Env: m.Env, Stdout: stdout, Stderr: stderr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}
