package release

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/gitrepo"
	"github.com/sluice-ci/sluice/internal/python"
)

func mustV(t *testing.T, s string) python.Version {
	t.Helper()
	v, err := python.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNext(t *testing.T) {
	cases := []struct {
		current, final string
		inc            Increment
		rules          Rules
		want           string
	}{
		{"1.2.3", "1.2.3", Patch, Rules{}, "1.2.4"},
		{"1.2.3", "1.2.3", Minor, Rules{}, "1.3.0"},
		{"1.2.3", "1.2.3", Major, Rules{}, "2.0.0"},
		{"1.2", "1.2", Patch, Rules{}, "1.2.1"},
		// 0.x: a breaking change makes 1.0.0 unless major-version-zero holds it.
		{"0.4.1", "0.4.1", Major, Rules{}, "1.0.0"},
		{"0.4.1", "0.4.1", Major, Rules{MajorVersionZero: true}, "0.5.0"},
		{"0.4.1", "0.4.1", Minor, Rules{MajorVersionZero: true}, "0.5.0"},
		{"0.4.1", "0.4.1", Patch, Rules{MajorVersionZero: true}, "0.4.2"},
		// Pre-releases: a series starts at 0, continues, switches kind, grows, ends.
		{"1.2.3", "1.2.3", Minor, Rules{Prerelease: "a"}, "1.3.0a0"},
		{"1.3.0a0", "1.2.3", Minor, Rules{Prerelease: "a"}, "1.3.0a1"},
		{"1.3.0a1", "1.2.3", Patch, Rules{Prerelease: "b"}, "1.3.0b0"},
		{"1.3.0b0", "1.2.3", Minor, Rules{Prerelease: "a"}, "1.3.0b1"},
		{"1.3.0rc1", "1.2.3", Major, Rules{Prerelease: "rc"}, "2.0.0rc0"},
		{"1.3.0rc1", "1.2.3", Minor, Rules{}, "1.3.0"},
		{"1.2.3", "1.2.3", Patch, Rules{Devrelease: 4}, "1.2.4.dev4"},
		{"1!1.0", "1!1.0", Minor, Rules{}, "1!1.1.0"},
	}
	for _, c := range cases {
		c.rules.Devrelease = max(c.rules.Devrelease, -1)
		if c.rules.Devrelease == 0 {
			c.rules.Devrelease = -1
		}
		got, err := Next(mustV(t, c.current), mustV(t, c.final), c.inc, c.rules)
		if err != nil {
			t.Errorf("Next(%s, %s, %s): %v", c.current, c.final, c.inc, err)
			continue
		}
		if got.String() != c.want {
			t.Errorf("Next(%s, final %s, %s, %+v) = %s, want %s", c.current, c.final, c.inc, c.rules, got, c.want)
		}
	}
}

func TestParseCommit(t *testing.T) {
	cases := []struct {
		subject, body string
		want          Change
	}{
		{"feat(api): add users", "", Change{Type: "feat", Scope: "api", Description: "add users"}},
		{"fix!: drop py3.8", "", Change{Type: "fix", Breaking: true, Description: "drop py3.8"}},
		{"refactor: x", "body\n\nBREAKING CHANGE: config moved", Change{Type: "refactor", Breaking: true, Description: "x", BreakingNote: "config moved"}},
		{"Update README", "", Change{Description: "Update README"}},
		{"feat:no space", "", Change{Description: "feat:no space"}},
	}
	for _, c := range cases {
		got := ParseCommit(gitrepo.Commit{Subject: c.subject, Body: c.body})
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("ParseCommit(%q) (-want +got):\n%s", c.subject, d)
		}
	}
}

func TestPrependKeepsUnreleasedOnTop(t *testing.T) {
	old := "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n- wip\n\n## [1.0.0] - 2025-01-01\n\n- first\n"
	sec := Section("1.1.0", time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC),
		[]Change{{SHA: "abcdef123456", Type: "feat", Scope: "cli", Description: "new flag"}, {SHA: "1234567890", Type: "fix", Description: "crash"}},
		"https://git.example.com/o/r/commit/{sha}")
	got := Prepend(old, sec)
	want := "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n- wip\n\n## [1.1.0] - 2026-02-03\n\n### Added\n\n- **cli**: new flag ([abcdef1](https://git.example.com/o/r/commit/abcdef123456))\n\n### Fixed\n\n- crash ([1234567](https://git.example.com/o/r/commit/1234567890))\n\n## [1.0.0] - 2025-01-01\n\n- first\n"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Prepend (-want +got):\n%s", d)
	}
	if fresh := Prepend("", sec); !strings.HasPrefix(fresh, "# Changelog") || !strings.Contains(fresh, "## [1.1.0]") {
		t.Errorf("new changelog:\n%s", fresh)
	}
}

func TestSetLockSelfOnlyTouchesTheProject(t *testing.T) {
	lock := `version = 1
requires-python = ">=3.9"

[[package]]
name = "app"
version = "1.0.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "app"
version = "1.0.0"
source = { editable = "." }
dependencies = [
    { name = "idna" },
]

[package.metadata]
requires-dist = [{ name = "idna" }]

[[package]]
name = "idna"
version = "1.0.0"
source = { registry = "https://pypi.org/simple" }
`
	out, ok := setLockSelf([]byte(lock), "App", "1.1.0")
	if !ok {
		t.Fatal("project entry not found")
	}
	want := strings.Replace(lock, "version = \"1.0.0\"\nsource = { editable", "version = \"1.1.0\"\nsource = { editable", 1)
	if d := cmp.Diff(want, string(out)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func FuzzSetLockSelf(f *testing.F) {
	f.Add("[[package]]\nname = \"a\"\nversion = \"1\"\nsource = { virtual = \".\" }\n", "a")
	f.Add("\n[[package]]\n[[package]]\nname=\"a\"\n", "a")
	f.Fuzz(func(t *testing.T, lock, name string) {
		out, ok := setLockSelf([]byte(lock), name, "9.9.9")
		if !ok && string(out) != lock {
			t.Fatal("changed a lock without saying so")
		}
	})
}
