"""Turns bench/run.sh's measurements (TSV: workload, tool, median ms) into
the markdown report: raw medians, then fixed / per-job / per-step overheads."""

import sys

TARGETS = {"fixed": 20.0, "per job": 5.0, "per job (chain)": 5.0, "per step": 2.0}
LABELS = {
    "base": "1 job x 1 step",
    "jobs20": "(a) 20 independent jobs",
    "chain20": "(b) chain of 20 jobs",
    "steps50": "(c) 1 job x 50 steps",
}


def main() -> None:
    path, runs, cpus = sys.argv[1], sys.argv[2], sys.argv[3]
    t: dict[tuple[str, str], float] = {}
    with open(path) as f:
        for line in f:
            kind, tool, ms = line.rstrip("\n").split("\t")
            t[(kind, tool)] = float(ms)

    out = ["# sluice vs act (host mode) vs bare commands", ""]
    out.append(f"Median wall time of {runs} runs each, {cpus} CPUs. act v0.2.89 with "
               "`-P ubuntu-latest=-self-hosted --action-offline-mode`.")
    out += ["", "| workload | bare | sluice | act |", "| --- | ---: | ---: | ---: |"]
    for kind, label in LABELS.items():
        out.append(f"| {label} | {t[(kind, 'bare')]:.1f} ms | {t[(kind, 'sluice')]:.1f} ms "
                   f"| {t[(kind, 'act')]:.1f} ms |")

    def over(kind: str, tool: str) -> float:
        return t[(kind, tool)] - t[(kind, "bare")]

    def derived(tool: str) -> dict[str, float]:
        fixed = over("base", tool)
        return {
            "fixed": fixed,
            "per job": (over("jobs20", tool) - fixed) / 19,
            "per job (chain)": (over("chain20", tool) - fixed) / 19,
            "per step": (over("steps50", tool) - fixed) / 49,
        }

    s, a = derived("sluice"), derived("act")
    out += ["", "| overhead | sluice | act | sluice target |", "| --- | ---: | ---: | ---: |"]
    for key in TARGETS:
        mark = "ok" if s[key] <= TARGETS[key] else "MISSED"
        out.append(f"| {key} | {s[key]:.2f} ms | {a[key]:.2f} ms | <= {TARGETS[key]:.0f} ms ({mark}) |")
    out += ["", "Overhead = tool time - bare time; fixed from 1 job x 1 step; per job = "
            "(overhead(20 jobs) - fixed) / 19; per step = (overhead(50 steps) - fixed) / 49.",
            "Bare = one `bash -e` per step, run one after another. All columns come from one run on",
            "the same machine; other load on it at the time inflates them, so compare within a run.", ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
