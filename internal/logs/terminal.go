package logs

import (
	"strings"
	"unicode/utf8"
)

// A job's output is the job's to choose, and a terminal obeys what it is
// sent: OSC 52 writes the clipboard, OSC 8 disguises links, cursor and
// erase sequences rewrite what was printed before, some sequences make a
// terminal answer as if typed. Before a job's text reaches a person's
// terminal, every control sequence and control character goes, except the
// colours and styles of SGR (ESC [ ... m) and tabs.

// ForTerminal returns s without terminal control sequences or control
// characters (newlines included: it cleans one line), SGR colour sequences
// kept.
func ForTerminal(s string) string {
	if !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			i = escape(&b, s, i)
		case c == '\t':
			b.WriteByte(c)
			i++
		case c < 0x20 || c == 0x7f:
			i++ // C0 controls: \r, \b, BEL and the rest
		case c < 0x80:
			b.WriteByte(c)
			i++
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteRune(utf8.RuneError)
			} else if r >= 0x80 && r <= 0x9f {
				// C1 controls (CSI, OSC, DCS as single characters): a
				// terminal that honours them reads what follows as a
				// sequence, so the sequence goes too.
				i = c1Sequence(s, i, r, n)
				continue
			} else {
				b.WriteString(s[i : i+n])
			}
			i += n
		}
	}
	return b.String()
}

func needsCleaning(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' || c == 0x7f || c == 0xc2 {
			return true
		}
	}
	return !utf8.ValidString(s)
}

// escape handles the sequence starting at s[i] == ESC: an SGR is copied,
// anything else is skipped; it returns the index after it.
func escape(b *strings.Builder, s string, i int) int {
	if i+1 >= len(s) {
		return i + 1
	}
	switch s[i+1] {
	case '[': // CSI: parameters 0x30-0x3f, intermediates 0x20-0x2f, final 0x40-0x7e
		j := i + 2
		for j < len(s) && s[j] >= 0x30 && s[j] <= 0x3f {
			j++
		}
		params := s[i+2 : j]
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j >= len(s) {
			return len(s)
		}
		if s[j] == 'm' && sgrParams(params) && j == i+2+len(params) {
			b.WriteString(s[i : j+1])
		}
		if s[j] >= 0x40 && s[j] <= 0x7e {
			return j + 1
		}
		return j // not a final byte: drop what was read, keep the rest
	case ']', 'P', '_', '^', 'X': // OSC, DCS, APC, PM, SOS: up to BEL or ST
		return stringEnd(s, i+2)
	}
	// Two-character sequences (ESC c, ESC 7, ESC =, ...) and charset
	// selections (ESC ( B): skip the intermediates and the final.
	j := i + 1
	for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
		j++
	}
	if j < len(s) {
		j++
	}
	return j
}

// sgrParams accepts only what colours use: digits, ';' and ':'.
func sgrParams(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= '0' && c <= '9' || c == ';' || c == ':') {
			return false
		}
	}
	return true
}

// stringEnd returns the index after a control string's terminator (BEL,
// ESC \, or C1 ST), or the end of s.
func stringEnd(s string, j int) int {
	for j < len(s) {
		switch {
		case s[j] == 0x07:
			return j + 1
		case s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\':
			return j + 2
		case s[j] == 0xc2 && j+1 < len(s) && s[j+1] == 0x9c:
			return j + 2
		}
		j++
	}
	return len(s)
}

// c1Sequence skips a C1 control at s[i] (n bytes) and, for the ones that
// open a sequence, what belongs to it.
func c1Sequence(s string, i int, r rune, n int) int {
	j := i + n
	switch r {
	case 0x9b: // CSI
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
			j++
		}
		if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
			j++
		}
	case 0x9d, 0x90, 0x9f, 0x9e, 0x98: // OSC, DCS, APC, PM, SOS
		j = stringEnd(s, j)
	}
	return j
}

// TerminalSafe wraps a sink that writes to a terminal so that the text of
// every event reaches it through ForTerminal.
func TerminalSafe(s Sink) Sink { return terminalSink{s} }

type terminalSink struct{ next Sink }

func (t terminalSink) Emit(e Event) {
	e.Text = keepNewlines(e.Text)
	e.Job = ForTerminal(e.Job)
	e.Step = ForTerminal(e.Step)
	if e.Annotation != nil {
		a := cleanAnnotation(*e.Annotation)
		e.Annotation = &a
	}
	if e.Summary != nil {
		sum := *e.Summary
		sum.Jobs = append([]JobSummary(nil), sum.Jobs...)
		for i := range sum.Jobs {
			j := &sum.Jobs[i]
			j.Job, j.StepSummary = ForTerminal(j.Job), keepNewlines(j.StepSummary)
			if j.Tests != nil {
				ts := *j.Tests
				ts.Line = ForTerminal(ts.Line)
				ts.Failures = append([]string(nil), ts.Failures...)
				for k := range ts.Failures {
					ts.Failures[k] = ForTerminal(ts.Failures[k])
				}
				j.Tests = &ts
			}
		}
		sum.Annotations = append([]Annotation(nil), sum.Annotations...)
		for i := range sum.Annotations {
			sum.Annotations[i] = cleanAnnotation(sum.Annotations[i])
		}
		e.Summary = &sum
	}
	t.next.Emit(e)
}

func cleanAnnotation(a Annotation) Annotation {
	a.Message, a.Title, a.File = keepNewlines(a.Message), ForTerminal(a.Title), ForTerminal(a.File)
	a.Job, a.Step = ForTerminal(a.Job), ForTerminal(a.Step)
	return a
}

// keepNewlines cleans a multi-line text line by line.
func keepNewlines(s string) string {
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = ForTerminal(p)
	}
	return strings.Join(parts, "\n")
}
