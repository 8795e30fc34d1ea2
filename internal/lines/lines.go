// Package lines turns a process's output into log lines of bounded length.
// A line longer than Max is cut there and marked, and the rest of it is read
// and dropped without being held: a step printing one endless line costs no
// memory, and every later line (and step) is still logged.
package lines

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Max is the longest log line kept, in bytes (64 KiB); a longer one is cut
// and ends with the Marker.
const Max = 64 << 10

// Marker is what ends a line cut at Max, saying how much was dropped.
func Marker(dropped int64) string {
	return fmt.Sprintf(" … [sluice: line cut at %d bytes, %d more dropped]", Max, dropped)
}

// markerRoom is room for a Marker: a line cut once is not cut again.
const markerRoom = 96

// Cut bounds one line: s when it fits (a line already cut included), else
// its first Max bytes (on a UTF-8 boundary) and the Marker.
func Cut(s string) string {
	if len(s) <= Max+markerRoom {
		return s
	}
	i := Max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + Marker(int64(len(s)-i))
}

// Splitter is an io.Writer calling Line with each line written (without the
// newline and a trailing \r), cut at Max.
type Splitter struct {
	Line func(string)

	buf     []byte
	dropped int64 // bytes of the current line past Max
}

// Write takes output in any chunks; it never fails.
func (s *Splitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		room := Max - len(s.buf)
		if room > 0 {
			take := min(room, len(chunk))
			s.buf = append(s.buf, chunk[:take]...)
			chunk = chunk[take:]
		}
		s.dropped += int64(len(chunk))
		if i < 0 {
			break
		}
		s.emit()
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits a last line that had no newline.
func (s *Splitter) Flush() {
	if len(s.buf) > 0 || s.dropped > 0 {
		s.emit()
	}
}

func (s *Splitter) emit() {
	line := string(bytes.TrimSuffix(s.buf, []byte("\r")))
	if s.dropped > 0 {
		// The cut may fall inside a character.
		cut := strings.ToValidUTF8(line, "")
		line = cut + Marker(s.dropped+int64(len(line)-len(cut)))
	}
	s.buf, s.dropped = s.buf[:0], 0
	if s.Line != nil {
		s.Line(line)
	}
}
