#!/usr/bin/env bash
# Benchmarks the sandbox: `sluice run --sandbox` against `sluice run` on the
# host, side by side in one run (A, B, A, B, ...), and writes
# bench/results-sandbox.md:
#
#   per step  the sandbox's cost for each `run:` step: one job of 50 steps
#             against one job of one step, with and without the sandbox
#   per job   20 independent one-step jobs against one
#   seed      the seed Python workflow, warm (kept environment), with and
#             without the sandbox, against the bare tools in a prepared venv
#
# Targets (DESIGN.md §7): <= 5 ms a step; the warm seed workflow in the
# sandbox within 1 s of the bare tools. Needs bubblewrap, and PyPI for the
# seed workflow's first (cold) run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
runs="${BENCH_RUNS:-11}"
work="$here/.work/sandbox"
python="${BENCH_PYTHON:-python3}"

# ms DIR COMMAND...: wall milliseconds of one run of COMMAND in DIR; the
# benchmark stops when it fails.
ms() {
  local dir="$1" t0 t1
  shift
  t0=$(date +%s%N)
  if ! (cd "$dir" && "$@" >"$work/last.log" 2>&1); then
    log "failed in $dir: $*"
    cat "$work/last.log" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

median() { printf '%s\n' "$@" | sort -n | python3 -c 'import sys,statistics; print(statistics.median(int(x) for x in sys.stdin))'; }

# pair NAME DIR: medians of `sluice run` and `sluice run --sandbox` in DIR,
# alternated, after one warm-up each; appends "NAME host sandbox" to results.
pair() {
  local name="$1" dir="$2" i host=() sb=()
  ms "$dir" "$work/sluice" run >/dev/null
  ms "$dir" "$work/sluice" run --sandbox >/dev/null
  for ((i = 0; i < runs; i++)); do
    host+=("$(ms "$dir" "$work/sluice" run)")
    sb+=("$(ms "$dir" "$work/sluice" run --sandbox)")
  done
  printf '%s %s %s\n' "$name" "$(median "${host[@]}")" "$(median "${sb[@]}")" >>"$work/results.txt"
}

main() {
  command -v bwrap >/dev/null || { log "bubblewrap is not installed (apt-get install bubblewrap)"; exit 1; }
  mkdir -p "$work"
  : >"$work/results.txt"
  log "building sluice"
  (cd "$root" && go build -o "$work/sluice" ./cmd/sluice)
  export HOME="$work/home" SLUICE_STATE_DIR="$work/state"
  mkdir -p "$HOME"
  for k in base steps50 jobs20; do
    write_repo "$work/repos/$k" "$k"
    log "measuring $k"
    pair "$k" "$work/repos/$k"
  done

  # The seed workflow, from bench/python.sh's project.
  log "seed workflow: cold runs fill the kept environments"
  local seed="$work/repos/seed"
  write_seed_repo "$seed"
  ms "$seed" "$work/sluice" run >/dev/null
  ms "$seed" "$work/sluice" run --sandbox >/dev/null
  log "seed workflow: warm, with and without the sandbox"
  pair seed "$seed"
  grep -q 'already applied with the same inputs' "$work/last.log" || { log "the warm sandboxed run did not keep its environment"; cat "$work/last.log" >&2; exit 1; }
  log "bare tools in a prepared venv"
  local venv="$work/venv-bare" bare=() i
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$seed/requirements-dev.txt"
  for ((i = 0; i < runs; i++)); do
    bare+=("$(ms "$seed" env PATH="$venv/bin:$PATH" bash -e -c 'ruff check . && pytest -q -p no:cacheprovider')")
  done
  printf 'bare %s %s\n' "$(median "${bare[@]}")" "$(median "${bare[@]}")" >>"$work/results.txt"

  python3 - "$work/results.txt" "$here/results-sandbox.md" "$runs" "$(nproc)" "$(bwrap --version)" <<'PY'
import sys
res, out, runs, cpus, bw = sys.argv[1:]
r = {}
for line in open(res):
    name, host, sb = line.split()
    r[name] = (float(host), float(sb))
over = {k: r[k][1] - r[k][0] for k in r}
step = (over["steps50"] - over["base"]) / 49
job = (over["jobs20"] - over["base"]) / 19
seed_host, seed_sb = r["seed"]
bare = r["bare"][0]
ok = lambda good: "ok" if good else "MISSED"
lines = [
    "# The sandbox's cost: `sluice run --sandbox` against `sluice run`",
    "",
    f"One run on this machine ({cpus} CPUs, {bw}); each figure is the median of {runs} runs, the two "
    "modes alternated. The sandbox is one bubblewrap jail per job (own PID, IPC, UTS and user "
    "namespaces, the system read-only, the job's directories writable); each step is a process started "
    "inside it.",
    "",
    "| workload | host | sandbox | sandbox − host |",
    "| --- | ---: | ---: | ---: |",
]
for k, label in (("base", "1 job × 1 step"), ("steps50", "1 job × 50 steps"), ("jobs20", "20 independent jobs"),
                 ("seed", "seed Python workflow, warm")):
    h, s = r[k]
    lines.append(f"| {label} | {h:.0f} ms | {s:.0f} ms | {s - h:+.0f} ms |")
lines += [
    f"| bare tools (`ruff check . && pytest -q` in a prepared venv) | {bare:.0f} ms | | |",
    "",
    "| sandbox cost | measured | target |",
    "| --- | ---: | ---: |",
    f"| per step | {step:.1f} ms | ≤ 5 ms ({ok(step <= 5)}) |",
    f"| per job | {job:.1f} ms | — |",
    f"| fixed (one job, one step) | {over['base']:.0f} ms | — |",
    f"| warm seed workflow in the sandbox minus the bare tools | {(seed_sb - bare) / 1000:.2f} s | ≤ 1 s ({ok(seed_sb - bare <= 1000)}) |",
    "",
    "per step = ((sandbox − host) of 50 steps − (sandbox − host) of 1 step) / 49; per job the same with "
    "20 jobs / 19. A sandboxed job's first process also pays for its own directories (home, /tmp, "
    "caches) being made.",
    "",
]
open(out, "w").write("\n".join(lines))
PY
  cat "$here/results-sandbox.md"
}

main "$@"
