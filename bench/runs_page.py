"""Runs page data at 10,000 runs x 50 params x 20 metrics: this checkout against the
page of baseline commit 9a815d4, in the same process, in interleaved rounds (the
machine drifts ±30%).

    python -m bench.runs_page [--rounds 5] [--baseline 9a815d4]

The storage layer is the same code on both sides; what differs is the page's work
around Store.runs: the baseline showed the first 8 param keys and built its table
with 9a815d4's tables.runs_view (loaded from git); this checkout picks the default
param columns (the common vocabulary plus params most of the newest runs share;
data.param_usage, which the page caches for 30 s) and builds the new table.
Each side opens a fresh Store per round. Prints JSON: per case the median ms of each
side and the median of the per-round ratios (this / baseline; below 1 is faster).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from trackboard.dashboard import data, tables
from trackboard.storage import Store

from bench.dashboard_data import runs_store

HERE = Path(__file__).resolve().parents[1]


def baseline_tables(commit: str, folder: Path) -> types.ModuleType:
    """`commit`'s dashboard/tables.py as a module (it imports only what still exists)."""
    source = subprocess.run(["git", "show", f"{commit}:dashboard/tables.py"], cwd=HERE,
                            check=True, capture_output=True, text=True).stdout
    path = folder / "baseline_tables.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_tables", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_page(url: str, old: types.ModuleType) -> tuple[float, float, int]:
    """(first-load ms, rerun ms, columns): param_keys, then 8 params x 3 metrics."""
    store = Store(url, read_only=True)
    t = time.perf_counter()
    pkeys = store.param_keys()
    mkeys = store.keys()[:3]
    t_keys = time.perf_counter()
    view = old.runs_view(store.runs(param_keys=pkeys[:8], metric_keys=mkeys))
    end = time.perf_counter()
    store.close()
    return (end - t) * 1000, (end - t_keys) * 1000, view.shape[1]


def this_page(url: str) -> tuple[float, float, int]:
    """(first-load ms, rerun ms, columns): param_keys and param usage, then the
    default columns (vocabulary + shared, at most 10) x 3 metrics."""
    store = Store(url, read_only=True)
    t = time.perf_counter()
    pkeys = store.param_keys()
    mkeys = store.keys()[:3]
    usage = data.usage_of(store)
    defaults = tables.default_param_columns(pkeys, usage)
    t_keys = time.perf_counter()
    view = tables.runs_view(store.runs(param_keys=defaults, metric_keys=mkeys))
    end = time.perf_counter()
    store.close()
    return (end - t) * 1000, (end - t_keys) * 1000, view.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default="9a815d4")
    args = parser.parse_args()
    url = f"sqlite:///{runs_store()}"
    with tempfile.TemporaryDirectory() as tmp:
        old = baseline_tables(args.baseline, Path(tmp))
    sides: dict[str, list[tuple[float, float, int]]] = {"baseline": [], "this": []}
    for r in range(args.rounds):
        order = [("baseline", lambda: baseline_page(url, old)), ("this", lambda: this_page(url))]
        for name, job in (order if r % 2 == 0 else order[::-1]):
            gc.collect()
            sides[name].append(job())
    out: dict[str, object] = {"runs": 10_000, "params_per_run": 50, "metric_keys": 20,
                              "rounds": args.rounds, "baseline": args.baseline}
    for i, case in enumerate(("first_load_ms", "rerun_ms")):
        b = [s[i] for s in sides["baseline"]]
        n = [s[i] for s in sides["this"]]
        out[case] = {"baseline": round(statistics.median(b), 1),
                     "this": round(statistics.median(n), 1),
                     "ratio_median": round(statistics.median(x / y for x, y in zip(n, b)), 3)}
    out["columns"] = {"baseline": sides["baseline"][0][2], "this": sides["this"][0][2]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
