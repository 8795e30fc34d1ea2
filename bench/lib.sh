# Shared by the bench scripts (source it after setting `here`): paths, log
# lines and the one act install they all measure against.
root="$(cd "$here/.." && pwd)"
act_version="v0.2.89"
gobin="$here/.gobin"

log() { printf '==> %s\n' "$*" >&2; }

# ensure_act builds act with `go install` into bench/.gobin once.
ensure_act() {
  if [[ -x "$gobin/act" ]] && "$gobin/act" --version 2>/dev/null | grep -q "${act_version#v}"; then
    return
  fi
  log "installing act $act_version into $gobin (compiles for a few minutes)"
  mkdir -p "$gobin"
  (cd "$here" && GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/nektos/act@$act_version")
}

# write_repo DIR KIND (base, jobs20, chain20, steps50): a git repository with one workflow of that kind, plus
# bare.sh, which runs the same step commands directly (one bash -e per step).
write_repo() {
  local dir="$1" kind="$2" wf="$1/.github/workflows/bench.yml"
  rm -rf "$dir"
  mkdir -p "$dir/.github/workflows" "$dir/steps"
  {
    echo "on: push"
    echo "jobs:"
  } >"$wf"
  local jobs=1 steps=1 chain=0
  case "$kind" in
    base) ;;
    jobs20) jobs=20 ;;
    chain20) jobs=20 chain=1 ;;
    steps50) steps=50 ;;
  esac
  local j s cmd
  printf '#!/usr/bin/env bash\nset -e\n' >"$dir/bare.sh"
  for ((j = 1; j <= jobs; j++)); do
    {
      echo "  j$j:"
      echo "    runs-on: ubuntu-latest"
      if ((chain && j > 1)); then echo "    needs: j$((j - 1))"; fi
      echo "    steps:"
    } >>"$wf"
    for ((s = 1; s <= steps; s++)); do
      if ((s % 2)); then cmd="echo step $j.$s"; else cmd="true"; fi
      echo "      - run: $cmd" >>"$wf"
      printf '%s\n' "$cmd" >"$dir/steps/$j.$s.sh"
      printf 'bash -e %q\n' "$dir/steps/$j.$s.sh" >>"$dir/bare.sh"
    done
  done
  (
    cd "$dir"
    git init -q -b main
    git add -A
    git -c user.name=bench -c user.email=bench@example.com commit -q -m bench
  )
}

# write_seed_repo DIR: the seed Python workflow (checkout, setup-python 3.11,
# pip install -r requirements-dev.txt, ruff check . && pytest -q) on a
# two-test package, as a git repository.
write_seed_repo() {
  local dir="$1"
  rm -rf "$dir"
  mkdir -p "$dir/.github/workflows" "$dir/tests"
  cat >"$dir/.github/workflows/ci.yml" <<'EOF'
name: python-ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: { python-version: '3.11' }
      - run: pip install -r requirements-dev.txt
      - run: ruff check . && pytest -q
EOF
  printf 'ruff==0.6.9\npytest==8.3.3\n' >"$dir/requirements-dev.txt"
  printf '[tool.pytest.ini_options]\npythonpath = ["."]\n' >"$dir/pyproject.toml"
  printf 'def add(a, b):\n    return a + b\n' >"$dir/calc.py"
  : >"$dir/tests/__init__.py"
  cat >"$dir/tests/test_calc.py" <<'EOF'
from calc import add


def test_add():
    assert add(2, 3) == 5


def test_add_negative():
    assert add(-2, -3) == -5
EOF
  (
    cd "$dir"
    git init -q -b main
    git add -A
    git -c user.name=bench -c user.email=bench@example.com commit -q -m bench
  )
}
