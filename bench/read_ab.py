"""A/B of the read path (Store and its filter language): this checkout against a
baseline commit, with the same interpreter, in interleaved rounds (each side in a
fresh process; the machine drifts ±30%).

    python bench/read_ab.py [--baseline main] [--rounds 3] [--reps 5] [--history-steps 100000]

Per side and round, on the cached stores of bench/dashboard_data.py (built once by
this checkout, outside the timed rounds), each read the best of `--reps` (a fresh
Store each time but for one_series):
  - runs: bench/dashboard.py's runs page data (10,000 runs x 50 params x 20 metrics:
    default view, all columns (best of 2), a filtered read);
  - history: Store.history of 20 runs x 4 keys x `--history-steps` steps at
    max_points=2000 (cold: a fresh Store each time), and a 5,001-step zoom at full
    resolution;
  - one_series: one key's 100,000-point history, as bench/foundation.py history_read.
Prints JSON: per figure the median over rounds of each side and the median of the
per-round ratios (this / baseline; below 1 is faster). The baseline's code is taken
with `git archive`, as bench/log_call_ab.py does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.log_call_ab import PRELUDE, _baseline_tree, _layout, _run  # noqa: E402

HERE = Path(__file__).resolve().parents[1]

READS = PRELUDE + r"""
import gc, json, time
from trackboard.dashboard import tables
from trackboard.storage import Store
from bench.dashboard_data import history_store, runs_store

steps, series_db, reps = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])


def best(fn, n):
    # The best of n: on a shared machine the minimum is the figure load disturbs least.
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        gc.collect()
    return min(times)


def fresh(url, read):
    def go():
        store = Store(url, read_only=True)
        try:
            read(store)
        finally:
            store.close()
    return go


out = {}
url = f"sqlite:///{runs_store()}"
probe = Store(url, read_only=True)
pkeys, mkeys = probe.param_keys()[:8], probe.keys()[:3]
probe.close()
out["runs_default_view_ms"] = best(fresh(url, lambda s: tables.runs_view(
    s.runs(param_keys=pkeys, metric_keys=mkeys))), reps)
out["runs_all_columns_ms"] = best(fresh(url, lambda s: tables.runs_view(s.runs())), 2)
out["runs_filtered_ms"] = best(fresh(url, lambda s: s.runs(
    filter="params.p01 < 5 and metric_1.min > 0", param_keys=pkeys, metric_keys=mkeys)), reps)

url = f"sqlite:///{history_store(steps)}"
probe = Store(url, read_only=True)
ids = probe.runs()["id"].tolist()
probe.close()
out["history_2000_points_cold_ms"] = best(fresh(url, lambda s: s.history(
    ids, max_points=2000)), reps)
out["history_zoom_5001_steps_ms"] = best(fresh(url, lambda s: s.history(
    ids[:1], ["metric_0"], step_range=(steps // 2, steps // 2 + 5000))), reps)

store = Store(f"sqlite:///{series_db}", read_only=True)
out["one_series_100k_points_ms"] = best(lambda: store.history(["series"], keys=["metric_0"]),
                                        3 * reps)
store.close()
print(json.dumps(out))
"""

# One run, one key, 100,000 points (bench/foundation.py history_read's shape).
SERIES = PRELUDE + r"""
from trackboard.storage import Store
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import Batch
store = Store(f"sqlite:///{sys.argv[2]}")
ing = Ingestor(store.engine)
ing.apply(Batch(runs={"series": {"uid": "series", "project": "bench", "name": "series",
                                 "framework": None, "host": "bench", "git_commit": None,
                                 "command": "bench", "created_at": 1.7e9,
                                 "status": "finished"}}))
b = Batch()
b.points = [(0, "series", s, 1.7e9 + s, {"metric_0": s * 0.5}) for s in range(100_000)]
ing.apply(b)
store.close()
print("{}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="main", help="commit or branch to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5,
                        help="repetitions of each read per round (the best counts)")
    parser.add_argument("--history-steps", type=int, default=100_000,
                        help="steps per series of the history store (1000000: 80M points, "
                             "about 8 minutes to build once)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sides = {"this": _layout(tmp_path / "this", HERE),
                 "base": _baseline_tree(args.baseline, tmp_path)}
        series_db = str(tmp_path / "series.db")
        _run(SERIES, sides["this"], series_db)
        # Build (or find) the cached stores with this checkout's code, untimed.
        _run(PRELUDE + "from bench.dashboard_data import history_store, runs_store\n"
             "runs_store(); history_store(int(sys.argv[2])); print('{}')",
             sides["this"], str(args.history_steps))
        rounds = []
        for r in range(args.rounds):
            order = list(sides.items()) if r % 2 == 0 else list(sides.items())[::-1]
            rounds.append({name: _run(READS, root, str(args.history_steps), series_db,
                                      str(args.reps))
                           for name, root in order})
    result: dict[str, object] = {"baseline": args.baseline, "rounds": args.rounds,
                                 "history_steps": args.history_steps}
    for name in rounds[0]["this"]:
        this = [r["this"][name] for r in rounds]
        base = [r["base"][name] for r in rounds]
        result[name] = {"this": round(statistics.median(this), 1),
                        "base": round(statistics.median(base), 1),
                        "ratio_per_round": [round(t / b, 3) for t, b in zip(this, base)],
                        "ratio_median": round(statistics.median(t / b for t, b in
                                                                zip(this, base)), 3)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
