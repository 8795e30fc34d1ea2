package localrun

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBaseEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    map[string]string
	}{
		{
			name: "allow-list kept, the rest dropped",
			environ: []string{
				"PATH=/custom/bin:/usr/bin", "HOME=/home/ada", "LANG=C.UTF-8", "LC_ALL=C", "LC_CTYPE=en_US.UTF-8",
				"TZ=UTC", "https_proxy=http://proxy:3128",
				"AWS_SECRET_ACCESS_KEY=hunter2", "GITHUB_TOKEN=ghp_x", "VIRTUAL_ENV=/venv", "PYTHONPATH=/x", "RANDOM_THING=1",
				"LCX=no", "path=lowercase-is-not-PATH",
			},
			want: map[string]string{
				"PATH": "/custom/bin:/usr/bin", "HOME": "/home/ada", "LANG": "C.UTF-8", "LC_ALL": "C", "LC_CTYPE": "en_US.UTF-8",
				"TZ": "UTC", "https_proxy": "http://proxy:3128",
			},
		},
		{
			name:    "default PATH when missing",
			environ: []string{"HOME=/h"},
			want:    map[string]string{"HOME": "/h", "PATH": "/usr/local/bin:/usr/bin:/bin"},
		},
		{
			name:    "values with equals and empty values",
			environ: []string{"LC_X=a=b", "TERM=", "PATH=/bin", "malformed"},
			want:    map[string]string{"LC_X": "a=b", "TERM": "", "PATH": "/bin"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, BaseEnv(tt.environ)); diff != "" {
				t.Errorf("BaseEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePairs(t *testing.T) {
	tests := []struct {
		name    string
		kvs     []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", want: map[string]string{}},
		{name: "pairs", kvs: []string{"a=1", "url=http://x/?q=1", "empty="},
			want: map[string]string{"a": "1", "url": "http://x/?q=1", "empty": ""}},
		{name: "last wins", kvs: []string{"a=1", "a=2"}, want: map[string]string{"a": "2"}},
		{name: "no equals", kvs: []string{"a=1", "oops"}, wantErr: `--input "oops": expected NAME=VALUE`},
		{name: "empty name", kvs: []string{"=v"}, wantErr: `--input "=v"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePairs("--input", tt.kvs)
			if tt.wantErr != "" {
				checkUsageError(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parsePairs (-want +got):\n%s", diff)
			}
		})
	}
}

func checkUsageError(t *testing.T, err error, want string) {
	t.Helper()
	var ue *UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("error = %v (%T), want a *UsageError", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestParseSecrets(t *testing.T) {
	const dotenv = `# deployment secrets
PLAIN=value
export EXPORTED=from-export

DOUBLE="a b # not a comment"
SINGLE='single quoted'
MULTI="line1\nline2"
LITERAL='keep\nliteral'
  SPACED = spaced value  
WITH_EQ=a=b=c
EMPTY=
OVERRIDDEN=from-file
`
	file := filepath.Join(t.TempDir(), ".secrets")
	if err := os.WriteFile(file, []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := parseSecrets([]string{"OVERRIDDEN=from-flag", "FLAG_ONLY=x=y"}, file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLAIN":      "value",
		"EXPORTED":   "from-export",
		"DOUBLE":     "a b # not a comment",
		"SINGLE":     "single quoted",
		"MULTI":      "line1\nline2",
		"LITERAL":    `keep\nliteral`,
		"SPACED":     "spaced value",
		"WITH_EQ":    "a=b=c",
		"EMPTY":      "",
		"OVERRIDDEN": "from-flag",
		"FLAG_ONLY":  "x=y",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSecrets (-want +got):\n%s", diff)
	}
}

// Single quotes are literal in dotenv files whatever else is on the line;
// only double quotes turn \n into a newline.
func TestParseSecretsSingleQuotesStayLiteral(t *testing.T) {
	file := filepath.Join(t.TempDir(), ".secrets")
	if err := os.WriteFile(file, []byte(`DSN='user="app" pass=x\ny'`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := parseSecrets(nil, file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"DSN": `user="app" pass=x\ny`}, got); diff != "" {
		t.Errorf("parseSecrets (-want +got):\n%s", diff)
	}
}

func TestParseSecretsErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.env")
	if err := os.WriteFile(bad, []byte("# ok\nA=1\n\nnot a pair\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noName := filepath.Join(dir, "noname.env")
	if err := os.WriteFile(noName, []byte(" =value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kvs  []string
		file string
		want string
	}{
		{name: "bad line gives file:line", file: bad, want: bad + ":4: expected NAME=VALUE"},
		{name: "empty name in file", file: noName, want: noName + ":1:"},
		{name: "missing file", file: filepath.Join(dir, "nope.env"), want: "reading --secret-file"},
		{name: "flag without equals", kvs: []string{"TOKEN"}, want: `-s "TOKEN": expected NAME=VALUE`},
		{name: "flag with empty name", kvs: []string{"=x"}, want: `-s "=x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSecrets(tt.kvs, tt.file)
			checkUsageError(t, err, tt.want)
		})
	}
}
