"""The default run as a whole command: how close it comes to keeping the machine's cores busy.

``codecbench run`` (the embedded demo job: 6 codecs x 12 utterances, the default metrics; extra
arguments after ``--`` are passed on), started as a fresh process with a fresh run folder, timed
from the outside. Prints, per repeat:

* wall seconds, the CPU seconds of every process it started (``commands.command``: the metric
  pool's forkserver and workers included) and **wall / (CPU / cores)**: 1.0 when every core works
  from start to end, 2.0 when half of the core-seconds are idle (goal <= 1.3 on 2 cores);
* the same ratio with the sum of the per-stage CPU seconds of ``timings.json`` (the stages' own
  threads and workers, without start-up, library helper threads and the summary);
* the per-stage profile of ``timings.json`` (``codecbench.pipeline.monitor``): items, busy, CPU,
  idle and queue-wait seconds, peak RSS; and busy/CPU seconds per metric;
* the machine's load average before the run (other users' work makes every wall figure worse), and
  the ratio an idle machine would give, from the command's runnable threads sampled every 20 ms
  (``commands.runnable``: a sample with fewer runnable threads than cores leaves cores idle).

    PYTHONPATH=. python bench/default_run.py [--repeats N] [-- --limit 2 --codecs opus-6kbps]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from commands import command, cores, demand_ratio, load, subreaper


def one(out: Path, extra: list[str]) -> dict:
    before = load()
    demand: Counter = Counter()
    wall, cpu = command([sys.executable, "-m", "codecbench", "run", "--out", str(out), "-q", *extra], demand=demand)
    t = json.loads((out / "timings.json").read_text())
    stage_cpu = sum(s["cpu_seconds"] or 0.0 for s in t["stages"].values())
    n = cores()
    return {"wall": wall, "cpu": cpu, "ratio": wall / (cpu / n), "stage_cpu": stage_cpu,
            "stage_ratio": wall / (stage_cpu / n), "load": before, "timings": t,
            "idle_machine": demand_ratio(demand, n), "demand": demand}


def show(r: dict) -> None:
    t = r["timings"]
    print(f"wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s (all processes) on {cores()} cores: "
          f"wall / (CPU / cores) = {r['ratio']:.2f} (goal <= 1.3); with the stages' CPU ({r['stage_cpu']:.1f} s): "
          f"{r['stage_ratio']:.2f}; load average before {r['load']:.1f}")
    print(f"  runnable threads sampled every 20 ms: the same ratio on an idle machine would be about "
          f"{r['idle_machine']:.2f} (share of samples with k runnable: "
          + ", ".join(f"{k}: {c / sum(r['demand'].values()):.0%}" for k, c in sorted(r["demand"].items())) + ")")
    print(f"  {'stage':<15} {'items':>5} {'workers':>7} {'busy s':>8} {'CPU s':>8} {'idle s':>8} "
          f"{'waits s (in/out)':>17} {'peak RSS MB':>11}")
    for name, s in t["stages"].items():
        waits = s["queue_wait_seconds"]
        cpu = "-" if s["cpu_seconds"] is None else f"{s['cpu_seconds']:.1f}"
        print(f"  {name:<15} {s['items']:>5} {s['workers']:>7} {s['busy_seconds']:>8.1f} {cpu:>8} "
              f"{s['idle_seconds']:>8.1f} {waits.get('input', 0):>8.1f}/{waits.get('output', 0):<8.1f} "
              f"{s['peak_rss_mb']:>11.0f}")
    for name, m in sorted(t["metrics"].items(), key=lambda kv: -kv[1]["busy_seconds"]):
        print(f"    {name:<22} {m['stage']:<15} busy {m['busy_seconds']:7.1f} s  CPU {m['cpu_seconds']:7.1f} s")
    print(f"  process CPU: main {t['cpu_seconds']['main']:.1f} s, metric workers {t['cpu_seconds']['workers']:.1f} s; "
          f"peak RSS: main {t['peak_rss_mb']['main']:.0f} MB, a metric worker {t['peak_rss_mb']['signal_worker']:.0f} MB")


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    subreaper()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            results.append(one(Path(tmp) / f"run{k}", extra))
            show(results[-1])
    if len(results) > 1:
        print(f"median wall / (CPU / cores) over {len(results)} runs: {statistics.median(r['ratio'] for r in results):.2f}")


if __name__ == "__main__":
    main()
