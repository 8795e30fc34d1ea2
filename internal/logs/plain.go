package logs

import (
	"io"
	"sync"
)

// plainSink writes one line per event, for logs, pipes and CI consoles.
type plainSink struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
}

// NewPlain returns a Sink that writes plain "[job/step] text" lines to w.
// Debug lines are written only when verbose.
func NewPlain(w io.Writer, verbose bool) Sink {
	return &plainSink{w: w, verbose: verbose}
}

func (p *plainSink) Emit(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Kind == RunFinished {
		if e.Summary != nil {
			WriteSummary(p.w, *e.Summary, false)
		}
		return
	}
	if line, ok := plainLine(e, p.verbose); ok {
		// Write errors are not actionable from a sink: the run goes on and
		// the file sink still has the log.
		_, _ = io.WriteString(p.w, line+"\n")
	}
}

// plainLine is the text the plain sink prints for e, without the newline.
func plainLine(e Event, verbose bool) (string, bool) {
	pre := prefix(e.Job, e.Step)
	switch e.Kind {
	case JobStarted:
		return prefix(e.Job, "") + "job started", true
	case StepStarted:
		return prefix(e.Job, "") + "step started: " + e.Step, true
	case Line:
		return pre + e.Text, true
	case GroupStart:
		return pre + "> " + e.Text, true
	case Debug:
		if !verbose {
			return "", false
		}
		return pre + "debug: " + e.Text, true
	case Notice:
		return pre + "sluice: " + e.Text, true
	case AnnotationAdded:
		return pre + annotationLine(eventAnnotation(e)), true
	case StepFinished:
		return pre + stepFinishedText(e), true
	case JobFinished:
		return prefix(e.Job, "") + jobFinishedText(e), true
	}
	return "", false
}
