package container

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// createOptions is what a workflow's `options:` string adds to a container.
type createOptions struct {
	health     *container.HealthConfig
	env        []string
	user       string
	entrypoint []string
	workdir    string
	aliases    []string
	binds      []string
	tmpfs      map[string]string
	labels     map[string]string
	capAdd     []string
	capDrop    []string
	hostname   string
	privileged bool
	init       bool
	nanoCPUs   int64
	memory     int64
	shmSize    int64
}

// parseOptions understands the `docker create` options workflows use for
// jobs.<id>.container.options and services; anything else is an error rather
// than silently ignored, because a dropped option changes what the job tests.
func parseOptions(s string, lookupEnv func(string) (string, bool)) (createOptions, error) {
	var o createOptions
	words, err := splitWords(s)
	if err != nil {
		return o, fmt.Errorf("parsing container options: %w", err)
	}
	healthSet := func() *container.HealthConfig {
		if o.health == nil {
			o.health = &container.HealthConfig{}
		}
		return o.health
	}
	for i := 0; i < len(words); i++ {
		name, val, hasVal := strings.Cut(words[i], "=")
		if !strings.HasPrefix(name, "-") {
			return o, fmt.Errorf("container options: unexpected argument %q (only options are allowed)", words[i])
		}
		if isFlagOnly(name) {
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return o, fmt.Errorf("container options: %s=%s: %w", name, val, err)
				}
				setFlag(&o, name, b)
			} else {
				setFlag(&o, name, true)
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(words) {
				return o, fmt.Errorf("container options: %s needs a value", name)
			}
			i++
			val = words[i]
		}
		if err := setOption(&o, name, val, healthSet, lookupEnv); err != nil {
			return o, fmt.Errorf("container options: %s %s: %w", name, val, err)
		}
	}
	return o, nil
}

func isFlagOnly(name string) bool {
	switch name {
	case "--privileged", "--init", "--no-healthcheck", "--rm":
		return true
	}
	return false
}

func setFlag(o *createOptions, name string, on bool) {
	switch name {
	case "--privileged":
		o.privileged = on
	case "--init":
		o.init = on
	case "--no-healthcheck":
		if on {
			o.health = &container.HealthConfig{Test: []string{"NONE"}}
		}
	case "--rm":
		// Containers are always removed at the end of the job.
	}
}

func setOption(o *createOptions, name, val string, health func() *container.HealthConfig, lookupEnv func(string) (string, bool)) error {
	var err error
	switch name {
	case "--health-cmd":
		health().Test = []string{"CMD-SHELL", val}
	case "--health-interval":
		health().Interval, err = parseDuration(val)
	case "--health-timeout":
		health().Timeout, err = parseDuration(val)
	case "--health-start-period":
		health().StartPeriod, err = parseDuration(val)
	case "--health-start-interval":
		health().StartInterval, err = parseDuration(val)
	case "--health-retries":
		health().Retries, err = strconv.Atoi(val)
		if err == nil && health().Retries < 0 {
			err = fmt.Errorf("must not be negative")
		}
	case "-e", "--env":
		if !strings.Contains(val, "=") {
			// `-e NAME` passes the variable through from sluice's environment.
			v, ok := lookupEnv(val)
			if !ok {
				return nil
			}
			val += "=" + v
		}
		o.env = append(o.env, val)
	case "-u", "--user":
		o.user = val
	case "--entrypoint":
		o.entrypoint = []string{val}
	case "-w", "--workdir":
		o.workdir = val
	case "--network-alias", "--net-alias":
		o.aliases = append(o.aliases, val)
	case "-v", "--volume":
		o.binds = append(o.binds, val)
	case "--tmpfs":
		if o.tmpfs == nil {
			o.tmpfs = map[string]string{}
		}
		dst, opts, _ := strings.Cut(val, ":")
		o.tmpfs[dst] = opts
	case "-l", "--label":
		if o.labels == nil {
			o.labels = map[string]string{}
		}
		k, v, _ := strings.Cut(val, "=")
		o.labels[k] = v
	case "--cap-add":
		o.capAdd = append(o.capAdd, val)
	case "--cap-drop":
		o.capDrop = append(o.capDrop, val)
	case "-h", "--hostname":
		o.hostname = val
	case "--cpus":
		var f float64
		f, err = strconv.ParseFloat(val, 64)
		if err == nil && (f <= 0 || math.IsInf(f, 0) || math.IsNaN(f)) {
			err = fmt.Errorf("must be a positive number")
		}
		o.nanoCPUs = int64(f * 1e9)
	case "-m", "--memory":
		o.memory, err = units.RAMInBytes(val)
	case "--shm-size":
		o.shmSize, err = units.RAMInBytes(val)
	default:
		return fmt.Errorf("unsupported option (supported: --health-cmd, --health-interval, --health-timeout, " +
			"--health-retries, --health-start-period, --no-healthcheck, -e/--env, -u/--user, --entrypoint, -w/--workdir, " +
			"--network-alias, -v/--volume, --tmpfs, -l/--label, --cap-add, --cap-drop, -h/--hostname, --cpus, " +
			"-m/--memory, --shm-size, --privileged, --init, --rm)")
	}
	return err
}

// parseDuration accepts Go durations ("10s", "1m30s") and, like docker, rejects
// bare numbers.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return d, nil
}
