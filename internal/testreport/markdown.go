package testreport

import (
	"fmt"
	"strings"
)

// linesPerFailure bounds each failure's excerpt so a summary stays short.
const linesPerFailure = 6

// Markdown renders the summary line and, for up to maxFailures (negative: all) failed or
// errored cases, the test id and the first lines of its message — for a job
// summary ($GITHUB_STEP_SUMMARY) or a run page.
func (r *Report) Markdown(maxFailures int) string {
	var b strings.Builder
	icon := "✅"
	if r.Failed+r.Errors > 0 {
		icon = "❌"
	}
	fmt.Fprintf(&b, "%s **%s**\n", icon, r.Summary())
	failures := r.Failures()
	if len(failures) == 0 {
		return b.String()
	}
	b.WriteString("\n")
	shown := failures
	if maxFailures >= 0 && len(shown) > maxFailures {
		shown = shown[:maxFailures]
	}
	for _, c := range shown {
		fmt.Fprintf(&b, "- %s `%s`", c.Status, inlineCode(c.ID()))
		if c.File != "" && c.Line > 0 {
			fmt.Fprintf(&b, " (%s:%d)", c.File, c.Line)
		}
		b.WriteString("\n")
		text := c.Message
		if strings.TrimSpace(text) == "" {
			text = c.Output
		}
		if excerpt := firstLines(text, linesPerFailure); excerpt != "" {
			fence := fenceFor(excerpt)
			fmt.Fprintf(&b, "  %s\n", fence)
			for _, l := range strings.Split(excerpt, "\n") {
				b.WriteString("  " + l + "\n")
			}
			fmt.Fprintf(&b, "  %s\n", fence)
		}
	}
	if rest := len(failures) - len(shown); rest > 0 {
		fmt.Fprintf(&b, "\n…and %d more\n", rest)
	}
	return b.String()
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.Trim(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), " \n")
}

// fenceFor picks a backtick fence longer than any run inside s, so test
// output cannot close the block early.
func fenceFor(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// inlineCode keeps a test id with backticks (rare, parametrize ids) from
// breaking its inline code span.
func inlineCode(s string) string {
	return strings.ReplaceAll(s, "`", "'")
}
