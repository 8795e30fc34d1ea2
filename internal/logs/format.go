package logs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FormatDuration renders d short and human: 12ms, 1.2s, 2m03s, 1h02m03s.
// It truncates rather than rounds so a value never shows the next unit's
// boundary (59.96s is 59.9s, not 60.0s).
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		tenths := d / (100 * time.Millisecond)
		return fmt.Sprintf("%d.%ds", tenths/10, tenths%10)
	case d < time.Hour:
		s := d / time.Second
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		s := d / time.Second
		return fmt.Sprintf("%dh%02dm%02ds", s/3600, s/60%60, s%60)
	}
}

// prefix is the "[job/step]" that starts a plain line.
func prefix(job, step string) string {
	switch {
	case job == "" && step == "":
		return ""
	case step == "":
		return "[" + job + "] "
	case job == "":
		return "[" + step + "] "
	}
	return "[" + job + "/" + step + "] "
}

// location renders file:line:col, leaving out the parts that are unset.
func (a Annotation) location() string {
	if a.File == "" {
		return ""
	}
	loc := a.File
	if a.Line > 0 {
		loc += ":" + strconv.Itoa(a.Line)
		if a.Col > 0 {
			loc += ":" + strconv.Itoa(a.Col)
		}
	}
	return loc
}

// body renders "TITLE: MESSAGE" or "MESSAGE".
func (a Annotation) body() string {
	if a.Title != "" {
		return a.Title + ": " + a.Message
	}
	return a.Message
}

// AnnotationText is an annotation without its level: "FILE:LINE:COL: TITLE: MESSAGE" with
// empty parts left out, as an agent logs it (its level is the line's kind).
func AnnotationText(a Annotation) string {
	if loc := a.location(); loc != "" {
		return loc + ": " + a.body()
	}
	return a.body()
}

// annotationLine is "LEVEL FILE:LINE:COL: TITLE: MESSAGE" with empty parts
// left out, e.g. "error: boom" or "warning a.py:3: careful".
func annotationLine(a Annotation) string {
	head := a.Level
	if loc := a.location(); loc != "" {
		head += " " + loc
	}
	return head + ": " + a.body()
}

// StepFinishedText is how a StepFinished event reads in a log: the same on a
// terminal, in a plain log and in an agent's log on the server.
func StepFinishedText(e Event) string { return stepFinishedText(e) }

// JobFinishedText is how a JobFinished event reads in a log.
func JobFinishedText(e Event) string { return jobFinishedText(e) }

// stepFinishedText is "step RESULT (DURATION) - TEXT (continue-on-error)".
func stepFinishedText(e Event) string {
	if e.Result == Skipped {
		return "step skipped"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "step %s (%s)", e.Result, FormatDuration(e.Duration))
	if e.Text != "" {
		b.WriteString(" - " + e.Text)
	}
	if e.ContinueOnError {
		b.WriteString(" (continue-on-error)")
	}
	return b.String()
}

// jobFinishedText is "job RESULT (DURATION) - TEXT".
func jobFinishedText(e Event) string {
	s := fmt.Sprintf("job %s (%s)", e.Result, FormatDuration(e.Duration))
	if e.Text != "" {
		s += " - " + e.Text
	}
	return s
}

// eventAnnotation is the annotation of an AnnotationAdded event with its
// job and step filled from the event when the annotation lacks them.
func eventAnnotation(e Event) Annotation {
	var a Annotation
	if e.Annotation != nil {
		a = *e.Annotation
	}
	if a.Job == "" {
		a.Job = e.Job
	}
	if a.Step == "" {
		a.Step = e.Step
	}
	if a.Message == "" && e.Text != "" {
		a.Message = e.Text
	}
	if a.Level == "" {
		a.Level = "notice"
	}
	return a
}
