package testreport

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

type xmlSuites struct {
	Name   string     `xml:"name,attr"`
	Time   string     `xml:"time,attr"`
	Suites []xmlSuite `xml:"testsuite"`
}

type xmlSuite struct {
	Name      string     `xml:"name,attr"`
	Time      string     `xml:"time,attr"`
	File      string     `xml:"file,attr"`
	Cases     []xmlCase  `xml:"testcase"`
	Suites    []xmlSuite `xml:"testsuite"` // Ant, PHPUnit and others nest suites
	SystemOut []string   `xml:"system-out"`
	SystemErr []string   `xml:"system-err"`
}

type xmlCase struct {
	Name      string      `xml:"name,attr"`
	Classname string      `xml:"classname,attr"`
	Class     string      `xml:"class,attr"` // some tools write class= instead
	File      string      `xml:"file,attr"`
	Line      string      `xml:"line,attr"`
	Time      string      `xml:"time,attr"`
	Failures  []xmlResult `xml:"failure"`
	Errors    []xmlResult `xml:"error"`
	Skipped   []xmlResult `xml:"skipped"`
	SystemOut []string    `xml:"system-out"`
	SystemErr []string    `xml:"system-err"`
}

type xmlResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// ParseJUnit reads a JUnit XML report: pytest's --junitxml (xunit1 and
// xunit2 families) or any tool's <testsuites>/<testsuite>/<testcase> file.
func ParseJUnit(r io.Reader) (*Report, error) {
	d := xml.NewDecoder(r)
	d.CharsetReader = charsetReader
	root, err := rootElement(d)
	if err != nil {
		return nil, err
	}
	var suites []xmlSuite
	var total time.Duration
	var hasTotal, pytest bool
	switch root.Name.Local {
	case "testsuites":
		var s xmlSuites
		if err := d.DecodeElement(&s, &root); err != nil {
			return nil, syntaxError(err)
		}
		suites = s.Suites
		total, hasTotal = parseSeconds(s.Time)
		pytest = s.Name == "pytest tests"
	case "testsuite":
		var s xmlSuite
		if err := d.DecodeElement(&s, &root); err != nil {
			return nil, syntaxError(err)
		}
		suites = []xmlSuite{s}
	default:
		return nil, fmt.Errorf("parsing JUnit XML: root element is <%s>, want <testsuites> or <testsuite>", root.Name.Local)
	}
	if err := trailing(d); err != nil {
		return nil, err
	}
	rep := &Report{}
	var sum time.Duration
	for _, s := range suites {
		sum += addSuite(rep, s, pytest || s.Name == "pytest")
	}
	rep.Duration = sum
	if hasTotal {
		rep.Duration = total
	}
	return rep, nil
}

func rootElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, errors.New("parsing JUnit XML: no root element (empty file?)")
		}
		if err != nil {
			return xml.StartElement{}, syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, fmt.Errorf("parsing JUnit XML: text %q before the root element", excerpt(string(t), 40))
			}
		}
	}
}

// trailing makes sure nothing but whitespace, comments and processing
// instructions follows the root: a report cut off and concatenated with
// another is broken, not half right.
func trailing(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return fmt.Errorf("parsing JUnit XML: a second root element <%s>", t.Name.Local)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return fmt.Errorf("parsing JUnit XML: text %q after the root element", excerpt(string(t), 40))
			}
		}
	}
}

func syntaxError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Msg == "unexpected EOF" {
			return fmt.Errorf("parsing JUnit XML: unexpected end of file at line %d (truncated report?)", se.Line)
		}
		return fmt.Errorf("parsing JUnit XML: line %d: %s", se.Line, se.Msg)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("parsing JUnit XML: unexpected end of file (truncated report?)")
	}
	return fmt.Errorf("parsing JUnit XML: %w", err)
}

// addSuite adds the cases of s and its nested suites, and returns the
// suite's duration: its time attribute, else the sum of its cases.
func addSuite(rep *Report, s xmlSuite, pytest bool) time.Duration {
	var sum time.Duration
	for _, xc := range s.Cases {
		c := toCase(s, xc, pytest)
		sum += c.Duration
		rep.add(c)
	}
	for _, inner := range s.Suites {
		sum += addSuite(rep, inner, pytest)
	}
	if d, ok := parseSeconds(s.Time); ok {
		return d
	}
	return sum
}

// tracebackLocation matches "path/to/file.py:12: SomeError" lines that end
// pytest's long tracebacks and start its skip texts.
var tracebackLocation = lazyre.New(`(?m)^([^\s:][^:\n]*\.py):(\d+):`)

func toCase(s xmlSuite, xc xmlCase, pytest bool) Case {
	c := Case{
		Suite: s.Name,
		Class: firstNonEmpty(xc.Classname, xc.Class),
		Name:  xc.Name,
		File:  firstNonEmpty(xc.File, s.File),
	}
	c.Duration, _ = parseSeconds(xc.Time)
	if n, err := strconv.Atoi(strings.TrimSpace(xc.Line)); err == nil {
		c.Line = n
		if pytest {
			c.Line++ // pytest writes 0-based lines
		}
	}
	var res *xmlResult
	switch {
	case len(xc.Errors) > 0 && len(xc.Failures) == 0:
		c.Status, res = StatusError, &xc.Errors[0]
	case len(xc.Failures) > 0:
		c.Status, res = StatusFailed, &xc.Failures[0]
	case len(xc.Skipped) > 0:
		c.Status, res = StatusSkipped, &xc.Skipped[0]
	default:
		c.Status = StatusPassed
	}
	var out []string
	if res != nil {
		text := strings.Trim(res.Text, "\r\n")
		c.Message = strings.TrimSpace(res.Message)
		if c.Message == "" {
			c.Message = firstLine(text)
		}
		if strings.TrimSpace(text) != "" {
			out = append(out, text)
		}
		if c.File == "" {
			if m := lastMatch(tracebackLocation.Re(), text); m != nil {
				c.File = relativeToModule(m[1], c.Class)
				c.Line, _ = strconv.Atoi(m[2])
			}
		}
	}
	for _, o := range captured("stdout", xc.SystemOut) {
		out = append(out, o)
	}
	for _, o := range captured("stderr", xc.SystemErr) {
		out = append(out, o)
	}
	c.Output = strings.Join(out, "\n")
	return c
}

// captured keeps non-empty captured output, labelled unless pytest already
// put its own "Captured Out" banner in.
func captured(label string, parts []string) []string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(stripPytestBanners(p)) == "" {
			continue
		}
		p = strings.Trim(p, "\n")
		if !strings.Contains(p, "-- Captured ") {
			p = "----- " + label + " -----\n" + p
		}
		out = append(out, p)
	}
	return out
}

var pytestBanner = lazyre.New(`(?m)^-+ Captured \w+ -+$`)

func stripPytestBanners(s string) string { return pytestBanner.ReplaceAllString(s, "") }

// relativeToModule shortens an absolute path (pytest writes them in skip
// texts) to the path the test's dotted module name implies, so
// "/home/ci/work/tests/test_x.py" for class "tests.test_x.TestA" becomes
// "tests/test_x.py", as annotations want workspace-relative paths.
func relativeToModule(file, class string) string {
	if !strings.HasPrefix(file, "/") || class == "" {
		return file
	}
	parts := strings.Split(class, ".")
	for n := len(parts); n > 0; n-- {
		cand := strings.Join(parts[:n], "/") + ".py"
		if strings.HasSuffix(file, "/"+cand) {
			return cand
		}
	}
	return file
}

func lastMatch(re *regexp.Regexp, s string) []string {
	all := re.FindAllStringSubmatch(s, -1)
	if len(all) == 0 {
		return nil
	}
	return all[len(all)-1]
}

// parseSeconds reads a time attribute; some tools write "1,234.5".
func parseSeconds(s string) (time.Duration, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// charsetReader accepts the encodings JUnit writers declare besides UTF-8.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		var out strings.Builder
		for _, c := range b {
			out.WriteRune(rune(c))
		}
		return strings.NewReader(out.String()), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", charset)
}
