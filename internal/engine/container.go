package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rhysd/actionlint"
	"github.com/sluice-ci/sluice/internal/executor/container"
	"github.com/sluice-ci/sluice/internal/expr"
	"github.com/sluice-ci/sluice/internal/logs"
)

// Where a container job sees the job's host directories, as GitHub's
// runner mounts them.
const (
	ctrWork      = "/__w"
	ctrTemp      = "/__w/_temp"
	ctrToolCache = "/__t"
)

// containers connects to a container engine once per run, on first need.
type containers struct {
	connect func(ctx context.Context) (*container.Engine, error)
	once    sync.Once
	eng     *container.Engine
	err     error
	suffix  sync.Once
	id      string
}

// runID names this engine's containers and networks: the run's ID, which a server's
// agents share between jobs of one run and servers on one machine may repeat (run 42 of
// two servers), with a suffix of this engine's own.
func (c *containers) runID(run string) string {
	c.suffix.Do(func() { c.id = run + "-" + randomName()[:6] })
	return c.id
}

func (c *containers) get(ctx context.Context) (*container.Engine, error) {
	if c == nil || c.connect == nil {
		return nil, fmt.Errorf("no container engine is configured")
	}
	c.once.Do(func() {
		c.eng, c.err = c.connect(ctx)
		if c.err == nil {
			// Leftovers of runs that crashed go before anything new starts.
			_, _ = c.eng.Sweep(ctx)
		}
	})
	return c.eng, c.err
}

// ctrJob is a job's container side: its job container (if any) and
// services.
type ctrJob struct {
	job      *container.Job
	inside   bool // steps run in the job container
	services map[string]container.Service
}

// jobImage is the image a job's steps run in: its `container:`, or the
// image -P maps its runs-on label to; "" runs it on the host.
func (jr *jobRun) jobImage(ev *expr.Evaluator) (string, error) {
	j := jr.node.job
	if j.Container != nil && j.Container.Image != nil {
		return ev.Interpolate(j.Container.Image.Value)
	}
	if j.RunsOn != nil {
		for _, l := range j.RunsOn.Labels {
			img, ok := jr.wr.e.opts.Platforms[strings.ToLower(l.Value)]
			if ok && img != "" && img != "-self-hosted" {
				return img, nil
			}
		}
	}
	return "", nil
}

// startContainers starts the job's container and services when it asks for
// any; it returns a cleanup that removes everything.
func (jr *jobRun) startContainers(ctx context.Context, ev *expr.Evaluator, root string) (func(), error) {
	j := jr.node.job
	image, err := jr.jobImage(ev)
	if err != nil {
		return nil, fmt.Errorf("container image: %w", err)
	}
	hasServices := j.Services != nil && (len(j.Services.Value) > 0 || j.Services.Expression != nil)
	if image == "" && !hasServices {
		return func() {}, nil
	}
	e := jr.wr.e
	eng, err := e.ctrs.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("this job needs containers (container: or services:), and no container engine answers: %w", err)
	}
	spec := container.JobSpec{RunID: e.ctrs.runID(e.opts.Run.ID), JobID: jr.name, Services: map[string]container.ContainerSpec{},
		Log: func(s string) { jr.lineOut("Initialize containers", s) }}
	if image != "" {
		ports, volumes := jr.wr.wf.ContainerLists(jr.node.id, "")
		cs, err := containerSpec(ev, j.Container, ports, volumes)
		if err != nil {
			return nil, err
		}
		cs.Image = image
		cs.PassEnv = jr.jobEnv
		if err := jr.confine("container", cs); err != nil {
			return nil, err
		}
		cs.Mounts = append(cs.Mounts,
			container.Mount{Source: filepath.Join(root, "work"), Target: ctrWork},
			container.Mount{Source: jr.temp, Target: ctrTemp})
		if jr.dirs.toolCache != "" {
			cs.Mounts = append(cs.Mounts, container.Mount{Source: jr.dirs.toolCache, Target: ctrToolCache})
		}
		spec.Container = &cs
	}
	if hasServices {
		if j.Services.Expression != nil {
			return nil, fmt.Errorf("services given as an expression are not supported; list them in the workflow")
		}
		for _, name := range sortedKeys(j.Services.Value) {
			svc := j.Services.Value[name]
			ports, volumes := jr.wr.wf.ContainerLists(jr.node.id, svc.Name.Value)
			cs, err := containerSpec(ev, svc.Container, ports, volumes)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", svc.Name.Value, err)
			}
			cs.PassEnv = jr.jobEnv
			if err := jr.confine("service "+svc.Name.Value, cs); err != nil {
				return nil, err
			}
			spec.Services[svc.Name.Value] = cs
		}
	}
	start := time.Now()
	e.emit(logs.Event{Kind: logs.StepStarted, Job: jr.name, Step: "Initialize containers"})
	job, err := eng.StartJob(ctx, spec)
	if err != nil {
		e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: "Initialize containers", Result: logs.Failure, Duration: time.Since(start), Text: err.Error()})
		return nil, err
	}
	c := &ctrJob{job: job, inside: image != "", services: job.Services()}
	if c.inside {
		// The job's steps run in its container from now on.
		paths := [][2]string{{jr.temp, ctrTemp}, {filepath.Join(root, "work"), ctrWork}}
		if jr.dirs.toolCache != "" {
			paths = append(paths, [2]string{jr.dirs.toolCache, ctrToolCache})
		}
		jr.steps = container.NewExecutor(ctx, job, paths, e.opts.BaseEnv)
	}
	jr.ctr = c
	e.emit(logs.Event{Kind: logs.StepFinished, Job: jr.name, Step: "Initialize containers", Result: logs.Success, Duration: time.Since(start)})
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := job.Close(cctx); err != nil {
			jr.notice("", fmt.Sprintf("removing the job's containers: %v", err))
		}
	}, nil
}

// containerSpec reads a `container:` or service block, expressions
// evaluated; ports and volumes come from the source (see
// workflow.ContainerLists).
func containerSpec(ev *expr.Evaluator, c *actionlint.Container, ports, volumes []string) (container.ContainerSpec, error) {
	var cs container.ContainerSpec
	if c == nil {
		return cs, nil
	}
	str := func(s *actionlint.String) (string, error) {
		if s == nil {
			return "", nil
		}
		return ev.Interpolate(s.Value)
	}
	var err error
	if cs.Image, err = str(c.Image); err != nil {
		return cs, err
	}
	if cs.Options, err = str(c.Options); err != nil {
		return cs, err
	}
	env, err := evalEnv(ev, c.Env, nil)
	if err != nil {
		return cs, err
	}
	cs.Env = env
	for _, p := range ports {
		v, err := ev.Interpolate(p)
		if err != nil {
			return cs, err
		}
		cs.Ports = append(cs.Ports, v)
	}
	for _, v := range volumes {
		s, err := ev.Interpolate(v)
		if err != nil {
			return cs, err
		}
		cs.Volumes = append(cs.Volumes, s)
	}
	if c.Credentials != nil {
		u, err := str(c.Credentials.Username)
		if err != nil {
			return cs, err
		}
		p, err := str(c.Credentials.Password)
		if err != nil {
			return cs, err
		}
		cs.Credentials = &container.Credentials{Username: u, Password: p}
	}
	return cs, nil
}

// servicesContext is job.services as steps see it.
func (c *ctrJob) servicesContext() map[string]any {
	out := map[string]any{}
	if c == nil {
		return out
	}
	for name, s := range c.services {
		ports := map[string]any{}
		for k, v := range s.Ports {
			ports[k] = v
		}
		out[name] = map[string]any{"id": s.ID, "network": s.Network, "ports": ports}
	}
	return out
}
