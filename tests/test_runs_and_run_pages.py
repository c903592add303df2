"""The Runs and Run pages under Streamlit's AppTest: the sort in the URL, a link from
every run row to its Run page, the Run page's picker, its times, its numbers in the
one format and its axis for a constant series (a Keras-like fixed learning rate).
The same pages in Chromium: tests/test_runs_and_run_browser.py.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from trackboard.loggers import Run

from tests.support.dashboard import APP, seed_for_app

pytestmark = pytest.mark.slow  # AppTest runs of whole pages, seconds each


@pytest.fixture
def ids(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    made = seed_for_app(sqlite_url, monkeypatch, read_only=False)
    with Run(project="demo", name="keras-lr", framework="keras", store=sqlite_url,
             config={"lr": 1e-4}, system_metrics=False) as run:
        for step in range(5):  # Keras logs its fixed learning rate at every epoch
            run.log({"learning_rate": 5.789e-6, "val_loss": 0.9 - step / 10,
                     "val_accuracy": 0.00034 * step}, step=step)
    made["keras-lr"] = run.id
    return made


def _open(page: str = "runs", **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query)
    at.run()
    if page != "runs":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _shown(element: object) -> pd.DataFrame:
    """What a table shows: its Styler's display text where it has one."""
    raw = element.proto.arrow_data.styler.display_values  # type: ignore[attr-defined]
    return convert_arrow_bytes_to_pandas_df(raw) if raw else element.value  # type: ignore[attr-defined]


# ---- Runs page ---------------------------------------------------------------------------

def test_the_sort_comes_from_the_url_and_goes_back_into_it(ids: dict[str, str]) -> None:
    at = _open(sort="-loss.min", m="loss")
    table = at.dataframe[0].value
    assert table["name"].tolist()[:2] == ["lightning-run", "torch-run"]  # highest first
    assert table["name"].tolist()[-1] == "keras-lr"  # no loss: last either way
    assert at.selectbox(key="runs_sort").value == "-loss.min"
    at.selectbox(key="runs_sort").set_value("name").run()
    assert at.query_params["sort"] == "name"
    names = at.dataframe[0].value["name"].tolist()
    assert names == sorted(names, key=str.lower)
    at.selectbox(key="runs_sort").set_value("").run()  # newest first: no sort in the link
    assert "sort" not in at.query_params
    assert at.dataframe[0].value["name"].tolist()[0] == "keras-lr"


def test_an_unknown_sort_in_a_link_keeps_the_default_order(ids: dict[str, str]) -> None:
    at = _open(sort="-nope")
    assert at.selectbox(key="runs_sort").value == "" and "sort" not in at.query_params


def test_every_run_row_links_to_its_run_page(ids: dict[str, str]) -> None:
    at = _open()
    table = at.dataframe[0].value
    assert table.columns.tolist()[:2] == ["name", "open"]
    assert (table["open"] == "run?run=" + table["id"]).all() and len(table) == 5
    column = json.loads(at.dataframe[0].proto.columns)["open"]
    assert column["type_config"]["type"] == "link" and column["pinned"] is True


def test_runs_page_counts_and_numbers(ids: dict[str, str]) -> None:
    at = _open(filter='name = "keras-lr"', m="val_accuracy,learning_rate")
    assert at.caption[0].value.startswith("1 run · ")  # not "1 runs"
    shown = _shown(at.dataframe[0]).iloc[0]
    assert shown["val_accuracy.max"] == "0.00136" and shown["learning_rate.last"] == "5.789e-6"
    assert shown["lr"] == "1e-4"  # a numeric param too, not Streamlit's "0.000100"
    assert at.dataframe[0].value.iloc[0]["learning_rate.last"] == 5.789e-6  # still a number


# ---- Run page ----------------------------------------------------------------------------

def test_without_a_run_in_the_url_the_page_offers_a_picker(ids: dict[str, str]) -> None:
    at = _open("run")
    picker = at.selectbox(key="run_pick")
    assert picker.value is None and "run" not in at.query_params
    assert "Pick a run" in at.info[0].value
    assert len(picker.options) == 5
    label = next(o for o in picker.options if o.startswith("torch-run"))
    assert label == f"torch-run · torch · demo · {ids['torch-run']}"  # name, id: searchable
    picker.set_value(ids["torch-run"]).run()
    assert at.query_params["run"] == ids["torch-run"] and at.text[0].value == "torch-run"


def test_a_prefix_in_the_url_opens_the_run(ids: dict[str, str]) -> None:
    at = _open("run", run=ids["keras-lr"][:7])
    assert at.selectbox(key="run_pick").value == ids["keras-lr"]
    assert at.query_params["run"] == ids["keras-lr"]
    at = _open("run", run="nope")
    assert at.error[0].value.startswith("no run with id")
    assert at.selectbox(key="run_pick").value is None


def test_run_page_times_numbers_and_a_constant_series(ids: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30: local time is not UTC here
    time.tzset()
    try:
        at = _open("run", run=ids["keras-lr"])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    fields = at.dataframe[0].value["value"]
    created = pd.Timestamp(fields["created_at"])
    assert len(fields["created_at"]) == len("2024-05-01 14:03:22")  # to the second
    assert created.tz_localize("Asia/Kolkata").tz_convert("UTC") == pytest.approx(
        pd.Timestamp.now(tz="UTC"), abs=pd.Timedelta(minutes=10))
    metrics = _shown(at.dataframe[3]).set_index("metric")
    # decision order, the best first, numbers as on Compare and in the CLI
    assert metrics.index.tolist() == ["val_loss", "val_accuracy", "learning_rate"]
    assert metrics.loc["learning_rate", "last"] == "5.789e-6"
    assert metrics.loc["val_accuracy", "best"] == "0.00136"
    assert metrics.loc["val_loss", "best"] == "0.5"
    figures = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
               for c in at.get("plotly_chart")}
    lr_axis = figures["learning_rate"]["layout"]["yaxis"]
    # Around the value, not Plotly's unit-wide axis on which 5.789e-6 reads as 0.
    assert lr_axis["range"] == pytest.approx([5.789e-6 / 2, 5.789e-6 * 1.5])
    assert lr_axis["autorange"] is False
    # A varying series (0.9 down to 0.5): the axis fits its line, not one value's range.
    low, high = figures["val_loss"]["layout"]["yaxis"]["range"]
    assert low <= 0.5 < 0.9 <= high and high - low < 0.6

