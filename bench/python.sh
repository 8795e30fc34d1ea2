#!/usr/bin/env bash
# Benchmarks issue 4's seed workflow (checkout, setup-python 3.11,
# pip install -r requirements-dev.txt, ruff check . && pytest -q) and writes
# bench/results-python.md:
#
#   sluice cold   first run with a fresh state directory (PyPI downloads included)
#   sluice warm   later runs: the kept environment is restored
#   bare tools    `ruff check . && pytest -q` in a prepared venv
#   pip / uv      `pip install -r` vs `uv pip install -r` into fresh venvs, warm caches
#   act           v0.2.89 host mode, which cannot fetch actions/setup-python offline
#
# The headline figure is warm minus bare tools (target <= 1 s). Needs PyPI
# for the cold run; act comes from bench/run.sh's install in bench/.gobin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
runs="${BENCH_RUNS:-7}"
work="$here/.work/python"
python="${BENCH_PYTHON:-python3}"



# ms COMMAND...: runs it (output to $work/last.log), prints the wall time
# in milliseconds; the exit code goes to $work/last.code.
ms() {
  local t0 t1 code=0
  t0=$(date +%s%N)
  "$@" >"$work/last.log" 2>&1 || code=$?
  t1=$(date +%s%N)
  echo "$code" >"$work/last.code"
  echo $(((t1 - t0) / 1000000))
}

median() { printf '%s\n' "$@" | sort -n | python3 -c 'import sys,statistics; print(int(statistics.median(int(x) for x in sys.stdin)))'; }

# must NAME: fails the benchmark when the last measured command failed.
must() {
  if [[ "$(cat "$work/last.code")" != 0 ]]; then
    log "$1 failed (exit $(cat "$work/last.code")):"
    cat "$work/last.log" >&2
    exit 1
  fi
}

main() {
  mkdir -p "$work"
  ensure_act &
  local act_pid=$!
  log "building sluice"
  (cd "$root" && go build -o "$work/sluice" ./cmd/sluice)
  wait "$act_pid"

  local repo="$work/repo" state="$work/state"
  write_seed_repo "$repo"
  export HOME="$work/home"
  mkdir -p "$HOME"
  rm -rf "$state"
  export SLUICE_STATE_DIR="$state"
  cd "$repo"

  log "sluice cold (fresh state dir $state)"
  local cold warm_runs=() warm i
  cold=$(ms "$work/sluice" run)
  must "sluice cold run"
  cp "$work/last.log" "$work/cold.log"
  for ((i = 0; i < runs; i++)); do
    warm_runs+=("$(ms "$work/sluice" run)")
    must "sluice warm run"
    grep -q 'environment restored' "$work/last.log" || { log "warm run did not restore the environment"; cat "$work/last.log" >&2; exit 1; }
  done
  cp "$work/last.log" "$work/warm.log"
  warm=$(median "${warm_runs[@]}")

  log "bare tools in a prepared venv"
  local venv="$work/venv-bare"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  PIP_CACHE_DIR="$state/cache/pip" "$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
  local bare_runs=() bare
  for ((i = 0; i < runs; i++)); do
    bare_runs+=("$(ms env PATH="$venv/bin:$PATH" bash -e -c 'ruff check . && pytest -q -p no:cacheprovider')")
    must "bare tools"
  done
  bare=$(median "${bare_runs[@]}")

  log "pip install -r vs uv pip install -r into fresh venvs (warm caches)"
  local uv="$state/tools/uv/bin/uv"
  if [[ ! -x "$uv" ]]; then
    log "no uv in $state/tools (setup-python puts it there): installing one into $work/uv-tools"
    "$python" -m venv "$work/uv-tools"
    "$work/uv-tools/bin/pip" install -q --disable-pip-version-check uv
    uv="$work/uv-tools/bin/uv"
  fi
  local pip_runs=() uv_runs=() pipt uvt uvver
  uvver=$("$uv" --version)
  # Round -1 only fills uv's cache (the cold run filled pip's).
  for ((i = -1; i < 3; i++)); do
    rm -rf "$work/venv-pip" "$work/venv-uv"
    "$python" -m venv "$work/venv-pip"
    pip_runs+=("$(ms env PIP_CACHE_DIR="$state/cache/pip" "$work/venv-pip/bin/pip" install --disable-pip-version-check -r requirements-dev.txt)")
    must "pip install"
    "$uv" venv -q --python "$python" "$work/venv-uv"
    uv_runs+=("$(ms env UV_CACHE_DIR="$state/cache/uv" VIRTUAL_ENV="$work/venv-uv" "$uv" pip install -r requirements-dev.txt)")
    must "uv pip install"
    if ((i < 0)); then pip_runs=() uv_runs=(); fi
  done
  pipt=$(median "${pip_runs[@]}")
  uvt=$(median "${uv_runs[@]}")

  log "act $act_version host mode"
  local actt act_code act_err
  actt=$(ms "$gobin/act" push -P ubuntu-latest=-self-hosted --action-offline-mode)
  act_code=$(cat "$work/last.code")
  cp "$work/last.log" "$work/act.log"
  act_err=$(grep -iE 'setup-python' "$work/act.log" | grep -iE 'error|fail|unable|could not' | head -n1 || true)
  [[ -n "$act_err" ]] || act_err=$(grep -iE 'error|fail' "$work/act.log" | head -n1 || true)
  act_err=$(printf '%s' "$act_err" | sed -E 's/\x1b\[[0-9;]*m//g; s/[[:space:]]+/ /g; s/\|/\\|/g' | cut -c1-300)

  local pyver
  pyver=$(grep -oE 'Python 3\.11\.[0-9]+ \([^)]*\)' "$work/cold.log" | head -n1 || true)
  python3 - "$here/results-python.md" "$cold" "$warm" "$bare" "$pipt" "$uvt" "$actt" "$act_code" "$act_err" \
    "$runs" "$(nproc)" "$uvver" "$pyver" <<'EOF'
import sys
out, cold, warm, bare, pipt, uvt, actt, act_code, act_err, runs, cpus, uvver, pyver = sys.argv[1:]
cold, warm, bare, pipt, uvt, actt = (int(x) for x in (cold, warm, bare, pipt, uvt, actt))
over = warm - bare
mark = "ok" if over <= 1000 else "MISSED"
s = lambda v: f"{v / 1000:.2f} s"
lines = [
    "# The seed workflow: sluice cold and warm vs bare tools vs act",
    "",
    f"Issue 4's seed workflow (checkout, setup-python 3.11, `pip install -r requirements-dev.txt` with "
    f"ruff 0.6.9 + pytest 8.3.3, `ruff check . && pytest -q`) on a two-test package; {cpus} CPUs, "
    f"{pyver or 'Python 3.11'}, {uvver}. Warm and bare are medians of {runs} runs; pip/uv medians of 3.",
    "",
    "| measurement | wall time | notes |",
    "| --- | ---: | --- |",
    f"| sluice run, cold | {s(cold)} | fresh state dir: uv from PyPI, new venv, wheels downloaded |",
    f"| sluice run, warm | {s(warm)} | kept environment restored, install step skipped |",
    f"| bare tools | {s(bare)} | `ruff check . && pytest -q` in a prepared venv |",
    f"| `pip install -r` | {s(pipt)} | fresh venv, warm pip cache |",
    f"| `uv pip install -r` | {s(uvt)} | fresh venv, warm uv cache |",
    f"| act v0.2.89 host mode | {s(actt)} | exit {act_code}: {act_err or '(no error line)'} |",
    "",
    f"**Warm run minus bare tools: {over / 1000:.2f} s** (target <= 1 s: {mark}).",
    "",
    "act runs with `-P ubuntu-latest=-self-hosted --action-offline-mode`; without network access to "
    "GitHub it cannot fetch actions/setup-python, so it has no time to compare. All figures come "
    "from one run on one machine; compare within a run.",
    "",
]
open(out, "w").write("\n".join(lines))
EOF
  cat "$here/results-python.md"
}

main "$@"
