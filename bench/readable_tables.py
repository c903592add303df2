"""What the one number format costs a table: Streamlit marshals a pandas Styler (the
display text of `tables.readable_numbers`) against the same table plain, in the same
process, in interleaved rounds (the machine drifts ±30%).

    python -m bench.readable_tables [--rounds 7]

The tables are shaped like the Runs page's (2, 50, 100 and 500 runs x 25 columns, six
of them metric columns) and Compare's summary at 50 runs x 8 metrics (400 rows x 9).
Prints JSON: per table its cells, the median ms of each side and the median of the
per-round ratios (styled / plain), and whether the page styles it (tables.STYLED_CELLS).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
from streamlit import dataframe_util
from streamlit.elements.lib import pandas_styler_utils
from streamlit.proto.ArrowData_pb2 import ArrowData
from trackboard.dashboard import tables


def runs_view(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    view = pd.DataFrame({"name": [f"run-{i}" for i in range(n)],
                         "open": [f"run?run={i}" for i in range(n)], "status": "finished",
                         "framework": "keras"})
    metrics = [f"m{k}.{s}" for k in range(3) for s in ("min", "last")]
    for c in metrics:
        view[c] = rng.random(n) * 1e-3
    for k in range(10):
        view[f"p{k}"] = rng.random(n)
    for c in ("project", "duration (s)", "created", "tags", "id"):
        view[c] = "x"
    return view, metrics


def summary(runs: int, metrics: int, rng: np.random.Generator) -> tuple[pd.DataFrame, list[str]]:
    n = runs * metrics
    frame = pd.DataFrame({"metric": "m", "run": [f"run-{i}" for i in range(n)], "key": "m"})
    for c in ("last", "min", "max", "best"):
        frame[c] = rng.random(n)
    frame["best step"] = 1
    frame["steps"] = 100
    return frame, ["last", "min", "max", "best"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = {f"runs {n}x25": runs_view(n, rng) for n in (2, 50, 100, 500)}
    cases["compare summary 50x8"] = summary(50, 8, rng)
    out = {}
    for name, (frame, columns) in cases.items():
        styled, plain, ratios = [], [], []
        for _ in range(args.rounds):
            t = time.perf_counter()
            dataframe_util.convert_pandas_df_to_arrow_bytes(frame)
            p = time.perf_counter() - t
            t = time.perf_counter()
            shown = tables.readable_numbers(frame, columns, max_cells=frame.size)
            pandas_styler_utils.marshall_styler(ArrowData(), shown, "bench")
            s = time.perf_counter() - t
            plain.append(p)
            styled.append(s)
            ratios.append(s / p)
        out[name] = {"cells": int(frame.size), "styled_ms": round(statistics.median(styled) * 1e3, 1),
                     "plain_ms": round(statistics.median(plain) * 1e3, 1),
                     "ratio": round(statistics.median(ratios), 1),
                     "page_styles_it": bool(frame.size <= tables.STYLED_CELLS)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
