"""One number format (dashboard/number_format.py) on every page and in the CLI.

`readable` is fed the awkward numbers (tiny, huge, negative, NaN, infinities, integers,
zero, values that round across a boundary); then the same run's metrics are read
from the Run page (AppTest, the table's display text), the Compare page's summary and
`trackboard show` (the installed script), which must print the same text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from trackboard.dashboard.number_format import counted, duration, readable
from trackboard.loggers import Run

from tests.support.dashboard import APP

TRACKBOARD = Path(sys.executable).with_name("trackboard")

CASES = [
    (0, "0"), (0.0, "0"), (-0.0, "0"),
    (5.789e-6, "5.789e-6"), (-0.00034, "-3.4e-4"), (1e-300, "1e-300"), (8.07e-4, "8.07e-4"),
    (0.00099995, "0.001"), (0.001, "0.001"), (0.003431348857969162, "0.003431"),
    (12.3456, "12.35"), (-12.3456, "-12.35"), (0.1 + 0.2, "0.3"), (np.float32(0.1), "0.1"),
    (123456.7, "123457"), (999999.6, "1e6"), (1e6, "1e6"), (-2.5e7, "-2.5e7"),
    (1e300, "1e300"), (2.0**53, "9.007e15"),
    (float("nan"), "nan"), (float("inf"), "inf"), (float("-inf"), "-inf"),
    (32, "32"), (np.int64(7), "7"), (10**20, "100000000000000000000"), (-3, "-3"),
    (True, "True"), ("adam", "adam"),
]


@pytest.mark.parametrize(("value", "text"), CASES, ids=[repr(v) for v, _ in CASES])
def test_readable(value: object, text: str) -> None:
    assert readable(value) == text


def test_counts_and_durations() -> None:
    assert [counted(n, "run") for n in (0, 1, 2, 1000)] == ["0 runs", "1 run", "2 runs",
                                                            "1,000 runs"]
    assert [duration(s) for s in (0, 59.9, 61, 3600, None)] == ["0:00", "0:59", "1:01",
                                                               "1:00:00", "-"]


VALUES = {"val_loss": [0.9, 8.07e-4], "learning_rate": [5.789e-6, 5.789e-6],
          "grad_norm": [-2.5e7, 123456.7], "val_accuracy": [0.5, 0.003431348857969162]}


@pytest.mark.slow  # AppTest runs of two pages
def test_the_run_page_compare_and_the_cli_show_the_same_numbers(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with Run(project="p", name="numbers", store=sqlite_url, system_metrics=False) as run:
        for step in range(2):
            run.log({k: v[step] for k, v in VALUES.items()}, step=step)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    expected = {k: [readable(v[-1]), readable(min(v)), readable(max(v))]
                for k, v in VALUES.items()}  # last, min, max

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(run=run.id)
    at.run()
    at.switch_page("views/run.py").run()
    table = _display(at, {"metric", "best step"}).set_index("metric")
    assert {k: table.loc[k, ["last", "min", "max"]].tolist() for k in VALUES} == expected

    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(runs=run.id, metrics=",".join(VALUES))
    at.run()
    at.switch_page("views/compare.py").run()
    summary = _display(at, {"run", "key", "best step"}).set_index("key")
    assert {k: summary.loc[k, ["last", "min", "max"]].tolist() for k in VALUES} == expected

    shown = subprocess.run([str(TRACKBOARD), "show", run.id, "--store", sqlite_url],
                           capture_output=True, text=True, timeout=60, check=True,
                           env=dict(os.environ)).stdout
    rows = {line.split()[0]: line.split()[2:5] for line in shown.split("metrics:\n")[1]
            .splitlines()[1:]}
    assert {k: rows[k] for k in VALUES} == expected


def _display(at: AppTest, columns: set[str]):  # type: ignore[no-untyped-def]
    """The display text of the page's table that has these columns."""
    element = next(e for e in at.dataframe if columns <= set(e.value.columns))
    return convert_arrow_bytes_to_pandas_df(element.proto.arrow_data.styler.display_values)
