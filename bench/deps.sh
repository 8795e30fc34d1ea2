#!/usr/bin/env bash
# Benchmarks `sluice deps update` against running `uv lock --upgrade` by hand (issue 17) and
# writes bench/results-deps.md.
#
# A local pypiserver holds 150 small packages (pkg001..pkg150), each at 1.0.0 and 1.1.0; a uv
# project depends on all of them and is locked at 1.0.0. Each measured run starts from that
# lock and moves every package to 1.1.0: sluice (default configuration, the same uv binary
# found on PATH) against the bare `uv lock --upgrade`, alternating, with warm caches on both
# sides (uv's cache and sluice's index cache are filled by warm-up runs). The index is a static
# PEP 503 tree served by Python's threading HTTP server on 127.0.0.1: PyPI's latency varies
# more than the overhead being measured, and pypiserver's answer time (a directory scan per
# request) would swamp it too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
runs="${BENCH_RUNS:-11}"
packages="${BENCH_PACKAGES:-150}"
work="$here/.work/deps"
python="${BENCH_PYTHON:-python3}"

rm -rf "$work"
mkdir -p "$work/index" "$work/project" "$work/state" "$work/uvcache"
log "tools venv (uv)"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check uv==0.13.9
export PATH="$work/venv/bin:$PATH"
uv="$work/venv/bin/uv"

log "building $packages packages x 2 versions"
"$work/venv/bin/python" - "$work/index" "$packages" <<'EOF'
import base64, hashlib, os, sys, zipfile
out, n = sys.argv[1], int(sys.argv[2])
def wheel(name, version):
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nProject-URL: Changelog, https://example.org/{name}/changes\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{k},sha256={base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b'=').decode()},{len(v)}\n" for k, v in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    path = os.path.join(out, f"{name}-{version}-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return path
files = os.path.join(out, "files")
os.makedirs(files, exist_ok=True)
for i in range(1, n + 1):
    name = f"pkg{i:03d}"
    for v in ("1.0.0", "1.1.0"):
        p = wheel(name, v)
        os.rename(p, os.path.join(files, os.path.basename(p)))
EOF

# simple_pages writes the PEP 503 pages listing the wheels of the given versions.
simple_pages() {
  "$work/venv/bin/python" - "$work/index" "$packages" "$@" <<'EOF'
import hashlib, os, sys
out, n, versions = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for i in range(1, n + 1):
    name = f"pkg{i:03d}"
    d = os.path.join(out, "simple", name)
    os.makedirs(d, exist_ok=True)
    links = []
    for v in versions:
        f = f"{name}-{v}-py3-none-any.whl"
        h = hashlib.sha256(open(os.path.join(out, "files", f), "rb").read()).hexdigest()
        links.append(f'<a href="../../files/{f}#sha256={h}">{f}</a><br>')
    with open(os.path.join(d, "index.html"), "w") as fh:
        fh.write("<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>\n")
EOF
}
simple_pages 1.0.0
port="$("$work/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
(cd "$work/index" && exec "$work/venv/bin/python" -m http.server --bind 127.0.0.1 "$port") >"$work/index.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/simple/pkg001/" >/dev/null && break; sleep 0.1; done
index="http://127.0.0.1:$port/simple"

log "locking the project at 1.0.0"
deps="$(seq -f 'pkg%03g' 1 "$packages" | sed 's/.*/"&"/' | paste -sd, -)"
cat >"$work/project/pyproject.toml" <<EOF
[project]
name = "bench"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = [$deps]

[[tool.uv.index]]
url = "$index"
default = true
EOF
export UV_CACHE_DIR="$work/uvcache" UV_PYTHON_DOWNLOADS=never SLUICE_STATE_DIR="$work/state"
(cd "$work/project" && git init -q -b main && "$uv" lock -q)
cp "$work/project/uv.lock" "$work/old.lock"
simple_pages 1.0.0 1.1.0

log "building sluice"
(cd "$root" && go build -o "$work/sluice" ./cmd/sluice)

run_sluice() { cp "$work/old.lock" "$work/project/uv.lock" && (cd "$work/project" && "$work/sluice" deps update >"$work/sluice.out" 2>&1); }
run_uv() { cp "$work/old.lock" "$work/project/uv.lock" && (cd "$work/project" && "$uv" lock --upgrade -q); }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

log "warm-up"
run_uv; run_sluice; run_uv; run_sluice
grep -q "$packages change(s)" "$work/sluice.out" || { cat "$work/sluice.out"; echo "sluice did not move every package" >&2; exit 1; }

log "measuring $runs pairs"
# Each run's wall time and CPU time (user + system, the lock tool included): on a shared,
# loaded machine the CPU figure says what sluice itself costs better than the wall clock.
measure() { /usr/bin/time -f '%e %U %S' -o "$work/time.out" bash -c "$1" >/dev/null 2>&1; awk '{printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000}' "$work/time.out"; }
export -f run_sluice run_uv
export work uv
s_times=(); u_times=(); s_cpu=(); u_cpu=()
for _ in $(seq "$runs"); do
  read -r w c < <(measure run_uv); u_times+=("$w"); u_cpu+=("$c")
  read -r w c < <(measure run_sluice); s_times+=("$w"); s_cpu+=("$c")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio_median() { # ratio_median A... -- B...: median of A[i]/B[i]
  local -a a=() b=(); local side=a
  for x in "$@"; do if [[ $x == -- ]]; then side=b; elif [[ $side == a ]]; then a+=("$x"); else b+=("$x"); fi; done
  local -a r=(); for i in "${!a[@]}"; do r+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN {printf "%.3f", x / y}')"); done
  median "${r[@]}"
}
u_med=$(median "${u_times[@]}"); s_med=$(median "${s_times[@]}")
uc_med=$(median "${u_cpu[@]}"); sc_med=$(median "${s_cpu[@]}")
r_med=$(ratio_median "${s_times[@]}" -- "${u_times[@]}")
rc_med=$(ratio_median "${s_cpu[@]}" -- "${u_cpu[@]}")
load="$(cut -d' ' -f1-3 /proc/loadavg)"
date_line="$(date -u +%Y-%m-%d)"
cat >"$here/results-deps.md" <<EOF
# sluice deps update vs uv lock --upgrade

$date_line, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), commit $(git -C "$root" rev-parse --short HEAD). \`make bench-deps\` (bench/deps.sh).

A uv project with $packages locked packages, each moving 1.0.0 → 1.1.0, against a local static
PEP 503 index on 127.0.0.1 built by the script (PyPI's latency varies more than the overhead
measured). Warm caches on both
sides: uv's cache and sluice's index cache (release dates and changelog links) were filled by
warm-up runs. sluice runs the same uv binary (found on PATH) with the default configuration
and also reads both locks, dates every change and prints the diff. $runs alternating pairs;
each run starts from the 1.0.0 lock.

| command | wall, median | CPU (user+sys), median | wall, all runs (ms) |
| --- | ---: | ---: | --- |
| \`uv lock --upgrade\` | ${u_med} ms | ${uc_med} ms | ${u_times[*]} |
| \`sluice deps update\` | ${s_med} ms | ${sc_med} ms | ${s_times[*]} |

Median of the pair-by-pair ratios sluice / uv: wall **${r_med}**, CPU **${rc_med}** (target ≤ 1.10).
Load average during the run: ${load} (the machine is shared; the pairs alternate so that load
falls on both sides alike, and CPU time is the steadier figure).
EOF
cat "$here/results-deps.md"
