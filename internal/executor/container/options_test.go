package container

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/moby/moby/api/types/container"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"  -a  b\t c\n", []string{"-a", "b", "c"}, false},
		{`--health-cmd "pg_isready -U postgres"`, []string{"--health-cmd", "pg_isready -U postgres"}, false},
		{`--health-cmd 'redis-cli ping'`, []string{"--health-cmd", "redis-cli ping"}, false},
		{`-e A="x \"y\" \$z"`, []string{"-e", `A=x "y" $z`}, false},
		{`a\ b 'c'"d"e`, []string{"a b", "cde"}, false},
		{`''`, []string{""}, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitWords(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("splitWords(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("splitWords(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestParseOptions(t *testing.T) {
	env := map[string]string{"FROM_HOST": "h"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		in      string
		want    createOptions
		wantErr string
	}{
		{"github's postgres example",
			"--health-cmd pg_isready --health-interval 10s --health-timeout 5s --health-retries 5",
			createOptions{health: &container.HealthConfig{Test: []string{"CMD-SHELL", "pg_isready"},
				Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 5}}, ""},
		{"equals forms and start period",
			`--health-cmd="redis-cli ping" --health-start-period=3s --health-retries=0`,
			createOptions{health: &container.HealthConfig{Test: []string{"CMD-SHELL", "redis-cli ping"}, StartPeriod: 3 * time.Second}}, ""},
		{"env, passthrough and missing passthrough",
			"-e A=1 --env B=2 -e FROM_HOST -e NOT_SET",
			createOptions{env: []string{"A=1", "B=2", "FROM_HOST=h"}}, ""},
		{"user, entrypoint, workdir, alias, volume",
			"--user 1000:1000 --entrypoint /bin/sh -w /w --network-alias db -v /a:/b:ro",
			createOptions{user: "1000:1000", entrypoint: []string{"/bin/sh"}, workdir: "/w", aliases: []string{"db"}, binds: []string{"/a:/b:ro"}}, ""},
		{"resources", "--cpus 1.5 --memory 512m --shm-size=1g",
			createOptions{nanoCPUs: 1_500_000_000, memory: 512 << 20, shmSize: 1 << 30}, ""},
		{"flags", "--privileged --init --rm --tmpfs /run:size=1m -l a=b",
			createOptions{privileged: true, init: true, tmpfs: map[string]string{"/run": "size=1m"}, labels: map[string]string{"a": "b"}}, ""},
		{"no healthcheck", "--no-healthcheck", createOptions{health: &container.HealthConfig{Test: []string{"NONE"}}}, ""},
		{"unknown option", "--pid host", createOptions{}, "unsupported option"},
		{"missing value", "--health-cmd", createOptions{}, "needs a value"},
		{"bare argument", "postgres", createOptions{}, "only options are allowed"},
		{"bad duration", "--health-interval 10", createOptions{}, "missing unit"},
		{"bad cpus", "--cpus -1", createOptions{}, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOptions(tt.in, lookup)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(createOptions{}), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in, wantPort, wantHost string
		wantErr                bool
	}{
		{"5432", "5432/tcp", "", false},
		{"8080:80", "80/tcp", "8080", false},
		{"127.0.0.1:8080:80", "80/tcp", "8080", false},
		{"53/udp", "53/udp", "", false},
		{"x", "", "", true},
		{"99999:80", "", "", true},
		{"1:2:3:4", "", "", true},
	}
	for _, tt := range tests {
		port, b, err := parsePort(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parsePort(%q) error = %v", tt.in, err)
			continue
		}
		if tt.wantErr {
			continue
		}
		got := []string{port.String(), b.HostPort, b.HostIP.String()}
		if d := cmp.Diff([]string{tt.wantPort, tt.wantHost, "127.0.0.1"}, got); d != "" {
			t.Errorf("parsePort(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

func TestHostCandidates(t *testing.T) {
	present := map[string]bool{"/run/podman/podman.sock": true, "/var/run/docker.sock": true, "/x/podman/podman.sock": true}
	exists := func(p string) bool { return present[p] }
	tests := []struct {
		name, dockerHost, xdg string
		want                  []string
	}{
		{"DOCKER_HOST wins", "tcp://h:2375", "/x", []string{"tcp://h:2375"}},
		{"sockets in order", "", "/x", []string{"unix:///x/podman/podman.sock", "unix:///run/podman/podman.sock", "unix:///var/run/docker.sock"}},
		{"no XDG_RUNTIME_DIR", "", "", []string{"unix:///run/podman/podman.sock", "unix:///var/run/docker.sock"}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, hostCandidates(tt.dockerHost, tt.xdg, exists)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, d)
		}
	}
}

func TestCheckArgv(t *testing.T) {
	tests := []struct {
		hc   *container.HealthConfig
		want []string
	}{
		{nil, nil},
		{&container.HealthConfig{Test: []string{"NONE"}}, nil},
		{&container.HealthConfig{Test: []string{"CMD-SHELL", "pg_isready -q"}}, []string{"sh", "-c", "pg_isready -q"}},
		{&container.HealthConfig{Test: []string{"CMD", "redis-cli", "ping"}}, []string{"redis-cli", "ping"}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, checkArgv(tt.hc)); d != "" {
			t.Errorf("checkArgv(%+v) (-want +got):\n%s", tt.hc, d)
		}
	}
}

func TestObjectName(t *testing.T) {
	if got, want := objectName("sluice", "run 1", "test (3.11, ubuntu)"), "sluice-run_1-test_3.11_ubuntu"; got != want {
		t.Errorf("objectName = %q, want %q", got, want)
	}
}

func TestLineWriter(t *testing.T) {
	var got []string
	w := newLineWriter(func(s string) { got = append(got, s) })
	for _, chunk := range []string{"a", "b\r\nc\n", "", "d"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.flush()
	if d := cmp.Diff([]string{"ab", "c", "d"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
