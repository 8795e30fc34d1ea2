#!/usr/bin/env bash
# Benchmarks internal/plan, the one place every job-graph decision is made, on a run of
# 256 legs made through reusable workflows (a 16-leg matrix of calls of a workflow whose job
# has a 16-leg matrix, with a job before and after), and writes bench/results-plan.md.
#
#   plan 256 legs   from the run's first rows to every leg started (what the server
#                   decides when the first job ends); target <= 50 ms
#   run 258 jobs    every decision of the whole run: the planning, then one Advance per
#                   job that ends (as the server makes on each completion)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
count="${BENCH_RUNS:-7}"
out="$(cd "$root" && go test ./internal/plan -run '^$' -bench 'Plan256|Run256' -benchmem -count "$count")"
median() { # NAME FIELD(ns|B|allocs)
  printf '%s\n' "$out" | awk -v n="$1" -v f="$2" '$1 ~ n { if (f=="ns") print $3; if (f=="B") print $5; if (f=="allocs") print $7 }' |
    sort -n | awk '{ a[NR]=$1 } END { print a[int((NR+1)/2)] }'
}
ms() { awk -v v="$1" 'BEGIN { printf "%.1f ms", v/1e6 }'; }
kib() { awk -v v="$1" 'BEGIN { printf "%.0f KiB", v/1024 }'; }
p_ns=$(median BenchmarkPlan256 ns); r_ns=$(median BenchmarkRun256 ns)
verdict=$(awk -v v="$p_ns" 'BEGIN { print (v <= 50e6) ? "ok" : "over" }')
{
  echo "# Planning a 256-leg run made through reusable workflows (internal/plan)"
  echo
  echo "Median of $count runs of \`go test ./internal/plan -bench\`, $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg) when measured."
  echo
  echo "| measurement | time | memory | allocations | target |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  echo "| plan 256 legs (first rows → all 256 legs started) | $(ms "$p_ns") | $(kib "$(median BenchmarkPlan256 B)") | $(median BenchmarkPlan256 allocs) | ≤ 50 ms ($verdict) |"
  echo "| run 258 jobs (every decision, one Advance per job end) | $(ms "$r_ns") | $(kib "$(median BenchmarkRun256 B)") | $(median BenchmarkRun256 allocs) | — |"
  echo
  echo "The workflow: \`setup\`, then a 16-leg matrix of calls of a reusable workflow whose job has a"
  echo "16-leg matrix (256 jobs named \`call (a) / test a (b)\`), then \`report\` with \`if: always()\`."
  echo "Wall time on a shared machine includes waiting for a CPU: compare within one run."
} >"$here/results-plan.md"
cat "$here/results-plan.md"
