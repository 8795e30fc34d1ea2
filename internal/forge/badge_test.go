package forge

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type svgDoc struct {
	XMLName   xml.Name `xml:"svg"`
	Width     int      `xml:"width,attr"`
	AriaLabel string   `xml:"aria-label,attr"`
	Title     string   `xml:"title"`
	Rects     []struct {
		Fill string `xml:"fill,attr"`
	} `xml:"g>rect"`
	Texts []string `xml:"g>text"`
}

func TestBadge(t *testing.T) {
	tests := []struct {
		label, message string
		st             State
		color          string
	}{
		{"build", "passing", Success, colorPassing},
		{"build", "failing", Failure, colorFailing},
		{"ci", "error", Error, colorError},
		{"ci", "running", Pending, colorRunning},
		{"ci", "unknown", "", colorUnknown},
		{`<script>&"x"</script>`, `a & b < c "d" 'e'`, Success, colorPassing},
		{"bad\x00control\x1b", "ünïcødé ✓", Failure, colorFailing},
	}
	for _, tt := range tests {
		svg := Badge(tt.label, tt.message, tt.st)
		var doc svgDoc
		dec := xml.NewDecoder(bytes.NewReader(svg))
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("Badge(%q, %q) is not well-formed XML: %v\n%s", tt.label, tt.message, err, svg)
		}
		// Characters XML cannot carry come back as U+FFFD; all others verbatim.
		label := strings.Map(func(r rune) rune {
			if r < 0x20 {
				return '\uFFFD'
			}
			return r
		}, tt.label)
		want := []string{label, label, tt.message, tt.message}
		if diff := cmp.Diff(want, doc.Texts); diff != "" {
			t.Errorf("texts (-want +got):\n%s", diff)
		}
		if doc.Title != label+": "+tt.message || doc.AriaLabel != doc.Title {
			t.Errorf("title %q, aria-label %q", doc.Title, doc.AriaLabel)
		}
		if len(doc.Rects) < 2 || doc.Rects[1].Fill != tt.color {
			t.Errorf("Badge(%q, %q, %q) rects %+v, want message colour %s", tt.label, tt.message, tt.st, doc.Rects, tt.color)
		}
		if bytes.Contains(svg, []byte("<script>")) {
			t.Errorf("unescaped markup in %s", svg)
		}
	}
}

func TestBadgeWidthGrowsWithText(t *testing.T) {
	var short, long svgDoc
	if err := xml.Unmarshal(Badge("ci", "ok", Success), &short); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(Badge("continuous integration", "passing on main", Success), &long); err != nil {
		t.Fatal(err)
	}
	if short.Width <= 0 || long.Width <= short.Width {
		t.Errorf("widths: short %d, long %d", short.Width, long.Width)
	}
}
