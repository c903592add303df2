"""Dashboard benchmarks; prints one JSON object.

    python -m bench.dashboard                 # all three
    python -m bench.dashboard --only history  # or runs, browser

Data is generated once under /tmp/trackboard-bench (see dashboard_data.py) and
reused. "Cold" means a fresh Store (new engine and connections) in this process;
the file may still sit in the OS page cache.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from trackboard.storage import Store

from bench.dashboard_data import compare_store, history_store, runs_store


def bench_history(max_points: int = 2000) -> dict:
    out = {}
    for steps in (100_000, 1_000_000):
        path = history_store(steps)
        url = f"sqlite:///{path}"
        ids = Store(url, read_only=True).runs()["id"].tolist()
        cold = []
        for _ in range(3):
            store = Store(url, read_only=True)
            t = time.perf_counter()
            frame = store.history(ids, max_points=max_points)
            cold.append(time.perf_counter() - t)
            store.close()
        t = time.perf_counter()
        zoom = Store(url, read_only=True).history(ids[:1], ["metric_0"], max_points=None,
                                                  step_range=(steps // 2, steps // 2 + 5000))
        zoom_s = time.perf_counter() - t
        out[f"{steps}_steps"] = {
            "runs": len(ids), "keys": 4, "points_stored": len(ids) * 4 * steps,
            "points_returned": len(frame), "max_points": max_points,
            "cold_ms_first": round(cold[0] * 1000, 1),
            "cold_ms_median_of_3": round(statistics.median(cold) * 1000, 1),
            "ms_per_1000_points_returned": round(statistics.median(cold) * 1e6 / len(frame), 2),
            "zoom_5001_steps_full_resolution_ms": round(zoom_s * 1000, 1),
            "zoom_points": len(zoom),
        }
    return out


def bench_runs() -> dict:
    from trackboard.dashboard import tables

    url = f"sqlite:///{runs_store()}"
    probe = Store(url, read_only=True)
    pkeys = probe.param_keys()[:8]
    mkeys = probe.keys()[:3]
    probe.close()
    result = {"runs": 10_000, "params_per_run": 50, "metric_keys": 20}
    for label, kwargs in (("page_default_8_params_3_metrics", {"param_keys": pkeys,
                                                                "metric_keys": mkeys}),
                          ("all_50_params_all_20_metrics", {})):
        times = []
        for _ in range(3):
            store = Store(url, read_only=True)
            t = time.perf_counter()
            frame = store.runs(**kwargs)
            view = tables.runs_view(frame)
            times.append(time.perf_counter() - t)
            store.close()
            gc.collect()
        result[label] = {"ms_all": [round(t * 1000, 1) for t in times],
                         "ms_first": round(times[0] * 1000, 1),
                         "ms_median_of_3": round(statistics.median(times) * 1000, 1),
                         "columns": view.shape[1]}
    store = Store(url, read_only=True)
    t = time.perf_counter()
    hits = store.runs(filter="params.p01 < 5 and metric_1.min > 0", param_keys=pkeys,
                      metric_keys=mkeys)
    result["filtered_ms"] = round((time.perf_counter() - t) * 1000, 1)
    result["filtered_rows"] = len(hits)
    return result


def bench_browser(runs: int = 10, keys: int = 6) -> dict:
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tests.support.dashboard import chromium, ui_server

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/compare.db"
        ids = compare_store(Path(tmp) / "compare.db", runs=runs, keys=keys)
        target = f"/compare?runs={','.join(ids)}"
        done = (f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {2 * keys}")
        with ui_server(url) as (base, _proc), chromium() as browser:
            # A new tab on a shared link: Streamlit's frontend boots, then Plotly loads.
            tabs = []
            for _ in range(3):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t = time.perf_counter()
                page.goto(base + target)
                page.wait_for_function(done, timeout=120_000)
                tabs.append(time.perf_counter() - t)
                page.close()
            # Navigating inside the open app (sidebar Runs -> Compare), as a user does.
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + target)
            page.wait_for_function(done, timeout=120_000)
            inside = []
            for _ in range(4):
                page.get_by_role("link", name="Runs").click()
                page.get_by_text("Selected runs", exact=True).wait_for(timeout=60_000)
                t = time.perf_counter()
                page.get_by_role("link", name="Compare").click()
                page.wait_for_function(done, timeout=120_000)
                inside.append(time.perf_counter() - t)
    return {"runs": runs, "metrics": keys, "steps_per_series": 5000,
            "new_tab_charts_visible_s": [round(t, 2) for t in tabs],
            "in_app_navigation_charts_visible_s": [round(t, 2) for t in inside],
            "in_app_navigation_median_s": round(statistics.median(inside), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["history", "runs", "browser"])
    args = parser.parse_args()
    jobs = {"history": bench_history, "runs": bench_runs, "browser": bench_browser}
    out = {}
    for name, job in jobs.items():
        if args.only in (None, name):
            out[name] = job()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
