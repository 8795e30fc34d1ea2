package testreport

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const pytestSource = `import sys
import pytest


def test_pass():
    print("out line")


def test_fail():
    assert 1 + 1 == 3, "math is broken"


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_error(broken):
    pass


@pytest.fixture
def bad_teardown():
    yield
    raise ValueError("teardown boom")


def test_fail_and_teardown(bad_teardown):
    assert False


@pytest.mark.skip(reason="not today")
def test_skip():
    pass


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False


@pytest.mark.xfail(reason="strict", strict=True)
def test_xpass_strict():
    pass


class TestGroup:
    @pytest.mark.parametrize("n", [1, 2])
    def test_param(self, n):
        sys.stderr.write("err %d\n" % n)
        assert n == 1
`

// lineOf is the 1-based line of the first source line containing s.
func lineOf(t *testing.T, s string) int {
	t.Helper()
	for i, l := range strings.Split(pytestSource, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in the test source", s)
	return 0
}

// pytestPython finds a python with pytest, installing it into a cached venv
// when the system has none.
func pytestPython(t *testing.T) string {
	t.Helper()
	if err := exec.Command("python3", "-m", "pytest", "--version").Run(); err == nil {
		return "python3"
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not found: cannot run pytest")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	venv := filepath.Join(cache, "sluice-test-tools", "pytest")
	py := filepath.Join(venv, "bin", "python")
	if err := exec.Command(py, "-m", "pytest", "--version").Run(); err == nil {
		return py
	}
	for _, args := range [][]string{{"python3", "-m", "venv", venv}, {py, "-m", "pip", "install", "-q", "pytest"}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Skipf("cannot install pytest (%s): %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return py
}

// brief is the part of a Case this test pins down exactly; durations and
// tracebacks are pytest's business.
type brief struct {
	ID, Status, Message, File string
	Line                      int
}

func TestParsePytestJUnit(t *testing.T) {
	python := pytestPython(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tests", "test_demo.py"), []byte(pytestSource), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const file = "tests/test_demo.py"
	for _, family := range []string{"xunit1", "xunit2"} {
		t.Run(family, func(t *testing.T) {
			out := filepath.Join(dir, family+".xml")
			cmd := exec.CommandContext(ctx, python, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", dir,
				"-o", "junit_family="+family, "-o", "junit_logging=all", "--junitxml", out, "tests")
			cmd.Dir = dir
			log, err := cmd.CombinedOutput()
			// Exit status 1 means "tests failed", which they must here.
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
				t.Fatalf("pytest: %v\n%s", err, log)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatalf("pytest wrote no report: %v\n%s", err, log)
			}
			defer f.Close()
			rep, err := ParseJUnit(f)
			if err != nil {
				t.Fatal(err)
			}

			// xunit1 names each test's file and (decorator or def) line;
			// xunit2 does not, so failures are located by their traceback
			// and passing tests not at all.
			defLine := func(marker string) (string, int) {
				if family == "xunit1" {
					return file, lineOf(t, marker)
				}
				return "", 0
			}
			located := func(marker, failure string) (string, int) {
				if family == "xunit1" {
					return defLine(marker)
				}
				return file, lineOf(t, failure)
			}
			// Every id is one pytest accepts, whether or not the report
			// located the test: xunit2 gives only the dotted classname.
			id := func(class, name, _ string) string {
				return "tests/test_demo.py" + strings.ReplaceAll(class, ".", "::") + "::" + name
			}
			var want []brief
			add := func(class, name, status, msg string, file string, line int) {
				want = append(want, brief{ID: id(class, name, file), Status: status, Message: msg, File: file, Line: line})
			}
			f1, l1 := defLine("def test_pass")
			add("", "test_pass", "passed", "", f1, l1)
			f1, l1 = located("def test_fail()", "assert 1 + 1 == 3")
			add("", "test_fail", "failed", "AssertionError: math is broken\nassert (1 + 1) == 3", f1, l1)
			f1, l1 = located("def test_error", `raise RuntimeError("fixture exploded")`)
			add("", "test_error", "error", `failed on setup with "RuntimeError: fixture exploded"`, f1, l1)
			f1, l1 = located("def test_fail_and_teardown", "    assert False")
			add("", "test_fail_and_teardown", "failed", "assert False", f1, l1)
			f1, l1 = located("def test_fail_and_teardown", `raise ValueError("teardown boom")`)
			add("", "test_fail_and_teardown", "error", `failed on teardown with "ValueError: teardown boom"`, f1, l1)
			// pytest's skip text gives the absolute path of the test file;
			// the module name makes it relative again.
			f1, l1 = file, lineOf(t, "@pytest.mark.skip")
			add("", "test_skip", "skipped", "not today", f1, l1)
			f1, l1 = defLine(`@pytest.mark.xfail(reason="known bug")`)
			add("", "test_xfail", "skipped", "known bug", f1, l1)
			f1, l1 = defLine(`@pytest.mark.xfail(reason="strict"`)
			add("", "test_xpass_strict", "failed", "[XPASS(strict)] strict", f1, l1)
			f1, l1 = defLine(`@pytest.mark.parametrize`)
			add(".TestGroup", "test_param[1]", "passed", "", f1, l1)
			f1, l1 = located(`@pytest.mark.parametrize`, "assert n == 1")
			add(".TestGroup", "test_param[2]", "failed", "assert 2 == 1", f1, l1)

			var got []brief
			for _, c := range rep.Cases {
				got = append(got, brief{ID: c.ID(), Status: c.Status, Message: c.Message, File: c.File, Line: c.Line})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cases (-want +got):\n%s\npytest said:\n%s", diff, log)
			}
			if s := rep.Summary(); !strings.HasPrefix(s, "2 passed, 4 failed, 2 errors, 2 skipped in ") {
				t.Errorf("Summary() = %q", s)
			}
			// pytest's own tally line, e.g. "4 failed, 2 passed, 1 skipped, 1 xfailed, 2 errors in 0.09s".
			if !strings.Contains(string(log), "4 failed, 2 passed, 1 skipped, 1 xfailed, 2 errors") {
				t.Errorf("pytest's own summary differs from what this test expects:\n%s", log)
			}
			outputs := map[string]string{}
			for _, c := range rep.Cases {
				outputs[c.Name] += c.Output
			}
			for name, s := range map[string]string{
				"test_pass":     "out line",
				"test_param[2]": "err 2",
				"test_fail":     "E       AssertionError: math is broken",
			} {
				if !strings.Contains(outputs[name], s) {
					t.Errorf("output of %s lacks %q:\n%s", name, s, outputs[name])
				}
			}
			if rep.Duration <= 0 {
				t.Errorf("report duration %v, want the suite's time", rep.Duration)
			}
		})
	}
}
