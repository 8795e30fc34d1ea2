#!/usr/bin/env bash
# Runs real projects' unchanged CI workflows (the push of their checked-out HEAD) through
# `sluice run` and, with -s, through `sluice serve` with its embedded agent (a polled push), and
# prints one table row per project and path: jobs, passed, and each job that did not pass
# with the first error its log shows. Checkouts are git work trees (fetch them any way you
# like); nothing in them is changed: each is cloned, and the clone's branch becomes the same
# tree pushed on top of an empty commit, so that every workflow's paths filters see every file,
# as on a project's first push.
#
#   bench/realworld.sh [-a ACTIONS] [-n] [-x REGEX] [-s|-S] [-o OUT] [-t SECONDS] CHECKOUT...
#
#   -a ACTIONS  a directory of OWNER/REPO git repositories served as "GitHub" (git daemon on
#               127.0.0.1, given to sluice as --github-url), for machines without GitHub
#   -n          no interpreter downloads (SLUICE_PYTHON_DOWNLOADS=never): on a machine without
#               the internet a leg asking for a Python it lacks fails at once, not after uv's retries
#   -x REGEX    in the clones, drop matrix values matching REGEX (e.g. '3\.1[45](t|-dev)?|pypy-?3\.1[01]'
#               for interpreters a machine without the internet cannot get): under fail-fast,
#               such a leg's failure would cancel the legs that can run. The table says how many.
#   -s          also run each project through sluice serve (a fresh server per project)
#   -S          only through sluice serve (re-measuring the server path alone)
#   -o OUT      where logs and per-job results go (default: a new temporary directory)
#   -t SECONDS  time limit per project and path (default 1800)
#
# SLUICE names the binary (default bin/sluice; `make build` makes it). Jobs whose runs-on asks
# for Windows or macOS (skipped by sluice run, waiting for such an agent on a server) are counted
# apart from the jobs that ran.
set -euo pipefail

sluice=${SLUICE:-bin/sluice}
here=$(cd "$(dirname "$0")" && pwd)
actions="" server=0 local=1 out="" limit=1800 drop=""
while getopts "a:nx:sSo:t:" opt; do
	case $opt in
	a) actions=$(cd "$OPTARG" && pwd) ;;
	n) export SLUICE_PYTHON_DOWNLOADS=never ;;
	x) drop=$OPTARG ;;
	s) server=1 ;;
	S) server=1 local=0 ;;
	o) out=$OPTARG ;;
	t) limit=$OPTARG ;;
	*) sed -n '2,26p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
	sed -n '2,26p' "$0"
	exit 2
fi
sluice=$(cd "$(dirname "$sluice")" && pwd)/$(basename "$sluice")
[ -x "$sluice" ] || { echo "no sluice binary at $sluice (make build)" >&2; exit 2; }
out=${out:-$(mktemp -d -t sluice-realworld.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

github_args=()
if [ -n "$actions" ]; then
	port=$(free_port)
	git daemon --reuseaddr --export-all --base-path="$actions" --listen=127.0.0.1 --port="$port" "$actions" \
		>"$out/git-daemon.log" 2>&1 &
	pids+=($!)
	github_args=(--github-url "git://127.0.0.1:$port")
	for _ in $(seq 50); do git ls-remote "git://127.0.0.1:$port/actions/none" >/dev/null 2>&1 && break; (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
fi

# summarize NAME COMMIT PATH RESULTS: one table row from a file of "job<TAB>result<TAB>reason"
# lines. Jobs are those that ran; skipped ones (a false if:, a skipped need) and those only a
# Windows or macOS machine can run (skipped by sluice run, waiting for such an agent on a
# server) are counted apart.
summarize() {
	local name=$1 commit=$2 path=$3 results=$4
	python3 - "$name" "$commit" "$path" "$results" "$out/$name/dropped.txt" <<'EOF'
import os, re, sys
name, commit, path, results, dropped = sys.argv[1:]
n = 0
if os.path.exists(dropped):
    n = sum(int(l.rsplit(":", 1)[1]) for l in open(dropped) if ":" in l)
rows = [(l.rstrip("\n").split("\t", 2) + ["", ""])[:3] for l in open(results) if l.strip()]
other_os = [r for r in rows if r[1] == "waiting-for-os" or (r[1] == "skipped" and re.search(r"asks for a (Windows|macOS) runner", r[2]))]
skipped = [r for r in rows if r[1] in ("skipped", "waiting") and r not in other_os]
ran = [r for r in rows if r not in other_os and r not in skipped]
passed = [r for r in ran if r[1] == "success"]
why = "; ".join(f"{r[0]}: {r[2] or r[1]}" for r in ran if r[1] != "success")
print(f"| {name} | {commit} | {path} | {len(ran)} | {len(passed)} | {len(skipped)} | {len(other_os)} | {n} | {why or '-'} |")
EOF
}

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

# prepare SRC DEST: DEST is a clone of SRC whose branch holds SRC's tree on top of an empty
# commit (printed), as if the whole project were pushed at once.
prepare() {
	local src=$1 dest=$2 branch empty tip
	branch=$(git -C "$src" symbolic-ref --short HEAD)
	git clone -q --no-hardlinks --branch "$branch" "$src" "$dest"
	if [ -n "$drop" ] && [ -d "$dest/.github/workflows" ]; then
		(cd "$dest" && python3 "$here/realworld_drop.py" "$drop" .github/workflows/*.y*ml >"$out/$(basename "$src")/dropped.txt")
		git -C "$dest" add -A .github/workflows
		# Nothing dropped leaves nothing to commit, which git reports on stdout: keep it out of
		# this function's output (the empty commit's name).
		git -C "$dest" commit -q -m "drop legs this machine cannot run" >/dev/null || true
	fi
	empty=$(git -C "$dest" commit-tree "$(git -C "$dest" hash-object -t tree /dev/null)" -m "empty")
	tip=$(git -C "$dest" commit-tree "HEAD^{tree}" -p "$empty" -m "$(git -C "$src" log -1 --format=%s)")
	git -C "$dest" reset -q --hard "$tip"
	echo "$empty"
}

local_run() {
	local dir=$1 name=$2 state=$out/$name/local
	rm -rf "$state"
	mkdir -p "$state"
	local code=0
	# At the time limit, sluice run is interrupted as by ^C: it cancels what still runs and
	# writes its summary, so the jobs that finished are counted.
	(cd "$dir" && SLUICE_STATE_DIR=$state timeout -s INT -k 60 "$limit" "$sluice" run "${github_args[@]}" >"$state/out.txt" 2>&1) || code=$?
	local run
	run=$(ls -d "$state"/runs/*/ 2>/dev/null | tail -1 || true)
	if [ "$code" = 124 ] && { [ -z "$run" ] || [ ! -f "$run/summary.json" ]; }; then
		printf 'run\ttimeout\tnot finished in %ss\n' "$limit" >"$state/results.tsv"
		return
	fi
	if [ -z "$run" ] || [ ! -f "$run/summary.json" ]; then
		printf 'run\tfailure\t%s\n' "$(grep -m1 -E 'sluice:|error' "$state/out.txt" | cut -c1-200 | tr '\t|' '  ')" >"$state/results.tsv"
		return
	fi
	# Why a job did not pass: its failed tests, else its first error annotation, else the first
	# error-like line of its log.
	python3 - "$run/summary.json" >"$state/results.tsv" <<'EOF'
import json, re, sys
s = json.load(open(sys.argv[1]))
errors = {}
for a in s.get("Annotations") or []:
    if a.get("Level") == "error" and a.get("Job") not in errors:
        errors[a["Job"]] = a.get("Message", "")
pat = re.compile(r"error:|Error:|ERROR|FAILED|failed|No such|refused")
for j in s["Jobs"]:
    reason = j.get("Reason") or ""
    if j["Result"] not in ("success", "skipped"):
        t = j.get("Tests") or {}
        if t.get("Failed"):
            reason = f'{t["Failed"]} test(s) failed: {t.get("Line", "")}'
        elif j["Job"] in errors:
            reason = errors[j["Job"]]
        elif j.get("LogFile"):
            for line in open(j["LogFile"], errors="replace"):
                if pat.search(line):
                    reason = line.strip()
                    break
    reason = re.sub(r"\x1b\[[0-9;]*m", "", reason).replace("\t", " ").replace("|", "/").replace("\n", " ")[:200]
    print(f'{j["Job"]}\t{j["Result"]}\t{reason}')
EOF
}

server_run() {
	local dir=$1 name=$2 empty=$3 state=$out/$name/server
	rm -rf "$state"
	mkdir -p "$state"
	local port token bare branch tip
	port=$(free_port)
	token="slc_$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
	bare=$state/origin.git
	branch=$(git -C "$dir" symbolic-ref --short HEAD)
	tip=$(git -C "$dir" rev-parse HEAD)
	git clone -q --bare "$dir" "$bare"
	git --git-dir="$bare" update-ref "refs/heads/$branch" "$empty"
	SLUICE_STATE_DIR=$state/state SLUICE_ADMIN_TOKEN=$token "$sluice" serve --data "$state/data" \
		--addr "127.0.0.1:$port" --agents 2 --poll 2s "${github_args[@]}" >"$state/serve.log" 2>&1 &
	local spid=$!
	pids+=($spid)
	export SLUICE_SERVER=http://127.0.0.1:$port SLUICE_TOKEN=$token
	for _ in $(seq 100); do curl -fs "$SLUICE_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
	"$sluice" repo add "$name" --url "file://$bare" --default-branch "$branch" >/dev/null
	sleep 5 # the first poll learns where the branches stand
	# The push: the poll sees the branch move from the empty commit to the project.
	git --git-dir="$bare" update-ref "refs/heads/$branch" "$tip"
	# Done when every run is completed, or nothing is running and all that is left waits for a
	# Windows or macOS agent (jobs asking for one, and jobs that need those), twice in a row.
	local deadline=$((SECONDS + limit)) runs="" idle=0
	while [ $SECONDS -lt $deadline ]; do
		sleep 5
		runs=$("$sluice" runs --repo "$name" --json 2>/dev/null || echo '[]')
		if python3 "$here/realworld_server.py" idle "$SLUICE_SERVER" "$token" "$runs"; then
			idle=$((idle + 1))
			[ $idle -ge 2 ] && break
		else
			idle=0
		fi
	done
	python3 "$here/realworld_server.py" results "$SLUICE_SERVER" "$token" "$runs" >"$state/results.tsv"
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	unset SLUICE_SERVER SLUICE_TOKEN
}

echo "| project | commit | path | jobs | passed | skipped | Windows/macOS | legs dropped (-x) | not passed (first error) |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
for src in "$@"; do
	src=$(cd "$src" && pwd)
	name=$(basename "$src")
	commit=$(git -C "$src" rev-parse --short=10 HEAD)
	dir=$out/$name/work
	rm -rf "$dir"
	mkdir -p "$out/$name"
	empty=$(prepare "$src" "$dir")
	if [ "$local" = 1 ]; then
		local_run "$dir" "$name"
		summarize "$name" "$commit" "sluice run" "$out/$name/local/results.tsv"
	fi
	if [ "$server" = 1 ]; then
		server_run "$dir" "$name" "$empty"
		summarize "$name" "$commit" "sluice serve" "$out/$name/server/results.tsv"
	fi
done
echo
echo "Logs and per-job results: $out" >&2
