package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// DefaultGrace is how long a cancelled process has between SIGINT and SIGKILL.
const DefaultGrace = 7500 * time.Millisecond

// cleanupTimeout bounds engine calls made after the caller's context ended
// (signalling, removal): they must still happen, but not hang forever.
const cleanupTimeout = 30 * time.Second

// pidWrapper records the process's pid before exec'ing it: the exec API has
// no signal call, so cancellation signals that pid through another exec.
const pidWrapper = `echo $$ > "$0"; exec "$@"`

// Exec runs a process in the job container, streaming combined output as
// lines. When ctx ends, the process (its group when it leads one) gets
// SIGINT, then SIGKILL after grace (zero means DefaultGrace). The exit code
// is the process's; an error means it could not be run or observed.
func (j *Job) Exec(ctx context.Context, x ExecSpec, grace time.Duration) (int, error) {
	if j.containerID == "" {
		return -1, fmt.Errorf("exec %v: the job has no container", x.Argv)
	}
	return j.eng.exec(ctx, j.containerID, x, grace)
}

func (e *Engine) exec(ctx context.Context, ctrID string, x ExecSpec, grace time.Duration) (int, error) {
	if len(x.Argv) == 0 {
		return -1, fmt.Errorf("exec: empty command")
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	pidFile := "/tmp/sluice-exec-" + randomID() + ".pid"
	argv := append([]string{"sh", "-c", pidWrapper, pidFile}, x.Argv...)
	id, err := e.startExec(ctx, ctrID, argv, x)
	if err != nil {
		return -1, err
	}
	res, err := e.cli.ExecAttach(ctx, id, client.ExecAttachOptions{})
	if err != nil {
		return -1, fmt.Errorf("attaching to exec %v: %w", x.Argv, err)
	}
	done := make(chan error, 1)
	go func() { done <- demuxLines(res.Reader, x.Line) }()

	var streamErr error
	select {
	case streamErr = <-done:
	case <-ctx.Done():
		streamErr = e.interrupt(ctrID, pidFile, grace, done)
	}
	res.Close()

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	code, err := e.execExitCode(cctx, id)
	e.removePidFile(cctx, ctrID, pidFile)
	if err != nil {
		return -1, fmt.Errorf("exec %v: %w", x.Argv, err)
	}
	if streamErr != nil && code < 0 {
		return -1, fmt.Errorf("reading output of exec %v: %w", x.Argv, streamErr)
	}
	return code, nil
}

func (e *Engine) startExec(ctx context.Context, ctrID string, argv []string, x ExecSpec) (string, error) {
	created, err := e.cli.ExecCreate(ctx, ctrID, client.ExecCreateOptions{
		Cmd:          argv,
		Env:          x.Env,
		WorkingDir:   x.WorkDir,
		User:         x.User,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return "", fmt.Errorf("creating exec %v: %w", x.Argv, err)
	}
	return created.ID, nil
}

// interrupt delivers SIGINT, then SIGKILL after grace, and waits for the
// output stream to end (the process and everything holding its output gone).
func (e *Engine) interrupt(ctrID, pidFile string, grace time.Duration, done <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout+grace)
	defer cancel()
	e.signal(ctx, ctrID, pidFile, "INT")
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
	}
	e.signal(ctx, ctrID, pidFile, "KILL")
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("output still open %s after SIGKILL", 5*time.Second)
	}
}

// signal sends sig to the recorded pid's process group, or to the pid alone
// when it does not lead a group.
func (e *Engine) signal(ctx context.Context, ctrID, pidFile, sig string) {
	script := fmt.Sprintf(`p=$(cat `+shellQuote(pidFile)+` 2>/dev/null) || exit 0; kill -%s -- -"$p" 2>/dev/null || kill -%s "$p" 2>/dev/null; exit 0`, sig, sig)
	id, err := e.startExec(ctx, ctrID, []string{"sh", "-c", script}, ExecSpec{Argv: []string{"kill", sig}, User: "0"})
	if err != nil {
		return
	}
	res, err := e.cli.ExecAttach(ctx, id, client.ExecAttachOptions{})
	if err != nil {
		return
	}
	_ = demuxLines(res.Reader, nil)
	res.Close()
}

func (e *Engine) removePidFile(ctx context.Context, ctrID, pidFile string) {
	id, err := e.startExec(ctx, ctrID, []string{"rm", "-f", pidFile}, ExecSpec{Argv: []string{"rm"}, User: "0"})
	if err != nil {
		return
	}
	if _, err := e.cli.ExecStart(ctx, id, client.ExecStartOptions{Detach: true}); err != nil {
		return
	}
}

// execExitCode waits for the engine to record the exit: Podman may report
// the exec as running for a moment after its stream ended.
func (e *Engine) execExitCode(ctx context.Context, id string) (int, error) {
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		ins, err := e.cli.ExecInspect(ctx, id, client.ExecInspectOptions{})
		if err != nil {
			return -1, fmt.Errorf("inspecting exec: %w", err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("waiting for exec to finish: %w", ctx.Err())
		case <-time.After(delay):
		}
	}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
