"""The Compare page's hyperparameter view at 500 runs (absolute: no baseline has one).

    python -m bench.hparams_view [--runs 500] [--rounds 5] [--no-browser]

- build: what the server does for the view: one query for the runs' metric
  summaries, the table, the parallel-coordinates and scatter figures and their JSON
  (a fresh Store each round);
- browser: `trackboard ui` in headless Chromium on /compare with the runs selected;
  the time from clicking another "Value" (best -> last -> min ...) to the parallel
  coordinates drawn with it: the fragment's rerun, the transfer and Plotly's drawing
  (Streamlit mounts a new chart for a changed figure, so this is a full draw);
- plotly_draw: Plotly.newPlot of the same chart alone in Chromium, at 20 and at
  `--runs` runs, against the baseline drawn in the same page: Plotly's WebGL
  `parcoords` trace of the same axes (what the view drew before; headless Chromium
  without a GPU renders WebGL in software, as browsers on remote desktops and VMs do).
- summary_table: the Compare page's Summary table data for the same runs and three
  metrics: one Store.metric_summaries call against the Store.run per run it replaced
  (interleaved rounds, a fresh Store each).
Target: <= 1 s. The store (500 runs of three frameworks with the common
hyperparameters) is built once under /tmp/trackboard-bench.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from trackboard.storage import Store
from trackboard.storage.write.records import Batch

from bench.dashboard_data import CACHE_DIR, _fresh, _run_record, building

REPO = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("keras", "torch", "lightning")
METRICS = ("loss", "val_loss", "accuracy")


def hparam_store(runs: int = 500, steps: int = 20) -> tuple[Path, list[str]]:
    """`runs` runs with lr (1e-5..1e-1), batch_size, optimizer, weight_decay, seed and
    epochs, three metrics x `steps` steps; (path, run ids). Cached."""
    path = CACHE_DIR / f"hparams-{runs}x{steps}.db"
    uids = [f"hp{r:014d}" for r in range(runs)]
    if not _fresh(path):
        return path, uids
    rng = np.random.default_rng(3)
    t0 = time.time() - runs
    batch = Batch()
    for r, uid in enumerate(uids):
        fw = FRAMEWORKS[r % 3]
        lr = float(10 ** rng.uniform(-5, -1))
        batch.runs[uid] = _run_record(uid, f"{fw}-{r}", "hparams", t0 + r, framework=fw)
        params = {"lr": lr, "batch_size": int(2 ** rng.integers(4, 9)),
                  "optimizer": ["adam", "sgd", "adamw"][r % 3], "epochs": 10, "seed": r,
                  "weight_decay": float(rng.choice([0.0, 1e-4, 1e-2]))}
        batch.params.append((2, uid, {k: json.dumps(v) for k, v in params.items()}))
        # Best near lr = 1e-3: a bowl in log lr, plus noise.
        floor = 0.1 + 0.2 * (math.log10(lr) + 3) ** 2 + rng.normal(0, 0.02)
        for s in range(steps):
            loss = floor + math.exp(-s / 5)
            batch.points.append((0, uid, s, t0 + r + s, {
                "loss": loss, "val_loss": loss * 1.1, "accuracy": 1 / (1 + loss)}))
    with building(path) as ing:
        ing.apply(batch)
    return path, uids


def bench_build(url: str, ids: list[str], rounds: int) -> dict:
    from trackboard.dashboard import hparams

    times = []
    for _ in range(rounds):
        gc.collect()
        store = Store(url, read_only=True)
        t = time.perf_counter()
        info = store.runs(run_ids=ids, metrics=False)
        summaries = store.runs(run_ids=ids, params=False, tags=False, metric_keys=["val_loss"])
        values = hparams.metric_values(summaries, "val_loss", "best")
        params = hparams.default_params(info)
        table = hparams.hparam_table(info, ids, params, values)
        par = hparams.parcoords_figure(table, params, "val_loss", "best")
        sc = hparams.scatter_figure(table, "lr", "val_loss", "best", {}, {})
        size = len(par.to_json()) + len(sc.to_json())
        times.append((time.perf_counter() - t) * 1000)
        store.close()
    return {"runs": len(ids), "axes": params + ["val_loss (best)"], "figure_json_bytes": size,
            "ms": [round(x, 1) for x in times], "ms_median": round(statistics.median(times), 1)}


def bench_summary(url: str, ids: list[str], rounds: int) -> dict:
    one, each = [], []
    for _ in range(rounds):
        for times, read in ((each, lambda st: {r: st.run(r)["metrics"] for r in ids}),
                            (one, lambda st: st.metric_summaries(ids, list(METRICS)))):
            gc.collect()
            store = Store(url, read_only=True)
            t = time.perf_counter()
            read(store)
            times.append(time.perf_counter() - t)
            store.close()
    return {"runs": len(ids), "store_run_each_ms": [round(x * 1000) for x in each],
            "metric_summaries_ms": [round(x * 1000, 1) for x in one],
            "ratio": round(statistics.median(one) / statistics.median(each), 4)}


def bench_browser(url: str, ids: list[str], rounds: int) -> dict:
    sys.path.insert(0, str(REPO))
    from tests.support.dashboard import chromium, ui_server

    target = f"/compare?runs={','.join(ids)}&metrics=val_loss&hpm=val_loss"
    # The last axis title of the drawn parallel coordinates: the metric and its value.
    title = ("() => { const el = [...document.querySelectorAll('.js-plotly-plot')].find("
             "e => e.data && (e.data[0].meta || {}).role === 'hparams');"
             " const t = el ? [...el.querySelectorAll('.annotation-text')] : [];"
             " return t.length ? t[t.length - 1].textContent : ''; }")
    with ui_server(url) as (base, _proc), chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        t = time.perf_counter()
        page.goto(base + target)
        page.wait_for_function(f"({title})() !== ''", timeout=300_000)
        first = time.perf_counter() - t
        page.locator(".js-plotly-plot .annotation-text").first.scroll_into_view_if_needed()
        redraw = []
        stats = ["last", "min", "max", "best"]
        for i in range(rounds):
            stat = stats[i % len(stats)]
            t = time.perf_counter()
            page.get_by_role("radio", name=stat, exact=True).check(force=True)
            page.wait_for_function(f"({title})() === 'val_loss ({stat})'", timeout=60_000)
            redraw.append(time.perf_counter() - t)
        lines = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')]"
                              ".filter(el => el.data && (el.data[0].meta || {}).role"
                              " === 'hparams').map(el => el.data[0].meta.run_ids.length)")
    return {"page_with_view_first_s": round(first, 2),
            "value_change_to_redrawn_s": [round(x, 3) for x in redraw],
            "value_change_to_redrawn_median_s": round(statistics.median(redraw), 3),
            "hparams_chart_runs": lines}


def bench_plotly_draw(url: str, ids: list[str], rounds: int) -> dict:
    import os
    import tempfile

    import plotly
    from trackboard.dashboard import hparams

    sys.path.insert(0, str(REPO))
    from tests.support.dashboard import chromium

    store = Store(url, read_only=True)
    info = store.runs(run_ids=ids, metrics=False)
    summaries = store.runs(run_ids=ids, params=False, tags=False, metric_keys=["val_loss"])
    store.close()
    values = hparams.metric_values(summaries, "val_loss", "best")
    params = hparams.default_params(info)
    js = Path(os.path.dirname(plotly.__file__)) / "package_data" / "plotly.min.js"
    draw = """async (fig) => { const t = performance.now();
        await Plotly.newPlot('g', fig.data, fig.layout);
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        const ms = performance.now() - t; Plotly.purge('g'); return ms; }"""
    out = {}
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        html = Path(tmp) / "draw.html"
        html.write_text(f'<div id="g" style="width:900px;height:420px"></div>'
                        f'<script src="{js.as_uri()}"></script>')
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(html.as_uri())
        for n in (20, len(ids)):
            table = hparams.hparam_table(info, ids[:n], params, values)
            figs = {"svg": hparams.parcoords_figure(table, params, "val_loss", "best"),
                    "webgl_parcoords": _parcoords_baseline(table, params)}
            times: dict[str, list[float]] = {k: [] for k in figs}
            for _ in range(rounds):  # interleaved: the machine's speed drifts
                for k, fig in figs.items():
                    times[k].append(page.evaluate(draw, json.loads(fig.to_json())))
            for k, ts in times.items():
                out[f"{k}_{n}_runs_ms"] = [round(t) for t in ts]
                out[f"{k}_{n}_runs_ms_median"] = round(statistics.median(ts))
            out[f"ratio_{n}_runs"] = round(statistics.median(times["svg"])
                                           / statistics.median(times["webgl_parcoords"]), 3)
    return out


def _parcoords_baseline(table: pd.DataFrame, params: list[str]) -> go.Figure:
    """The same axes as Plotly's WebGL `parcoords` trace (the view's chart until 2026-12)."""
    from trackboard.dashboard import parallel_coords

    ax = parallel_coords.axes(table, params, "val_loss (best)")
    return go.Figure(go.Parcoords(
        dimensions=[{"label": a.title, "values": a.values, "tickvals": a.tickvals,
                     "ticktext": a.ticktext, "range": [a.low, a.high]} for a in ax],
        line={"color": table["metric"].tolist(), "colorscale": "Viridis",
              "reversescale": True, "showscale": True}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    path, ids = hparam_store(args.runs)
    url = f"sqlite:///{path}"
    out = {"build": bench_build(url, ids, args.rounds),
           "summary_table": bench_summary(url, ids, args.rounds)}
    if not args.no_browser:
        out["browser"] = bench_browser(url, ids, args.rounds)
        out["plotly_draw"] = bench_plotly_draw(url, ids, args.rounds)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
