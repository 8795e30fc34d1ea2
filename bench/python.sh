#!/usr/bin/env bash
# Benchmarks sluice's kept Python environments on two real shapes of project
# and writes bench/results-python.md:
#
#   editable   checkout, setup-python 3.11, pip install -r requirements-dev.txt
#              (-e . with setuptools, ruff, pytest), ruff check . && pytest -q
#   uv sync    checkout, setup-python 3.11, setup-uv, uv sync --locked,
#              uv run ruff check . && uv run pytest -q
#
# For each: sluice cold (fresh state directory: downloads included), sluice
# warm (later runs: kept environment restored, index checked), the same
# steps without reuse on warm pip/uv caches (`sluice run --no-env-reuse`),
# and the bare tools in a prepared environment. Only passing runs count:
# a failing run stops the benchmark, and a warm run that did not reuse the
# environment (or whose pip freeze differs from the cold run's) is an error.
# The headline figure is warm minus bare tools (target <= 1 s). Needs PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
runs="${BENCH_RUNS:-7}"
work="$here/.work/python"
python="${BENCH_PYTHON:-python3}"

write_common() {
  local dir="$1"
  mkdir -p "$dir/.github/workflows" "$dir/src/calc" "$dir/tests"
  printf 'def add(a, b):\n    return a + b\n' >"$dir/src/calc/__init__.py"
  cat >"$dir/tests/test_calc.py" <<'EOF'
from calc import add


def test_add():
    assert add(2, 3) == 5


def test_add_negative():
    assert add(-2, -3) == -5
EOF
}

commit() {
  (
    cd "$1"
    git init -q -b main
    git add -A
    git -c user.name=bench -c user.email=bench@example.com commit -q -m bench
  )
}

write_editable() {
  local dir="$1"
  rm -rf "$dir"
  write_common "$dir"
  cat >"$dir/.github/workflows/ci.yml" <<'EOF'
name: editable
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: { python-version: '3.11' }
      - run: pip install -r requirements-dev.txt
      - name: freeze
        run: pip freeze --all | sed 's/^/FREE''ZE /'
      - run: ruff check . && pytest -q
EOF
  printf -- '-e .\nruff==0.6.9\npytest==8.3.3\n' >"$dir/requirements-dev.txt"
  cat >"$dir/pyproject.toml" <<'EOF'
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "calc"
version = "0.1.0"
EOF
  commit "$dir"
}

write_uv() {
  local dir="$1" uv="$2"
  rm -rf "$dir"
  write_common "$dir"
  cat >"$dir/.github/workflows/ci.yml" <<'EOF'
name: uv
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: { python-version: '3.11' }
      - uses: astral-sh/setup-uv@v5
      - run: uv sync --locked
      - name: freeze
        run: uv pip freeze --python .venv | sed 's/^/FREE''ZE /'
      - run: uv run --frozen ruff check . && uv run --frozen pytest -q
EOF
  cat >"$dir/pyproject.toml" <<'EOF'
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "calc"
version = "0.1.0"
requires-python = ">=3.11"

[dependency-groups]
dev = ["ruff==0.6.9", "pytest==8.3.3"]
EOF
  (cd "$dir" && "$uv" lock -q --python "$python")
  commit "$dir"
}

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

freeze() { grep -o 'FREEZE .*' "$1" | sort; }

# bench_project NAME DIR: cold, warm and no-reuse times of one project,
# written to $work/NAME.res as "cold warm noreuse".
bench_project() {
  local name="$1" dir="$2" state="$work/state-$1"
  rm -rf "$state"
  cd "$dir"
  log "$name: sluice cold (fresh state dir $state)"
  local cold warm_runs=() warm noreuse_runs=() noreuse i
  cold=$(SLUICE_STATE_DIR="$state" ms "$work/sluice" run)
  must "$name cold run"
  cp "$work/last.log" "$work/$name-cold.log"
  for ((i = 0; i < runs; i++)); do
    warm_runs+=("$(SLUICE_STATE_DIR="$state" ms "$work/sluice" run)")
    must "$name warm run"
    grep -q 'environment restored from' "$work/last.log" || { log "$name: warm run did not restore the environment"; cat "$work/last.log" >&2; exit 1; }
    if [[ "$(freeze "$work/last.log")" != "$(freeze "$work/$name-cold.log")" ]]; then
      log "$name: warm run's pip freeze differs from the cold run's"
      diff <(freeze "$work/$name-cold.log") <(freeze "$work/last.log") >&2 || true
      exit 1
    fi
  done
  cp "$work/last.log" "$work/$name-warm.log"
  warm=$(median "${warm_runs[@]}")
  log "$name: the same steps without reuse, warm pip/uv caches"
  for ((i = 0; i < 3; i++)); do
    noreuse_runs+=("$(SLUICE_STATE_DIR="$state" ms "$work/sluice" run --no-env-reuse)")
    must "$name run without reuse"
  done
  noreuse=$(median "${noreuse_runs[@]}")
  echo "$cold $warm $noreuse" >"$work/$name.res"
}

main() {
  mkdir -p "$work"
  log "building sluice"
  (cd "$root" && go build -o "$work/sluice" ./cmd/sluice)
  export HOME="$work/home"
  mkdir -p "$HOME"

  local uv="$work/uv-tools/bin/uv"
  if [[ ! -x "$uv" ]]; then
    log "installing uv into $work/uv-tools (for locking and the bare uv runs)"
    "$python" -m venv "$work/uv-tools"
    "$work/uv-tools/bin/pip" install -q --disable-pip-version-check uv
  fi
  export PATH="$work/uv-tools/bin:$PATH"

  write_editable "$work/editable"
  write_uv "$work/uvsync" "$uv"
  local ed_cold ed_warm ed_noreuse uv_cold uv_warm uv_noreuse
  bench_project editable "$work/editable"
  bench_project uvsync "$work/uvsync"
  read -r ed_cold ed_warm ed_noreuse <"$work/editable.res"
  read -r uv_cold uv_warm uv_noreuse <"$work/uvsync.res"

  log "bare tools in prepared environments"
  local venv="$work/venv-bare" bare_runs=() ed_bare uv_bare i
  rm -rf "$venv"
  "$python" -m venv "$venv"
  (cd "$work/editable" && PIP_CACHE_DIR="$work/state-editable/cache/pip" "$venv/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt)
  # Bare runs both ways: the test commands alone, and every command the
  # workflow runs after its install (the freeze line the benchmark checks
  # warm == cold with, then the tests). The headline compares like with
  # like: the second.
  local ed_tests uv_tests
  cd "$work/editable"
  for ((i = 0; i < runs; i++)); do
    bare_runs+=("$(ms env PATH="$venv/bin:$PATH" bash -e -c 'ruff check . && pytest -q -p no:cacheprovider')")
    must "bare tools (editable)"
  done
  ed_tests=$(median "${bare_runs[@]}")
  bare_runs=()
  for ((i = 0; i < runs; i++)); do
    bare_runs+=("$(ms env PATH="$venv/bin:$PATH" bash -e -c "pip freeze --all | sed 's/^/FREEZE /' && ruff check . && pytest -q -p no:cacheprovider")")
    must "bare tools with freeze (editable)"
  done
  ed_bare=$(median "${bare_runs[@]}")
  bare_runs=()
  cd "$work/uvsync"
  UV_CACHE_DIR="$work/state-uvsync/cache/uv" "$uv" sync -q --locked
  for ((i = 0; i < runs; i++)); do
    bare_runs+=("$(ms env UV_CACHE_DIR="$work/state-uvsync/cache/uv" bash -e -c 'uv run --frozen ruff check . && uv run --frozen pytest -q -p no:cacheprovider')")
    must "bare tools (uv)"
  done
  uv_tests=$(median "${bare_runs[@]}")
  bare_runs=()
  for ((i = 0; i < runs; i++)); do
    bare_runs+=("$(ms env UV_CACHE_DIR="$work/state-uvsync/cache/uv" bash -e -c "uv pip freeze --python .venv | sed 's/^/FREEZE /' && uv run --frozen ruff check . && uv run --frozen pytest -q -p no:cacheprovider")")
    must "bare tools with freeze (uv)"
  done
  uv_bare=$(median "${bare_runs[@]}")

  local pyver uvver
  pyver=$(grep -oE 'Python 3\.11\.[0-9]+ \([^)]*\)' "$work/editable-cold.log" | head -n1 || true)
  uvver=$("$uv" --version)
  python3 - "$here/results-python.md" "$runs" "$(nproc)" "$pyver" "$uvver" \
    "$ed_cold" "$ed_warm" "$ed_noreuse" "$ed_bare" "$uv_cold" "$uv_warm" "$uv_noreuse" "$uv_bare" "$ed_tests" "$uv_tests" <<'EOF'
import sys
out, runs, cpus, pyver, uvver = sys.argv[1:6]
ed = [int(x) for x in sys.argv[6:10]] + [int(sys.argv[14])]
uv = [int(x) for x in sys.argv[10:14]] + [int(sys.argv[15])]
s = lambda v: f"{v / 1000:.2f} s"
mark = lambda warm, bare: "ok" if warm - bare <= 1000 else "MISSED"
lines = [
    "# Kept Python environments: cold, warm, without reuse, bare tools",
    "",
    f"Two projects on {cpus} CPUs, {pyver or 'Python 3.11'}, {uvver}; packages from PyPI. "
    f"Warm and bare are medians of {runs} runs, without reuse the median of 3. Only passing runs "
    "count, and every warm run must restore the kept environment with the same `pip freeze` as the "
    "cold run (the benchmark stops otherwise).",
    "",
    "- **editable**: checkout, setup-python 3.11, `pip install -r requirements-dev.txt` "
    "(`-e .` built by setuptools, ruff 0.6.9, pytest 8.3.3), `ruff check . && pytest -q`.",
    "- **uv sync**: checkout, setup-python 3.11, setup-uv, `uv sync --locked` (the project editable, "
    "ruff and pytest in the dev group), `uv run ruff check . && uv run pytest -q`.",
    "",
    "| measurement | editable | uv sync | notes |",
    "| --- | ---: | ---: | --- |",
    f"| sluice run, cold | {s(ed[0])} | {s(uv[0])} | fresh state dir: downloads, new environments |",
    f"| sluice run, warm | {s(ed[1])} | {s(uv[1])} | kept environment restored, index asked about what it decided |",
    f"| sluice run --no-env-reuse, warm caches | {s(ed[2])} | {s(uv[2])} | the same steps run for real |",
    f"| bare tools | {s(ed[3])} | {s(uv[3])} | the workflow's commands after its install (the freeze line, then the tests) in a prepared environment |",
    f"| bare tools, tests only | {s(ed[4])} | {s(uv[4])} | without the freeze line (the figure earlier tables compared with) |",
    "",
    f"**Warm run minus bare tools: editable {(ed[1] - ed[3]) / 1000:.2f} s ({mark(ed[1], ed[3])}), "
    f"uv sync {(uv[1] - uv[3]) / 1000:.2f} s ({mark(uv[1], uv[3])})** (target <= 1 s); against the "
    f"tests alone {(ed[1] - ed[4]) / 1000:.2f} s and {(uv[1] - uv[4]) / 1000:.2f} s. "
    f"Reuse saves {(ed[2] - ed[1]) / 1000:.2f} s and {(uv[2] - uv[1]) / 1000:.2f} s over running the "
    "same steps on warm caches.",
    "",
    "Reproduce: `make bench-python` (BENCH_RUNS=N for more runs). All figures come from one run on "
    "one machine; compare within a run.",
    "",
]
open(out, "w").write("\n".join(lines))
EOF
  cat "$here/results-python.md"
}

main "$@"
