package testreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestParseJUnitSamples(t *testing.T) {
	tests := []struct {
		file string
		want *Report
	}{
		{
			file: "surefire.xml",
			want: &Report{
				Passed: 1, Failed: 1, Errors: 1, Skipped: 1, Duration: 1204500 * time.Millisecond,
				Cases: []Case{
					{Suite: "com.example.CalcTest", Class: "com.example.CalcTest", Name: "adds", Status: "passed", Duration: ms(12)},
					{Suite: "com.example.CalcTest", Class: "com.example.CalcTest", Name: "divides", Status: "failed", Duration: ms(3),
						Message: "expected: <2> but was: <3>",
						Output: "org.opentest4j.AssertionFailedError: expected: <2> but was: <3>\n\tat com.example.CalcTest.divides(CalcTest.java:21)\n" +
							"----- stdout -----\ndividing 6 by 3"},
					{Suite: "com.example.CalcTest", Class: "com.example.CalcTest", Name: "parses", Status: "error", Duration: ms(1),
						Message: "java.lang.NullPointerException: input",
						Output:  "java.lang.NullPointerException: input\n\tat com.example.Calc.parse(Calc.java:9)"},
					{Suite: "com.example.CalcTest", Class: "com.example.CalcTest", Name: "later", Status: "skipped"},
				},
			},
		},
		{
			file: "jest.xml",
			want: &Report{
				Passed: 1, Failed: 1, Skipped: 1, Duration: 2500 * time.Millisecond,
				Cases: []Case{
					{Suite: "cart", Class: "cart adds items", Name: "cart adds items", Status: "passed", Duration: ms(4), File: "src/cart.test.js"},
					{Suite: "cart", Class: "cart totals", Name: "cart totals", Status: "failed", Duration: ms(10), File: "src/cart.test.js",
						Message: "Error: expect(received).toBe(expected)",
						Output:  "Error: expect(received).toBe(expected)\n\nExpected: 30\nReceived: 20\n    at Object.<anonymous> (src/cart.test.js:14:20)"},
					{Suite: "cart", Class: "cart discounts", Name: "cart discounts", Status: "skipped", File: "src/cart.test.js"},
				},
			},
		},
		{
			file: "go-junit-report.xml",
			want: &Report{
				Passed: 1, Failed: 1, Duration: ms(4),
				Cases: []Case{
					{Suite: "example.com/calc", Class: "example.com/calc", Name: "TestAdd", Status: "passed", Duration: ms(1)},
					{Suite: "example.com/calc", Class: "example.com/calc", Name: "TestSub/negative", Status: "failed", Duration: ms(2),
						Message: "Failed", Output: "    calc_test.go:18: Sub(1, 2) = 1, want -1"},
				},
			},
		},
		{
			file: "phpunit-nested.xml",
			want: &Report{
				Passed: 1, Failed: 1, Duration: ms(30),
				Cases: []Case{
					{Suite: "MathTest", Class: "MathTest", Name: "testSum", Status: "passed", Duration: ms(10), File: "/app/tests/MathTest.php", Line: 12},
					{Suite: "MathTest", Class: "MathTest", Name: "testDiv", Status: "failed", Duration: ms(20), File: "/app/tests/MathTest.php", Line: 18,
						Message: "MathTest::testDiv",
						Output:  "MathTest::testDiv\nFailed asserting that 3 matches expected 2.\n\n/app/tests/MathTest.php:20"},
				},
			},
		},
		{
			file: "latin1.xml",
			want: &Report{
				Failed: 1, Duration: ms(500),
				Cases: []Case{
					{Suite: "café", Class: "t", Name: "naïve", Status: "failed", Duration: ms(500), Message: "résumé mismatch", Output: "diff"},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseJUnit(f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseJUnitMalformed(t *testing.T) {
	tests := []struct {
		name, xml, want string
	}{
		{"empty", "", "no root element"},
		{"whitespace only", "  \n", "no root element"},
		{"not xml", "collected 3 items\n", "before the root element"},
		{"truncated", `<testsuites><testsuite name="a"><testcase name="t">`, "unexpected end of file"},
		{"mismatched tags", "<testsuite>\n<testcase name=\"t\"></testsuite>", "line 2"},
		{"wrong root", `<html><body>502 Bad Gateway</body></html>`, "root element is <html>"},
		{"two roots", `<testsuite name="a"/><testsuite name="b"/>`, "second root element"},
		{"unknown charset", `<?xml version="1.0" encoding="EBCDIC"?><testsuite/>`, "EBCDIC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseJUnit(strings.NewReader(tt.xml))
			if err == nil {
				t.Fatalf("parsed %+v, want error containing %q", r, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "parsing JUnit XML") {
				t.Errorf("error %q, want one starting \"parsing JUnit XML\" containing %q", err, tt.want)
			}
		})
	}
}
