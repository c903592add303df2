"""Dashboard benchmarks; prints one JSON object.

    python -m bench.dashboard                 # all three
    python -m bench.dashboard --only history  # or runs, browser
    python -m bench.dashboard --only browser --baseline 9a815d4        # 10 x 6, A/B
    python -m bench.dashboard --only browser --runs 50 --metrics 8 --steps 100000 \
        --baseline 9a815d4 --baseline-case 10x6x5000   # the issue-13 target vs today

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


def baseline_tree(commit: str) -> dict[str, str]:
    """The dashboard of an older commit, for A/B runs in the same session: its files
    under /tmp/trackboard-bench/base-<commit>, and the env that makes `trackboard ui`
    import them (PYTHONPATH wins over this checkout's editable install)."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    root = Path(f"/tmp/trackboard-bench/base-{commit}")
    tree, pkg = root / "tree", root / "pkg" / "trackboard"
    if not (root / ".done").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", commit], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").touch()
        for name in ("storage", "loggers", "dashboard"):
            link = pkg / name
            if not link.exists():
                link.symlink_to(tree / name)
        (root / ".done").touch()
    return {"PYTHONPATH": str(pkg.parent)}


def _in_app_navigation(base: str, target: str, done: str, browser: object, rounds: int
                       ) -> list[float]:
    """Seconds from a click on Compare in the sidebar (coming from Runs) until every
    chart's SVG is there, `rounds` times in one open tab."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(base + target)
    page.wait_for_function(done, timeout=180_000)
    inside = []
    for _ in range(rounds):
        page.get_by_role("link", name="Runs").click()
        page.get_by_text("Selected runs", exact=True).wait_for(timeout=60_000)
        t = time.perf_counter()
        page.get_by_role("link", name="Compare").click()
        page.wait_for_function(done, timeout=180_000)
        inside.append(time.perf_counter() - t)
    legends = page.eval_on_selector_all(".js-plotly-plot .legendtext", "els => els.length")
    page.close()
    return inside + [float(legends)]


def _case(tmp: Path, runs: int, keys: int, steps: int) -> tuple[str, str, str]:
    """(store URL, Compare link, JS condition for "every chart is drawn") of a case."""
    if steps >= 20_000:  # big stores are built once and kept (see dashboard_data.py)
        from bench.dashboard_data import team_compare_store

        path, ids = team_compare_store(runs, keys, steps)
    else:
        path = tmp / f"compare-{runs}x{keys}x{steps}.db"
        ids = compare_store(path, runs=runs, keys=keys, steps=steps)
    done = f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {2 * keys}"
    return f"sqlite:///{path}", f"/compare?runs={','.join(ids)}", done


def bench_browser(runs: int = 10, keys: int = 6, steps: int = 5_000, rounds: int = 4,
                  baseline: str | None = None,
                  baseline_case: tuple[int, int, int] | None = None) -> dict:
    """Compare in Chromium: `runs` runs x `keys` metrics x `steps` steps.

    With `baseline` (a commit), that commit's dashboard is timed in interleaved rounds
    (ours, theirs, ours, ...), so machine drift hits both alike; on the same case, or
    on `baseline_case` (runs, metrics, steps), e.g. today's 50 x 8 x 100k against the
    old 10 x 6 x 5k.
    """
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tests.support.dashboard import chromium, ui_server

    with tempfile.TemporaryDirectory() as tmp:
        ours = _case(Path(tmp), runs, keys, steps)
        sides = {"this": ({}, ours)}
        if baseline:
            theirs = _case(Path(tmp), *baseline_case) if baseline_case else ours
            sides[baseline] = (baseline_tree(baseline), theirs)
        times: dict[str, list[float]] = {side: [] for side in sides}
        legends: dict[str, float] = {}
        url, target, done = ours
        with chromium() as browser:
            # A new tab on a shared link: Streamlit's frontend boots, then Plotly loads.
            with ui_server(url) as (base, _proc):
                tabs = []
                for _ in range(2):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t = time.perf_counter()
                    page.goto(base + target)
                    page.wait_for_function(done, timeout=180_000)
                    tabs.append(time.perf_counter() - t)
                    page.close()
            for _ in range(rounds):
                for side, (env, (url, target, done)) in sides.items():
                    with ui_server(url, env=env) as (base, _proc):
                        *inside, legends[side] = _in_app_navigation(base, target, done,
                                                                    browser, 2)
                        times[side] += inside
    out: dict = {"runs": runs, "metrics": keys, "steps_per_series": steps,
                 "new_tab_charts_visible_s": [round(t, 2) for t in tabs]}
    if baseline:
        out["baseline_case"] = list(baseline_case or (runs, keys, steps))
    for side, ts in times.items():
        out[side] = {"in_app_navigation_charts_visible_s": [round(t, 2) for t in ts],
                     "in_app_navigation_median_s": round(statistics.median(ts), 2),
                     "legend_entries_drawn": int(legends[side])}
    if baseline:
        out["median_ratio_this_vs_baseline"] = round(
            out["this"]["in_app_navigation_median_s"]
            / out[baseline]["in_app_navigation_median_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["history", "runs", "browser"])
    parser.add_argument("--runs", type=int, default=10, help="browser: runs compared")
    parser.add_argument("--metrics", type=int, default=6, help="browser: metrics (charts)")
    parser.add_argument("--steps", type=int, default=5_000, help="browser: steps per series")
    parser.add_argument("--rounds", type=int, default=2,
                        help="browser: server starts per side (2 navigations each)")
    parser.add_argument("--baseline", help="browser: also time this commit's dashboard, "
                                           "interleaved (e.g. 9a815d4)")
    parser.add_argument("--baseline-case", metavar="RUNSxMETRICSxSTEPS",
                        help="browser: the baseline's case, e.g. 10x6x5000 (default: ours)")
    args = parser.parse_args()

    def browser() -> dict:
        case = (tuple(int(v) for v in args.baseline_case.split("x"))
                if args.baseline_case else None)
        return bench_browser(args.runs, args.metrics, args.steps, args.rounds, args.baseline,
                             case)  # type: ignore[arg-type]

    jobs = {"history": bench_history, "runs": bench_runs, "browser": browser}
    out = {}
    for name, job in jobs.items():
        if args.only in (None, name):
            out[name] = job()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
