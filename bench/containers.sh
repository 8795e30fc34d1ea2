#!/usr/bin/env bash
# Container jobs: sluice vs act v0.2.89 (through the same Podman service) vs
# `podman run` of the same commands, on (1) a one-step container job, (2) a
# container job with one service (redis), (3) ten steps in one container.
# Needs scripts/podman-setup.sh and scripts/build-images.sh to have run (make
# deps). Writes bench/results-containers.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
runs="${BENCH_RUNS:-5}"
work="$here/.work/containers"
image=localhost/sluice/python:3.11
redis=localhost/sluice/redis:7
sock=/run/sluice-podman.sock
export DOCKER_HOST="unix://$sock"


write_repo() { # DIR KIND
  local dir="$1" kind="$2"
  rm -rf "$dir"
  mkdir -p "$dir/.github/workflows"
  {
    echo "on: push"
    echo "jobs:"
    echo "  c:"
    echo "    runs-on: ubuntu-latest"
    echo "    container:"
    echo "      image: $image"
    if [[ $kind == service ]]; then
      echo "    services:"
      echo "      redis:"
      echo "        image: $redis"
    fi
    echo "    steps:"
    local n=1
    [[ $kind == steps10 ]] && n=10
    for ((i = 1; i <= n; i++)); do echo "      - run: python3 -c 'print($i)'"; done
  } >"$dir/.github/workflows/bench.yml"
  (cd "$dir" && git init -q -b main && git add -A && git -c user.name=b -c user.email=b@b commit -q -m bench)
}

# bare equivalents with podman itself
bare_one() { podman run --rm "$image" python3 -c 'print(1)' >/dev/null; }
bare_service() {
  local net="bench-$$-$RANDOM"
  podman network create "$net" >/dev/null
  podman run -d --rm --name "$net-redis" --network "$net" --network-alias redis "$redis" >/dev/null
  podman run --rm --network "$net" "$image" python3 -c 'print(1)' >/dev/null
  podman rm -f "$net-redis" >/dev/null
  podman network rm "$net" >/dev/null
}
bare_steps10() {
  local id
  id=$(podman run -d --rm "$image" tail -f /dev/null)
  for i in $(seq 10); do podman exec "$id" python3 -c "print($i)" >/dev/null; done
  podman rm -f "$id" >/dev/null
}

median_ms() { # CMD...: median wall time over $runs runs (after one warm-up)
  local t0 t1 times=()
  "$@" >/dev/null 2>&1 || true
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "fail"; return; }
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000000)))
  done
  printf '%s\n' "${times[@]}" | sort -n | python3 -c 'import sys,statistics; print(statistics.median(int(x) for x in sys.stdin))'
}

main() {
  curl -sf --unix-socket "$sock" http://d/_ping >/dev/null || { log "no Podman API on $sock: run scripts/podman-setup.sh"; exit 1; }
  podman image exists "$image" && podman image exists "$redis" || { log "images missing: run scripts/build-images.sh"; exit 1; }
  mkdir -p "$work"
  ensure_act
  (cd "$root" && go build -o "$work/sluice" ./cmd/sluice)
  export HOME="$work/home" SLUICE_STATE_DIR="$work/state"
  mkdir -p "$HOME"
  local out="$work/results.tsv"
  : >"$out"
  for kind in one service steps10; do
    local d="$work/repos/$kind"
    write_repo "$d" "$kind"
    log "measuring $kind"
    local bare sl act
    bare=$(median_ms "bare_$kind")
    sl=$(cd "$d" && median_ms "$work/sluice" run)
    act=$(cd "$d" && median_ms "$gobin/act" push -P "ubuntu-latest=$image" --pull=false --action-offline-mode --container-daemon-socket "$DOCKER_HOST")
    printf '%s\t%s\t%s\t%s\n' "$kind" "$bare" "$sl" "$act" >>"$out"
  done
  python3 - "$out" "$runs" >"$here/results-containers.md" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
labels = {"one": "one-step container job", "service": "container job + redis service", "steps10": "10 steps in one container"}
print("# Container jobs: sluice vs act (same Podman service) vs podman itself\n")
print(f"Median wall time of {sys.argv[2]} runs. act v0.2.89 with -P ubuntu-latest=IMAGE --pull=false.\n")
print("| workload | podman | sluice | act | sluice − podman (target ≤ 1000 ms) |")
print("| --- | ---: | ---: | ---: | ---: |")
for k, bare, sl, act in rows:
    try:
        over = f"{int(sl) - int(bare)} ms"
    except ValueError:
        over = "n/a"
    print(f"| {labels[k]} | {bare} ms | {sl} ms | {act if act == 'fail' else act + ' ms'} | {over} |")
PY
  cat "$here/results-containers.md"
}

main "$@"
