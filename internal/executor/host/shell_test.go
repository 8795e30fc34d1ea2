package host

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// lookPathWith returns a lookPath that finds only the named programs.
func lookPathWith(found ...string) func(string) (string, error) {
	return func(name string) (string, error) {
		for _, f := range found {
			if f == name {
				return "/usr/bin/" + name, nil
			}
		}
		return "", errors.New(name + ": not found")
	}
}

func TestResolveShell(t *testing.T) {
	tests := []struct {
		name    string
		shell   string
		found   []string
		want    Shell
		wantErr string
	}{
		{name: "default with bash", shell: "", found: []string{"bash", "sh"},
			want: Shell{Template: []string{"bash", "-e", "{0}"}, Ext: ".sh"}},
		{name: "default without bash", shell: "", found: []string{"sh"},
			want: Shell{Template: []string{"sh", "-e", "{0}"}, Ext: ".sh"}},
		{name: "blank is default", shell: "  ", found: []string{"bash"},
			want: Shell{Template: []string{"bash", "-e", "{0}"}, Ext: ".sh"}},
		{name: "bash", shell: "bash", found: []string{"bash"},
			want: Shell{Template: []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"}, Ext: ".sh"}},
		{name: "sh", shell: "sh",
			want: Shell{Template: []string{"sh", "-e", "{0}"}, Ext: ".sh"}},
		{name: "python", shell: "python",
			want: Shell{Template: []string{"python", "{0}"}, Ext: ".py"}},
		{name: "pwsh present", shell: "pwsh", found: []string{"pwsh"},
			want: Shell{Template: []string{"pwsh", "-command", ". '{0}'"}, Ext: ".ps1"}},
		{name: "pwsh absent", shell: "pwsh", found: []string{"bash"}, wantErr: "pwsh is not installed"},
		{name: "cmd", shell: "cmd", wantErr: "shell cmd is only available on Windows"},
		{name: "powershell", shell: "powershell", wantErr: "shell powershell is only available on Windows"},
		{name: "custom perl", shell: "perl {0}",
			want: Shell{Template: []string{"perl", "{0}"}}},
		{name: "custom python3 gets .py", shell: "python3 -u {0}",
			want: Shell{Template: []string{"python3", "-u", "{0}"}, Ext: ".py"}},
		{name: "custom with double quotes", shell: `bash -c "source {0} && echo done"`,
			want: Shell{Template: []string{"bash", "-c", "source {0} && echo done"}}},
		{name: "custom with single quotes and tabs", shell: "bash\t-c  'sh {0}'",
			want: Shell{Template: []string{"bash", "-c", "sh {0}"}}},
		{name: "custom empty quoted word kept", shell: `env "" {0}`,
			want: Shell{Template: []string{"env", "", "{0}"}}},
		{name: "custom without placeholder", shell: "perl", wantErr: "must contain {0}"},
		{name: "custom unterminated quote", shell: `bash -c "{0}`, wantErr: "unterminated quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveShell(tt.shell, lookPathWith(tt.found...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ResolveShell(%q) error = %v, want one containing %q", tt.shell, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveShell(%q): %v", tt.shell, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ResolveShell(%q) (-want +got):\n%s", tt.shell, diff)
			}
		})
	}
}

func TestShellArgv(t *testing.T) {
	tests := []struct {
		name   string
		sh     Shell
		script string
		want   []string
	}{
		{name: "bash", sh: Shell{Template: []string{"bash", "-e", "{0}"}}, script: "/tmp/s.sh",
			want: []string{"bash", "-e", "/tmp/s.sh"}},
		{name: "inside a word", sh: Shell{Template: []string{"pwsh", "-command", ". '{0}'"}}, script: "/w/a b.ps1",
			want: []string{"pwsh", "-command", ". '/w/a b.ps1'"}},
		{name: "twice", sh: Shell{Template: []string{"sh", "-c", "cat {0}; sh {0}"}}, script: "x",
			want: []string{"sh", "-c", "cat x; sh x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string(nil), tt.sh.Template...)
			got := tt.sh.Argv(tt.script)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Argv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.sh.Template); diff != "" {
				t.Errorf("Argv changed the template (-before +after):\n%s", diff)
			}
		})
	}
}

func TestWriteScript(t *testing.T) {
	dir := t.TempDir()
	p, err := WriteScript(dir, "step1", "echo hi\n", Shell{Template: []string{"bash", "{0}"}, Ext: ".sh"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, "/step1.sh") || !strings.HasPrefix(p, dir) {
		t.Errorf("WriteScript path = %q, want %s/step1.sh", p, dir)
	}
}
