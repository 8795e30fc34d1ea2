#!/usr/bin/env bash
# Benchmarks `sluice run` against act v0.2.89 in host mode and against the bare
# commands, on three workloads, and writes bench/results.md.
#
#   (a) 20 independent one-step jobs   (b) a chain of 20 jobs (needs)
#   (c) one job of 50 steps            (base) one job of one step
#
# Overheads (each tool's time minus the bare commands' time):
#   fixed    = over(base)
#   per job  = (over(a) - over(base)) / 19, and the same for the chain (b)
#   per step = (over(c) - over(base)) / 49
# Works offline once act is installed (it is built here with `go install`
# into bench/.gobin the first time; that needs the Go module proxy).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
runs="${BENCH_RUNS:-15}"
warmup="${BENCH_WARMUP:-3}"
work="$here/.work"



ensure_hyperfine() {
  command -v hyperfine >/dev/null && return
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing hyperfine"
    apt-get install -y hyperfine >/dev/null 2>&1 || true
  fi
  command -v hyperfine >/dev/null || log "hyperfine not available: falling back to median of $runs runs"
}

# measure NAME DIR COMMAND...: prints the median wall time in milliseconds.
measure() {
  local name="$1" dir="$2"
  shift 2
  local json="$work/json/$name.json"
  mkdir -p "$work/json"
  if command -v hyperfine >/dev/null; then
    (cd "$dir" && hyperfine -N --style none --warmup "$warmup" --runs "$runs" \
      --export-json "$json" -- "$(printf '%q ' "$@")" >/dev/null)
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$json"
  else
    local i t0 t1 times=()
    for ((i = 0; i < warmup; i++)); do (cd "$dir" && "$@" >/dev/null 2>&1); done
    for ((i = 0; i < runs; i++)); do
      t0=$(date +%s%N)
      (cd "$dir" && "$@" >/dev/null 2>&1)
      t1=$(date +%s%N)
      times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | python3 -c 'import sys,statistics; print("%.2f" % (statistics.median(int(x) for x in sys.stdin)/1000))'
  fi
}

main() {
  mkdir -p "$work"
  ensure_act &
  local act_pid=$!
  ensure_hyperfine
  log "building sluice"
  (cd "$root" && go build -o "$work/sluice" ./cmd/sluice)
  wait "$act_pid"

  export HOME="$work/home" SLUICE_STATE_DIR="$work/state"
  mkdir -p "$HOME"
  local kinds=(base jobs20 chain20 steps50)
  for k in "${kinds[@]}"; do write_repo "$work/repos/$k" "$k"; done

  # Sanity: both tools must succeed on every workload before timing.
  for k in "${kinds[@]}"; do
    (cd "$work/repos/$k" && "$work/sluice" run >/dev/null 2>&1) || { log "sluice failed on $k"; (cd "$work/repos/$k" && "$work/sluice" run) || true; exit 1; }
    (cd "$work/repos/$k" && "$gobin/act" push -P ubuntu-latest=-self-hosted --action-offline-mode >/dev/null 2>&1) || { log "act failed on $k"; exit 1; }
  done

  local results="$work/results.tsv"
  : >"$results"
  for k in "${kinds[@]}"; do
    local d="$work/repos/$k"
    log "measuring $k"
    printf '%s\tbare\t%s\n' "$k" "$(measure "$k-bare" "$d" bash "$d/bare.sh")" >>"$results"
    printf '%s\tsluice\t%s\n' "$k" "$(measure "$k-sluice" "$d" "$work/sluice" run)" >>"$results"
    printf '%s\tact\t%s\n' "$k" "$(measure "$k-act" "$d" "$gobin/act" push -P ubuntu-latest=-self-hosted --action-offline-mode)" >>"$results"
  done

  python3 "$here/report.py" "$results" "$runs" "$(nproc)" >"$here/results.md"
  cat "$here/results.md"
}

main "$@"
