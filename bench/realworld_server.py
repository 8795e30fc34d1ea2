"""The server side of bench/realworld.sh, over sluice serve's API.

  realworld_server.py idle BASE TOKEN RUNS-JSON     exit 0 when the runs have nothing left that
                                                    this Linux machine's agents can run
  realworld_server.py results BASE TOKEN RUNS-JSON  print "job<TAB>result<TAB>reason" lines

A job whose runs-on asks for Windows or macOS waits on a server for an agent with those labels
(sluice run skips it); such jobs, and the jobs that need them, are what is left when a run is
otherwise done."""
import json, re, sys, urllib.request

OTHER_OS = re.compile(r"^(windows|macos)|^(win|osx|darwin)$", re.I)
# the same words as the sluice run path (realworld.sh) looks for
REASON_WORDS = ("error:", "Error:", "ERROR", "FAILED", "failed", "No such", "refused")


def get(base, token, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def jobs_of(base, token, runs):
    for run in runs:
        yield run, json.loads(get(base, token, f"/api/v1/runs/{run['id']}")).get("jobs") or []


def other_os(job):
    return any(OTHER_OS.search(l) for l in job.get("labels") or [])


def idle(base, token, runs):
    if not runs:
        return False
    for run, jobs in jobs_of(base, token, runs):
        if run["status"] == "completed":
            continue
        for j in jobs:
            if j["status"] == "in_progress" or (j["status"] == "queued" and not other_os(j)):
                return False
    return True


def first_error(base, token, job):
    """The first error annotation of the job's log (as the sluice run path prefers its
    summary's error annotations), else its first error-like line."""
    try:
        lines = [json.loads(raw) for raw in get(base, token, f"/api/v1/jobs/{job['id']}/logs?limit=10000").splitlines()]
    except Exception:
        return ""
    for l in lines:
        if l.get("kind") == "error":
            return l.get("text", "")[:160]
    for l in lines:
        if any(w in l.get("text", "") for w in REASON_WORDS):
            return l["text"][:160]
    return ""


def results(base, token, runs):
    for run, jobs in jobs_of(base, token, runs):
        for j in jobs:
            result = j.get("conclusion") or j.get("status")
            reason = (j.get("reason") or "").splitlines()[0][:160] if j.get("reason") else ""
            if other_os(j) and (j["status"] == "queued" or not j.get("started_at")):
                # never taken by an agent here: waiting, or cancelled while waiting (fail-fast)
                result, reason = "waiting-for-os", f"{j['status']} {j.get('conclusion') or ''}: no agent labelled " + ", ".join(j["labels"])
            elif j["status"] == "waiting":
                reason = "waits for its needs (" + ", ".join(j.get("needs") or []) + ")"
            elif result not in ("success", "skipped") and not reason:
                reason = first_error(base, token, j)
            name = j.get("name") or j.get("key")
            print(f"{name}\t{result}\t{reason.replace(chr(9), ' ').replace('|', ' ')}")


if __name__ == "__main__":
    cmd, base, token, runs = sys.argv[1:5]
    runs = json.loads(runs)
    if cmd == "idle":
        sys.exit(0 if idle(base, token, runs) else 1)
    results(base, token, runs)
