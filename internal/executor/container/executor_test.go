package container

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExecutorEnv: a step's environment as the job container sees it.
func TestExecutorEnv(t *testing.T) {
	x := &Executor{Paths: [][2]string{{"/tmp/w/job1/temp", "/__w/_temp"}, {"/tmp/w/job1/work", "/__w"}},
		HostEnv:   map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", "GITHUB_ACTIONS": "true"},
		ImagePATH: "/usr/local/sbin:/usr/bin"}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "the host's own variables stay on the host", in: []string{"HOME=/root", "LANG=C.UTF-8", "LANG2=x"},
			want: []string{"LANG2=x"}},
		{name: "a changed host variable goes in", in: []string{"HOME=/custom"}, want: []string{"HOME=/custom"}},
		{name: "runner variables always go in, with container paths",
			in:   []string{"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=/tmp/w/job1/work/app", "RUNNER_TEMP=/tmp/w/job1/temp"},
			want: []string{"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=/__w/app", "RUNNER_TEMP=/__w/_temp"}},
		{name: "PATH is the image's, after what the job added", in: []string{"PATH=/tmp/w/job1/work/venv/bin:/usr/bin:/bin"},
			want: []string{"PATH=/__w/venv/bin:/usr/local/sbin:/usr/bin"}},
		{name: "an unchanged PATH is the image's", in: []string{"PATH=/usr/bin:/bin"}, want: []string{"PATH=/usr/local/sbin:/usr/bin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, x.Env(tt.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for in, want := range map[string]string{"/tmp/w/job1/temp/x.sh": "/__w/_temp/x.sh", "/tmp/w/job1/work": "/__w",
		"/tmp/w/job1/workers": "/tmp/w/job1/workers", "/etc/hosts": "/etc/hosts"} {
		if got := x.Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := x.LookPath("bash"); err == nil {
		t.Error("LookPath(bash) succeeded in an image without bash")
	}
}
