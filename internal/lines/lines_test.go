package lines

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitter(t *testing.T) {
	var got []string
	s := &Splitter{Line: func(l string) { got = append(got, l) }}
	long := strings.Repeat("x", Max+1000)
	for _, chunk := range []string{"one\r\ntw", "o\n", long[:10], long[10:], "\nthree\n", "no newline"} {
		s.Write([]byte(chunk))
	}
	s.Flush()
	want := []string{"one", "two", strings.Repeat("x", Max) + Marker(1000), "three", "no newline"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if cap(s.buf) > 2*Max {
		t.Errorf("the splitter holds %d bytes for one line, want at most about %d", cap(s.buf), Max)
	}
}

// TestSplitterEndlessLine: a line of many megabytes, written in chunks,
// costs no more than Max bytes and the lines after it are kept.
func TestSplitterEndlessLine(t *testing.T) {
	var got []string
	s := &Splitter{Line: func(l string) { got = append(got, l) }}
	chunk := []byte(strings.Repeat("y", 1<<20))
	for i := 0; i < 70; i++ {
		s.Write(chunk)
	}
	s.Write([]byte("\nafter\n"))
	if len(got) != 2 || got[1] != "after" || !strings.HasSuffix(got[0], Marker(70<<20-Max)) {
		t.Fatalf("got %d lines, last %q", len(got), got[len(got)-1])
	}
	if cap(s.buf) > 2*Max {
		t.Errorf("the splitter grew to %d bytes", cap(s.buf))
	}
}

func TestCut(t *testing.T) {
	if Cut("short") != "short" {
		t.Error("a short line was changed")
	}
	s := strings.Repeat("é", Max) // 2 bytes each
	c := Cut(s)
	if !strings.HasSuffix(c, " more dropped]") || len(c) > Max+len(Marker(int64(len(s)))) {
		t.Errorf("Cut gave %d bytes ending %q", len(c), c[len(c)-40:])
	}
	if !strings.HasPrefix(c, strings.Repeat("é", Max/2)) {
		t.Error("Cut did not keep the first Max bytes")
	}
}
