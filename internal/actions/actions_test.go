package actions

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	const sha = "11bd71901bbe5b1630ceea73d27597364c9af683"
	tests := []struct {
		uses    string
		want    Ref
		wantErr string
	}{
		{uses: "./.github/actions/setup", want: Ref{Raw: "./.github/actions/setup", Kind: Local, Path: "./.github/actions/setup"}},
		{uses: "../shared/action", want: Ref{Raw: "../shared/action", Kind: Local, Path: "../shared/action"}},
		{uses: "  ./trimmed  ", want: Ref{Raw: "./trimmed", Kind: Local, Path: "./trimmed"}},
		{uses: "docker://alpine:3.20", want: Ref{Raw: "docker://alpine:3.20", Kind: Docker, Path: "alpine:3.20"}},
		{uses: "docker://ghcr.io/o/img@sha256:abc", want: Ref{Raw: "docker://ghcr.io/o/img@sha256:abc", Kind: Docker, Path: "ghcr.io/o/img@sha256:abc"}},
		{uses: "codecov/codecov-action@v5", want: Ref{Raw: "codecov/codecov-action@v5", Kind: Remote, Owner: "codecov", Repo: "codecov-action", Ref: "v5"}},
		{uses: "github/codeql-action/init@" + sha,
			want: Ref{Raw: "github/codeql-action/init@" + sha, Kind: Remote, Owner: "github", Repo: "codeql-action", Path: "init", Ref: sha}},
		{uses: "o/r/deep/er/path@main", want: Ref{Raw: "o/r/deep/er/path@main", Kind: Remote, Owner: "o", Repo: "r", Path: "deep/er/path", Ref: "main"}},
		{uses: "actions/checkout@" + sha, want: Ref{Raw: "actions/checkout@" + sha, Kind: Builtin, Owner: "actions", Repo: "checkout", Ref: sha}},
		{uses: "actions/checkout@v4", want: Ref{Raw: "actions/checkout@v4", Kind: Builtin, Owner: "actions", Repo: "checkout", Ref: "v4"}},
		{uses: "Actions/Checkout@v4", want: Ref{Raw: "Actions/Checkout@v4", Kind: Builtin, Owner: "Actions", Repo: "Checkout", Ref: "v4"}},
		{uses: "actions/checkout/sub@v1", want: Ref{Raw: "actions/checkout/sub@v1", Kind: Remote, Owner: "actions", Repo: "checkout", Path: "sub", Ref: "v1"}},
		{uses: "", wantErr: "empty uses"},
		{uses: "   ", wantErr: "empty uses"},
		{uses: "actions/checkout", wantErr: "needs a ref"},
		{uses: "actions/checkout@", wantErr: "needs a ref"},
		{uses: "checkout@v4", wantErr: "expected owner/repo"},
		{uses: "/checkout@v4", wantErr: "expected owner/repo"},
		{uses: "actions/@v4", wantErr: "expected owner/repo"},
	}
	for _, tt := range tests {
		t.Run(tt.uses, func(t *testing.T) {
			got, err := Parse(tt.uses)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %+v, %v; want an error containing %q", tt.uses, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.uses, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.uses, diff)
			}
		})
	}
}

func TestRefName(t *testing.T) {
	r, err := Parse("Astral-SH/Setup-UV/sub@v1")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Name(); got != "astral-sh/setup-uv" {
		t.Errorf("Name() = %q, want astral-sh/setup-uv", got)
	}
}
