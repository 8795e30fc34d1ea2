package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// lineWriter turns a byte stream into lines for a callback; stdout and stderr
// share one so that the combined output keeps the engine's order.
type lineWriter struct {
	line func(string)
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineWriter) emit(b []byte) {
	if w.line != nil {
		w.line(strings.TrimSuffix(string(b), "\r"))
	}
}

// demuxLines reads a multiplexed (non-TTY) stdout/stderr stream to its end.
func demuxLines(r io.Reader, line func(string)) error {
	w := &lineWriter{line: line}
	_, err := stdcopy.StdCopy(w, w, r)
	w.flush()
	return err
}

// tailLogs returns a container's last n log lines, for error messages.
func (e *Engine) tailLogs(ctx context.Context, id string, n int) string {
	rc, err := e.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n)})
	if err != nil {
		return fmt.Sprintf("(could not read logs: %v)", err)
	}
	defer rc.Close()
	var lines []string
	if err := demuxLines(rc, func(s string) { lines = append(lines, s) }); err != nil && len(lines) == 0 {
		return fmt.Sprintf("(could not read logs: %v)", err)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
