package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memory is a process's resident set now (VmRSS) and at its highest so far
// (VmHWM), in KiB, as /proc/PID/status reports them.
type memory struct {
	RSS, HWM int64
}

func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	return parseStatus(string(b))
}

func parseStatus(s string) (memory, error) {
	var m memory
	var seen int
	for _, line := range strings.Split(s, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return memory{}, fmt.Errorf("unexpected %s line %q", key, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("reading %s: %w", key, err)
		}
		if key == "VmRSS" {
			m.RSS = n
		} else {
			m.HWM = n
		}
		seen++
	}
	if seen != 2 {
		return memory{}, fmt.Errorf("VmRSS or VmHWM missing from the process status")
	}
	return m, nil
}

// rssSampler records the highest VmRSS it sees, sampling every interval.
type rssSampler struct {
	mu      sync.Mutex
	peak    int64
	samples int
}

func (r *rssSampler) run(ctx context.Context, pid int, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if m, err := readMemory(pid); err == nil {
			r.mu.Lock()
			r.peak = max(r.peak, m.RSS)
			r.samples++
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *rssSampler) result() (peak int64, samples int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak, r.samples
}

// cpuTimes is a process's CPU time: its own (user+system) and that of the
// children it has waited for (git, bash, ...), in clock ticks.
type cpuTimes struct {
	Self, Children int64
}

func readCPU(pid int) (cpuTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, fmt.Errorf("reading the stat of process %d: %w", pid, err)
	}
	return parseStat(string(b))
}

// parseStat reads fields 14-17 of /proc/PID/stat; the command name (field
// 2) may hold spaces and parentheses, so fields are counted after its last ')'.
func parseStat(s string) (cpuTimes, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("malformed stat %q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, so f[11].
	if len(f) < 15 {
		return cpuTimes{}, fmt.Errorf("short stat %q", s)
	}
	var v [4]int64
	for k := range v {
		n, err := strconv.ParseInt(f[11+k], 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("reading stat field %d: %w", 14+k, err)
		}
		v[k] = n
	}
	return cpuTimes{Self: v[0] + v[1], Children: v[2] + v[3]}, nil
}

// machineCPU is the busy and total time of all CPUs from /proc/stat, in ticks.
type machineCPU struct {
	Busy, Total int64
}

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var m machineCPU
	for k, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("reading /proc/stat: %w", err)
		}
		// guest time is already counted in user; idle (3) and iowait (4) are not busy.
		if k >= 8 {
			break
		}
		m.Total += n
		if k != 3 && k != 4 {
			m.Busy += n
		}
	}
	return m, nil
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute averages, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
