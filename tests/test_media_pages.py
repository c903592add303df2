"""The media section of Compare and Run under Streamlit's AppTest, on runs that logged
Histogram, Image and Text values through Run.log (tests/support/media_seed.py)."""

from __future__ import annotations

import base64
import os
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from trackboard.loggers import Image, Run, Text
from trackboard.storage import Store

from tests.support.dashboard import APP
from tests.support.media_seed import figure_json, seed_media

pytestmark = pytest.mark.slow  # AppTest runs of whole pages, seconds each
HOSTILE = "**bold** <img src=x onerror=alert(1)> [a](http://example.org) :red[x]"


@pytest.fixture
def runs(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A Keras-named and a torch-named run with media, and one that logs at other
    steps (every 30 instead of every 20), with hostile text in its key and caption."""
    ids = seed_media(sqlite_url, runs=2, steps=range(0, 101, 20))
    with Run(project="media", name=HOSTILE, framework="jax", store=sqlite_url,
             system_metrics=False) as run:
        for step in range(0, 91, 30):
            pixels = np.full((8, 8, 3), step, dtype=np.uint8)
            run.log({"samples": [Image(pixels, caption=f"{HOSTILE} {step}")],
                     "notes": Text(f"{HOSTILE}\nline two")}, step=step)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    return [*ids, run.id]


def _open(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params.update(query)
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _media_figures(at: AppTest) -> list[dict]:
    figs = [figure_json(c.proto.spec) for c in at.get("plotly_chart")]
    return [f for f in figs if f["data"] and f["data"][0].get("meta", {}).get("role") in (
        "band", "median", "ridge", "overlay")]


def _scalar_colours(at: AppTest) -> dict[str, str]:
    """Run id -> its line colour on the page's first scalar chart."""
    loss = next(f for f in (figure_json(c.proto.spec) for c in at.get("plotly_chart"))
                if f["data"] and f["data"][0].get("meta", {}).get("role") in ("smoothed", "raw"))
    return {t["meta"]["run_id"]: t["line"]["color"] for t in loss["data"]}


def _image_rows(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.get("html") if "trackboard-images" in h.proto.body)


def test_compare_shows_distributions_of_both_frameworks_grouped_by_prefix(runs) -> None:
    keras, torch, _ = runs
    at = _open("compare", runs=f"{keras},{torch}", metrics="loss")
    assert [e.label for e in at.expander] == ["grads", "weights"]
    figs = _media_figures(at)
    assert [f["layout"]["title"]["text"] for f in figs] == ["grads/fc1", "weights/fc1",
                                                            "weights/fc2"]
    # One panel per run, in the page's order, each run in its colour on the scalar charts.
    line_colour = _scalar_colours(at)
    medians = [t for t in figs[1]["data"] if t["meta"]["role"] == "median"]
    assert [t["meta"]["run_id"] for t in medians] == [keras, torch]
    assert [t["line"]["color"] for t in medians] == [line_colour[keras], line_colour[torch]]
    assert [t["xaxis"] for t in medians] == ["x", "x2"]
    assert len(medians[0]["x"]) == 6  # steps 0..100 every 20
    assert at.radio(key="cmp_media").options == ["Distributions", "Histograms", "Images",
                                                  "Texts"]


def test_views_and_modes_live_in_the_link(runs) -> None:
    keras, torch, _ = runs
    at = _open("compare", runs=f"{keras},{torch}", metrics="loss", media="histograms",
               hmode="overlay", mkeys="weights/*", hstep="weights/fc1=45")
    figs = _media_figures(at)
    assert [f["layout"]["title"]["text"] for f in figs] == ["weights/fc1", "weights/fc2"]
    # 45 is nearest to 40 in both runs; fc2 has no step in the link: its last.
    assert [t["meta"]["step"] for t in figs[0]["data"]] == [40, 40]
    assert [t["meta"]["step"] for t in figs[1]["data"]] == [100, 100]
    assert at.query_params["hstep"] == "weights/fc1=40"
    at.radio(key="cmp_hmode").set_value("offset").run()
    ridge = _media_figures(at)[0]
    assert {t["meta"]["role"] for t in ridge["data"]} == {"ridge"}
    assert at.query_params.get("hmode") is None  # the default leaves the link
    at.radio(key="cmp_media").set_value("distributions").run()
    assert "media" not in at.query_params  # the first view is the default
    at.radio(key="cmp_dmode").set_value("overlay").run()
    assert at.query_params["dmode"] == "overlay"
    roles = [t["meta"]["role"] for t in _media_figures(at)[0]["data"]]
    assert roles == ["band", "median", "band", "median"]


def test_images_snap_each_run_to_its_nearest_step(runs) -> None:
    keras, torch, other = runs
    at = _open("compare", runs=f"{keras},{torch},{other}", metrics="loss", media="images",
               mkeys="samples", istep="samples=50")
    slider = next(s for s in at.slider if str(s.key).startswith("cmp_istep_"))
    # Steps 0..100 every 20 and 0..90 every 30: the slider moves by 10.
    assert (slider.min, slider.max, slider.step, slider.value) == (0, 100, 10, 50)
    html = _image_rows(at)
    # 50: keras and torch show 40 (nearer than 60), the other run 60.
    assert re.findall(r"step (\d+)(?: \(nearest to 50\))?", html) == ["40", "40", "60"]
    store = Store(os.environ["TRACKBOARD_UI_STORE"], read_only=True)
    strip = store.images(keras, ["samples"], steps=[40])
    shown = [base64.b64decode(s) for s in re.findall(r'src="data:image/\w+;base64,([^"]+)"', html)]
    # Keras' strip of three, in order, byte for byte; then torch's three, the other's one.
    assert shown[:3] == [store.image_bytes(h) for h in strip["hash"]]
    assert len(shown) == 7
    assert [c for c in re.findall(r"<figcaption[^>]*>([^<]*)</figcaption>", html)][:3] == \
        strip["caption"].tolist()
    # Hostile text is shown as typed: escaped, never markup.
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "/media/" not in html
    slider.set_value(90).run()
    # 90 is as near to 80 as to 100: the earlier step.
    assert re.findall(r"step (\d+)", _image_rows(at)) == ["80", "80", "90"]
    assert at.query_params["istep"] == "samples=90"


def test_run_page_shows_texts_by_step_as_typed(runs) -> None:
    at = _open("run", run=runs[2], media="texts")
    table = next(d for d in at.dataframe if "step" in d.value.columns)
    assert table.value.columns.tolist() == ["step", HOSTILE]
    assert table.value["step"].tolist() == [0, 30, 60, 90]
    assert set(table.value[HOSTILE]) == {f"{HOSTILE}\nline two"}


def test_run_page_draws_one_run_in_pairs(runs) -> None:
    at = _open("run", run=runs[0])
    figs = _media_figures(at)
    assert len(figs) == 3 and all(len({t["meta"]["run_id"] for t in f["data"]}) == 1
                                  for f in figs)
    # One run: no side-by-side choice to make.
    assert not [r for r in at.radio if r.key == "run_dmode"]


def test_runs_without_media_get_no_section(sqlite_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    with Run(project="p", name="scalars", store=sqlite_url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = _open("compare", runs=run.id, metrics="loss")
    assert "Histograms, distributions, images" not in [s.value for s in at.subheader]


def test_nothing_of_the_media_before_the_password(runs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOARD_PASSWORD", "s3cret")
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params.update({"runs": ",".join(runs), "media": "images"})
    at.run()
    at.switch_page("views/compare.py").run()
    assert at.text_input(key="auth_password")  # the password form, and nothing else
    assert not at.get("html") and not at.get("plotly_chart") and not at.slider
    at.text_input(key="auth_password").input("s3cret")
    at.button[0].click().run()
    assert "data:image/" in _image_rows(at)


def test_many_runs_default_to_overlaid_distributions(sqlite_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ids = seed_media(sqlite_url, runs=13, steps=range(0, 41, 20), images=False)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = _open("compare", runs=",".join(ids), metrics="loss", mkeys="weights/fc1")
    (fig,) = _media_figures(at)
    assert [t["meta"]["role"] for t in fig["data"]] == ["band", "median"] * 13
    assert {t.get("xaxis", "x") for t in fig["data"]} == {"x"}
    colours = _scalar_colours(at)
    medians = [t for t in fig["data"] if t["meta"]["role"] == "median"]
    assert [t["line"]["color"] for t in medians] == [colours[t["meta"]["run_id"]] for t in medians]
    assert len({t["line"]["color"] for t in medians}) == 13


def test_a_slider_at_the_last_step_follows_a_running_run(sqlite_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from trackboard.dashboard import data

    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    run = Run(project="p", name="live", store=sqlite_url, system_metrics=False)
    for step in (0, 10):
        run.log({"samples": Image(np.full((4, 4), step, dtype=np.uint8))}, step=step)
    run.flush()
    at = _open("run", run=run.id, media="images")
    assert re.findall(r"step (\d+)", _image_rows(at)) == ["10"]
    run.log({"samples": Image(np.full((4, 4), 20, dtype=np.uint8))}, step=20)
    run.flush()
    data.media_steps.clear()
    data.images_at.clear()
    at.run()
    assert re.findall(r"step (\d+)", _image_rows(at)) == ["20"]
    slider = next(s for s in at.slider if str(s.key).startswith("run_istep_"))
    slider.set_value(10).run()  # moved by hand: it stays where it was put
    run.log({"samples": Image(np.full((4, 4), 30, dtype=np.uint8))}, step=30)
    run.finish()
    data.media_steps.clear()
    at.run()
    assert re.findall(r"step (\d+)", _image_rows(at)) == ["10"]


@pytest.mark.postgres
def test_media_views_on_postgresql(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = seed_media(pg_url, runs=2, steps=range(0, 41, 20))
    monkeypatch.setenv("TRACKBOARD_UI_STORE", pg_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = _open("compare", runs=",".join(ids), metrics="loss", mkeys="weights/fc1")
    (fig,) = _media_figures(at)
    assert [t["meta"]["run_id"] for t in fig["data"] if t["meta"]["role"] == "median"] == ids
    at.radio(key="cmp_media").set_value("images").run()
    at.text_input(key="cmp_mkeys").set_value("samples").run()
    html = _image_rows(at)
    store = Store(pg_url, read_only=True)
    shown = [base64.b64decode(s) for s in re.findall(r'src="data:image/\w+;base64,([^"]+)"', html)]
    assert shown == [store.image_bytes(h) for h in store.images(ids, ["samples"], steps=[40])["hash"]]
