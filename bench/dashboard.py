"""Dashboard benchmarks; prints one JSON object.

    python -m bench.dashboard                 # all three
    python -m bench.dashboard --only history  # or runs, browser
    python -m bench.dashboard --only browser --baseline 9a815d4        # 10 x 6, A/B
    python -m bench.dashboard --only browser --runs 50 --metrics 8 --steps 100000 \
        --baseline 9a815d4 --baseline-case 10x6x5000   # the issue-13 target vs today
    python -m bench.dashboard --only fresh --runs 50 --metrics 8 --steps 20000 --rounds 5
        # issue 19: a shared link opened in a fresh tab vs a one-chart Streamlit page,
        # interleaved; then step-range changes (1000-2000 and back)

Data is generated once under /tmp/trackboard-bench (see dashboard_data.py) and
reused. "Cold" means a fresh Store (new engine and connections) in this process;
the file may still sit in the OS page cache.
"""

from __future__ import annotations

import argparse
import contextlib
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


# Every Compare chart drawn: its SVG is there with a drawn trace group for each SVG
# trace (WebGL traces draw into the chart's canvas, which Plotly makes first).
_COMPARE_DRAWN = """(n) => { const gds = [...document.querySelectorAll(
    '[class*=st-key-cmp_chart_] .js-plotly-plot')];
  return gds.length === n && gds.every(gd => gd._fullData && gd._fullData.length
    && gd.querySelector('.main-svg') && gd.querySelectorAll('.scatterlayer .trace').length
       >= gd._fullData.filter(t => t.type === 'scatter').length); }"""
_ONE_CHART_DRAWN = """() => { const gd = document.querySelector('.js-plotly-plot');
  return !!(gd && gd._fullData && gd.querySelectorAll('.scatterlayer .trace').length); }"""
# The first step of every chart's first line (the x values are decoded in _fullData).
_FIRST_STEPS = """() => [...document.querySelectorAll('[class*=st-key-cmp_chart_] .js-plotly-plot')]
  .map(gd => gd._fullData && gd._fullData.length ? gd._fullData[0].x[0] : null)"""


def _one_chart_server() -> object:
    """`streamlit run bench/one_chart_app.py` with trackboard ui's flags."""
    import subprocess

    from trackboard.dashboard.cli_ui import streamlit_command

    from tests.support.dashboard import _serve
    from tests.support.ports import free_port

    port = free_port()
    cmd = streamlit_command(port, "127.0.0.1")
    app = Path(__file__).with_name("one_chart_app.py")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), *cmd[cmd.index("run") + 2:]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    return contextlib.contextmanager(_serve)(f"http://127.0.0.1:{port}", proc)


def _fresh_tab(browser: object, url: str, done: str, arg: object = None) -> float:
    """Seconds from opening `url` in a new tab of a new browser profile (nothing
    cached: a colleague opening a shared link) until `done` holds."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_function(done, arg=arg, timeout=180_000)
    took = time.perf_counter() - t
    context.close()
    return took


def _step_range(page: object, text: str, charts: int, first_at_least: int) -> float:
    """Seconds from typing `text` in Step range (Enter) until every chart starts at
    `first_at_least` or later (or, for "", before it again)."""
    box = page.get_by_role("textbox", name="Step range")  # type: ignore[attr-defined]
    box.fill(text)
    t = time.perf_counter()
    box.press("Enter")
    cond = (f"() => {{ const f = ({_FIRST_STEPS})(); return f.length === {charts} && "
            f"f.every(x => x !== null && (x >= {first_at_least}) === {str(bool(text)).lower()}); }}")
    page.wait_for_function(cond, timeout=180_000)  # type: ignore[attr-defined]
    page.wait_for_function(_COMPARE_DRAWN, arg=charts, timeout=180_000)  # type: ignore[attr-defined]
    return time.perf_counter() - t


def bench_fresh(runs: int = 50, keys: int = 8, steps: int = 20_000, rounds: int = 5,
                step_range: str = "1000-2000", baseline: str | None = None) -> dict:
    """Compare opened from a shared link in a fresh tab against the one-chart page, in
    interleaved rounds on the same browser with every server up the whole time; then
    step-range changes in an open Compare tab (alternating with `baseline`'s, if given)."""
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tests.support.dashboard import chromium, ui_server

    from bench.dashboard_data import team_compare_store

    path, ids = team_compare_store(runs, keys, steps)
    link = f"/compare?runs={','.join(ids)}"
    sides = {"this": {}} | ({baseline: baseline_tree(baseline)} if baseline else {})
    fresh: dict[str, list[float]] = {side: [] for side in [*sides, "one_chart"]}
    ranged: dict[str, list[float]] = {side: [] for side in sides}
    back: dict[str, list[float]] = {side: [] for side in sides}
    first = int(step_range.split("-")[0])
    with contextlib.ExitStack() as stack:
        browser = stack.enter_context(chromium())
        bases = {side: stack.enter_context(ui_server(f"sqlite:///{path}", env=env))[0]
                 for side, env in sides.items()}
        one = stack.enter_context(_one_chart_server())[0]  # type: ignore[attr-defined]
        # One warm-up each: a server's first script run imports pandas, plotly...
        _fresh_tab(browser, one + "/", _ONE_CHART_DRAWN)
        for base in bases.values():
            _fresh_tab(browser, base + link, _COMPARE_DRAWN, keys)
        for _ in range(rounds):
            fresh["one_chart"].append(_fresh_tab(browser, one + "/", _ONE_CHART_DRAWN))
            for side, base in bases.items():
                fresh[side].append(_fresh_tab(browser, base + link, _COMPARE_DRAWN, keys))
        pages = {}
        for side, base in bases.items():
            pages[side] = browser.new_page(viewport={"width": 1400, "height": 1000})
            pages[side].goto(base + link)
            pages[side].wait_for_function(_COMPARE_DRAWN, arg=keys, timeout=180_000)
        for _ in range(rounds):
            for side, page in pages.items():
                ranged[side].append(_step_range(page, step_range, keys, first))
                back[side].append(_step_range(page, "", keys, first))
    out: dict = {"case": f"{runs} runs x {keys} metrics x {steps} steps",
                 "fresh_tab_one_chart_s": [round(v, 2) for v in fresh["one_chart"]],
                 "fresh_tab_one_chart_median_s": round(statistics.median(fresh["one_chart"]), 2)}
    for side in sides:
        ratios = [o / t for o, t in zip(fresh[side], fresh["one_chart"])]
        out[side] = {
            "fresh_tab_compare_s": [round(v, 2) for v in fresh[side]],
            "fresh_tab_compare_median_s": round(statistics.median(fresh[side]), 2),
            "fresh_tab_ratio_to_one_chart_per_round": [round(v, 2) for v in ratios],
            "fresh_tab_ratio_to_one_chart_median": round(statistics.median(ratios), 2),
            f"step_range_{step_range}_s": [round(v, 2) for v in ranged[side]],
            f"step_range_{step_range}_median_s": round(statistics.median(ranged[side]), 2),
            "step_range_cleared_s": [round(v, 2) for v in back[side]],
            "step_range_cleared_median_s": round(statistics.median(back[side]), 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["history", "runs", "browser", "fresh"])
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

    def fresh() -> dict:
        return bench_fresh(args.runs, args.metrics, args.steps, args.rounds,
                           baseline=args.baseline)

    jobs = {"history": bench_history, "runs": bench_runs, "browser": browser, "fresh": fresh}
    out = {}
    for name, job in jobs.items():
        # The fresh-tab figures run only when asked for (--only fresh).
        if args.only == name or (args.only is None and name != "fresh"):
            out[name] = job()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
