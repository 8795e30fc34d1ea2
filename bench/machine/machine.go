// Package machine describes the machine and checkout a benchmark ran on,
// for the head of its results file.
package machine

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Info is when and where a benchmark ran.
type Info struct {
	When, CPU, Kernel, Commit, Load string
	CPUs                            int
}

// Describe reads the CPU, kernel and load from /proc and the commit of the
// repository at dir ("" for the current directory), marked when it has
// uncommitted changes.
func Describe(ctx context.Context, dir string) Info {
	m := Info{When: time.Now().UTC().Format("2006-01-02 15:04 MST"), CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	if dir == "" {
		dir = "."
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			m.Commit += " + uncommitted changes"
		}
	}
	return m
}
