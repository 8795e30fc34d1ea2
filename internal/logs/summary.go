package logs

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ANSI styles used when color is on.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiGrey   = "\x1b[90m"
)

// columnGap separates the summary table's columns.
const columnGap = 4

func resultColor(r Result) string {
	switch r {
	case Success:
		return ansiGreen
	case Failure:
		return ansiRed
	case Cancelled:
		return ansiYellow
	}
	return ansiGrey
}

func levelColor(level string) string {
	switch level {
	case "error":
		return ansiRed
	case "warning":
		return ansiYellow
	}
	return ""
}

// WriteSummary prints the end-of-run summary: a table of jobs, the
// annotations, each job's step summary, where the logs are, and the verdict.
// Empty sections are left out. With color, results and levels are coloured.
func WriteSummary(w io.Writer, s RunSummary, color bool) {
	paint := func(style, text string) string {
		if !color || style == "" {
			return text
		}
		return style + text + ansiReset
	}
	var sections []string

	if len(s.Jobs) > 0 {
		var b strings.Builder
		jobW, resW := utf8.RuneCountInString("JOB"), utf8.RuneCountInString("RESULT")
		for _, j := range s.Jobs {
			jobW = max(jobW, utf8.RuneCountInString(j.Job))
			resW = max(resW, utf8.RuneCountInString(string(j.Result)))
		}
		jobW += columnGap
		resW += columnGap
		b.WriteString(paint(ansiBold, pad("JOB", jobW)+pad("RESULT", resW)+"DURATION") + "\n")
		for _, j := range s.Jobs {
			// Pad before painting: escape codes have no width on screen.
			note := ""
			if j.ContinueOnError {
				note = " (continue-on-error)"
			}
			if j.Reason != "" && j.Result != Success {
				note += " - " + j.Reason
			}
			b.WriteString(pad(j.Job, jobW) + paint(resultColor(j.Result), string(j.Result)) +
				strings.Repeat(" ", resW-utf8.RuneCountInString(string(j.Result))) +
				FormatDuration(j.Duration) + note + "\n")
		}
		sections = append(sections, b.String())
	}

	if len(s.Annotations) > 0 {
		var b strings.Builder
		b.WriteString("Annotations:\n")
		for _, a := range s.Annotations {
			where := a.Job
			if a.Step != "" {
				where += "/" + a.Step
			}
			text := ""
			if loc := a.location(); loc != "" {
				text = loc + ": "
			}
			text += a.body()
			line := paint(levelColor(a.Level), a.Level) + " " + where + ": " + text
			b.WriteString(indent(line, "  ", "    "))
		}
		sections = append(sections, b.String())
	}

	for _, j := range s.Jobs {
		if j.Tests == nil {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Tests (%s): %s\n", j.Job, j.Tests.Line)
		for _, f := range j.Tests.Failures {
			b.WriteString(indent(paint(levelColor("error"), "FAILED")+" "+f, "  ", "    "))
		}
		sections = append(sections, b.String())
	}

	for _, j := range s.Jobs {
		md := strings.TrimRight(j.StepSummary, "\r\n\t ")
		if md == "" {
			continue
		}
		sections = append(sections, fmt.Sprintf("Step summary (%s):\n", j.Job)+indent(md, "  ", "  "))
	}

	footer := ""
	if s.LogDir != "" {
		footer = "Logs: " + s.LogDir + "\n"
	}
	run := "Run"
	if s.RunID != "" {
		run += " " + s.RunID
	}
	footer += fmt.Sprintf("%s: %s in %s\n", run, paint(resultColor(s.Result), string(s.Result)), FormatDuration(s.Duration))
	sections = append(sections, footer)

	_, _ = io.WriteString(w, "\n"+strings.Join(sections, "\n"))
}

// pad left-justifies s in width runes.
func pad(s string, width int) string {
	n := utf8.RuneCountInString(s)
	if n >= width {
		return s
	}
	return s + strings.Repeat(" ", width-n)
}

// indent prefixes the first line of text with first and the others with
// rest; blank lines stay empty so no line ends in spaces.
func indent(text, first, rest string) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		switch {
		case line == "":
		case i == 0:
			b.WriteString(first + line)
		default:
			b.WriteString(rest + line)
		}
		b.WriteString("\n")
	}
	return b.String()
}
