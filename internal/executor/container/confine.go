package container

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Confinement says what a container of an untrusted job may ask for: no
// privileges, no added capabilities, and only host directories the job owns
// (Inside) mounted. Named volumes are shared by every container of the
// engine (a deployment's data among them), so a job gets them only when
// NamedVolumes allows.
type Confinement struct {
	Inside       func(hostPath string) bool
	NamedVolumes bool
}

// A Refusal is Check's answer to a spec that reaches past the job; other
// errors say the spec is not understood at all.
type Refusal struct{ msg string }

func (r *Refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &Refusal{msg: fmt.Sprintf(format, args...)} }

// Check refuses a spec that would reach past the job: --privileged,
// --cap-add, or a volume of the host (or a named volume) it may not have.
func (c Confinement) Check(what string, spec ContainerSpec) error {
	o, err := parseOptions(spec.Options, func(string) (string, bool) { return "", false })
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if o.privileged {
		return refuse("%s: --privileged gives the container the whole machine; it is refused for jobs of this agent (run such jobs on an agent of their own)", what)
	}
	if len(o.capAdd) > 0 {
		return refuse("%s: --cap-add %s is refused for jobs of this agent", what, strings.Join(o.capAdd, ","))
	}
	for _, v := range append(append([]string(nil), spec.Volumes...), o.binds...) {
		src, _, ok := strings.Cut(v, ":")
		if !ok {
			continue // an anonymous volume: the container's own
		}
		if filepath.IsAbs(src) || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") {
			abs := filepath.Clean(src)
			if c.Inside == nil || !filepath.IsAbs(abs) || !c.Inside(abs) {
				return refuse("%s: volume %q mounts %s, which is outside the job's directories; only the job's own files can be mounted into its containers", what, v, src)
			}
			continue
		}
		if !c.NamedVolumes {
			return refuse("%s: named volume %q is shared by every container on this machine (deployments' data too); it is refused for jobs of this agent", what, src)
		}
	}
	return nil
}
