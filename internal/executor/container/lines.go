package container

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	loglines "github.com/sluice-ci/sluice/internal/lines"
)

// lineWriter turns a byte stream into lines (cut at loglines.Max) for a
// callback; stdout and stderr share one so that the combined output keeps
// the engine's order.
type lineWriter struct {
	sp loglines.Splitter
}

func newLineWriter(line func(string)) *lineWriter {
	return &lineWriter{sp: loglines.Splitter{Line: line}}
}

func (w *lineWriter) Write(p []byte) (int, error) { return w.sp.Write(p) }

// flush emits a last line that had no newline.
func (w *lineWriter) flush() { w.sp.Flush() }

// demuxLines reads a multiplexed (non-TTY) stdout/stderr stream to its end.
func demuxLines(r io.Reader, line func(string)) error {
	w := newLineWriter(line)
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
