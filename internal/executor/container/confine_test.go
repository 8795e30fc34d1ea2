package container

import (
	"errors"
	"strings"
	"testing"
)

// TestConfinement: what a sandboxed job's container may ask for. A refusal
// is a *Refusal (the engine downgrades it to a warning without a sandbox);
// an option not understood at all is another error, refused everywhere.
func TestConfinement(t *testing.T) {
	job := "/work/slots/abc-0"
	c := Confinement{Inside: func(p string) bool { return p == job || strings.HasPrefix(p, job+"/") }}
	for _, tc := range []struct {
		name    string
		spec    ContainerSpec
		want    string // in the error; "" for none
		refusal bool
	}{
		{"plain", ContainerSpec{Options: "--cpus 1 -e A=1 --cap-drop ALL"}, "", false},
		{"own files", ContainerSpec{Volumes: []string{job + "/work:/src"}, Options: "-v " + job + "/temp:/t:ro"}, "", false},
		{"anonymous volume", ContainerSpec{Volumes: []string{"/data"}}, "", false},
		{"host root", ContainerSpec{Volumes: []string{"/:/host"}}, `volume "/:/host" mounts /, which is outside the job's directories`, true},
		{"dotdot out of the job", ContainerSpec{Volumes: []string{job + "/../abc-1:/x"}}, "outside the job's directories", true},
		{"relative", ContainerSpec{Volumes: []string{"./x:/x"}}, "outside the job's directories", true},
		{"option volume", ContainerSpec{Options: "--volume=/var/lib/containers:/x"}, "outside the job's directories", true},
		{"named volume", ContainerSpec{Volumes: []string{"shared:/x"}}, `named volume "shared"`, true},
		{"privileged", ContainerSpec{Options: "--privileged"}, "--privileged gives the container the whole machine", true},
		{"privileged=true", ContainerSpec{Options: "--privileged=true"}, "--privileged", true},
		{"privileged=false", ContainerSpec{Options: "--privileged=false"}, "", false},
		{"cap-add", ContainerSpec{Options: "--cap-add=NET_ADMIN"}, "--cap-add NET_ADMIN is refused", true},
		{"host pid", ContainerSpec{Options: "--pid=host"}, "svc: container options: --pid host: unsupported option", false},
		{"device", ContainerSpec{Options: "--device /dev/sda"}, "unsupported option", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Check("svc", tc.spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want an error containing %q", err, tc.want)
			}
			var r *Refusal
			if errors.As(err, &r) != tc.refusal {
				t.Errorf("Check = %T, refusal %v, want %v", err, !tc.refusal, tc.refusal)
			}
		})
	}
}
