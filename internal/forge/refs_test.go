package forge

import (
	"errors"
	"strings"
	"testing"
)

// TestParseRefusesHostileRefsAndSHAs: every ref and commit id a delivery
// carries is checked before anything uses it; a value that could read as a
// git option, or is not a ref or an object id at all, makes the delivery
// malformed.
func TestParseRefusesHostileRefsAndSHAs(t *testing.T) {
	good := strings.Repeat("a", 40)
	push := func(ref, before, after string) string {
		return `{"ref":"` + ref + `","before":"` + before + `","after":"` + after + `","repository":{"full_name":"o/r"},
			"head_commit":{"id":"` + after + `"},"commits":[]}`
	}
	tests := []struct{ name, body string }{
		{"after as an option", push("refs/heads/main", good, "--upload-pack=touch /tmp/x;false")},
		{"before as an option", push("refs/heads/main", "--output=/tmp/x", good)},
		{"short sha", push("refs/heads/main", good, "abc123")},
		{"ref as an option", push("--upload-pack=x", good, good)},
		{"ref component as an option", push("refs/heads/-x", good, good)},
		{"ref with dot-dot", push("refs/heads/a..b", good, good)},
		{"ref with space", push("refs/heads/a b", good, good)},
		{"ref with control", push(`refs/heads/a\u0001`, good, good)},
		{"ref with @{", push("refs/heads/a@{1}", good, good)},
		{"ref ending in .lock", push("refs/heads/a.lock", good, good)},
		{"ref not under refs", push("main", good, good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Parse(GitHub, headers("X-GitHub-Event", "push"), []byte(tt.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed", ev, err)
			}
		})
	}
	pr := `{"action":"opened","number":1,"pull_request":{"number":1,"head":{"ref":"--exec=x","sha":"` + good + `","repo":{"full_name":"o/r"}},
		"base":{"ref":"main","repo":{"full_name":"o/r"}}},"repository":{"full_name":"o/r"}}`
	if ev, err := Parse(GitHub, headers("X-GitHub-Event", "pull_request"), []byte(pr)); !errors.Is(err, ErrMalformed) {
		t.Errorf("pull request with head branch --exec=x: Parse = %+v, %v; want ErrMalformed", ev, err)
	}
	ok := push("refs/heads/feature/x-1.2", strings.Repeat("0", 40), strings.ToUpper(good))
	ev, err := Parse(GitHub, headers("X-GitHub-Event", "push"), []byte(ok))
	if err != nil {
		t.Fatalf("a valid push: %v", err)
	}
	if ev.After != good {
		t.Errorf("After = %q, want it lower-cased to %q", ev.After, good)
	}
}

func FuzzCheckRef(f *testing.F) {
	for _, s := range []string{"refs/heads/main", "refs/tags/v1.0", "refs/pull/1/merge", "--upload-pack=x", "refs/heads/-x", "refs/heads/a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if CheckRef(ref) != nil {
			return
		}
		// What passes can never be read as an option or a revision range.
		if strings.HasPrefix(ref, "-") || strings.Contains(ref, "..") || strings.ContainsAny(ref, " \t\n:^~") {
			t.Fatalf("CheckRef accepted %q", ref)
		}
		for _, c := range strings.Split(ref, "/") {
			if c == "" || strings.HasPrefix(c, "-") || strings.HasPrefix(c, ".") {
				t.Fatalf("CheckRef accepted %q", ref)
			}
		}
	})
}
