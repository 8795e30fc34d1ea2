package plan

import "testing"

func TestSkipsCI(t *testing.T) {
	cases := []struct {
		event, msg string
		want       bool
	}{
		{"push", "fix [skip ci]", true},
		{"push", "[Skip CI] fix", true},
		{"pull_request", "x [ci skip]", true},
		{"push", "x [no ci]", true},
		{"push", "x [skip actions]", true},
		{"push", "x [actions skip]", true},
		{"push", "subject\n\nbody text\n\nskip-checks: true\n", true},
		{"push", "subject\n\nSkip-Checks:true", true},
		{"push", "subject\r\n\r\nskip-checks: true\r\n", true},
		{"push", "skip-checks: true", false},                    // a subject, not a trailer
		{"push", "subject\n\nskip-checks: true\n\nmore", false}, // not the last paragraph
		{"push", "subject\n\nskip-checks: false", false},
		{"push", "skip ci", false},
		{"push", "", false},
		{"workflow_dispatch", "x [skip ci]", false},
		{"schedule", "x [skip ci]", false},
		{"pull_request_target", "x [skip ci]", false},
	}
	for _, c := range cases {
		if got := SkipsCI(c.event, c.msg); got != c.want {
			t.Errorf("SkipsCI(%q, %q) = %v, want %v", c.event, c.msg, got, c.want)
		}
	}
}
