"""Every dashboard page under Streamlit's AppTest, on a seeded store."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from trackboard.dashboard.smoothing import ema
from trackboard.storage import Store

from tests.support.dashboard import APP, KNOWN_LOSS, XSS_NAME, seed

pytestmark = pytest.mark.slow  # Streamlit AppTest runs of whole pages, seconds each


@pytest.fixture
def seeded(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    ids = seed(sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    return sqlite_url, ids


def _app(**query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query)
    return at


def _open(page: str, **query: str) -> AppTest:
    at = _app(**query).run()
    if page != "runs":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _figures(at: AppTest, *, hparams: bool = False) -> list[dict]:
    """Figure JSON of every metric chart (or, with hparams, of the hyperparameter
    view's two charts), typed arrays ({"dtype", "bdata"}) decoded to lists."""
    figs = [_decode(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]
    return [f for f in figs if hparams == str(
        ((f.get("data") or [{}])[0].get("meta") or {}).get("role", "")).startswith("hparam")]


def _decode(obj: object) -> object:
    if isinstance(obj, dict):
        if set(obj) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"]).tolist()
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def test_runs_page_lists_runs_with_metric_columns(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    at = _open("runs")
    table = at.dataframe[0].value
    assert set(table["name"]) == {"keras-run", "torch-run", "lightning-run", XSS_NAME}
    assert set(table["status"]) == {"✓ finished"}
    assert {"loss.last", "loss.min", "lr", "tags"} <= set(table.columns)
    row = table.set_index("name").loc["keras-run"]
    assert row["loss.min"] == 0.0 and row["lr"] == 0.001 and row["tags"] == "seed=0"
    assert row["optimizer"] == "adam"  # text params stay text; numbers sort numerically
    assert at.button(key="runs_compare").disabled  # nothing selected yet


def test_runs_page_filter_and_search(seeded: tuple[str, dict[str, str]]) -> None:
    at = _open("runs")
    at.text_input(key="runs_filter").set_value('framework = "keras" or params.lr > 0.005').run()
    assert set(at.dataframe[0].value["name"]) == {"keras-run", "torch-run"}
    assert at.query_params["filter"] == 'framework = "keras" or params.lr > 0.005'
    at.text_input(key="runs_search").set_value("TORCH").run()
    assert at.dataframe[0].value["name"].tolist() == ["torch-run"]
    at.text_input(key="runs_filter").set_value("params.lr <").run()
    assert "Bad filter at position 11\\: expected a value" in at.error[0].value  # escaped
    assert at.code[0].value.splitlines()[1] == " " * 11 + "^"


def test_runs_page_select_rename_tag_delete(seeded: tuple[str, dict[str, str]]) -> None:
    url, ids = seeded
    at = _open("runs")
    at.multiselect(key="runs_pick").set_value([ids["torch-run"], ids["keras-run"]]).run()
    assert at.session_state["selected_runs"] == [ids["torch-run"], ids["keras-run"]]
    assert at.query_params["runs"] == f"{ids['torch-run']},{ids['keras-run']}"
    at.selectbox(key="runs_edit_target").set_value(ids["torch-run"]).run()
    at.text_input(key="runs_edit_name").set_value("torch-renamed")
    at.button(key="runs_rename").click().run()
    at.text_input(key="runs_tag_key").set_value("reviewed")
    at.text_input(key="runs_tag_value").set_value("yes")
    at.button(key="runs_set_tag").click().run()
    info = Store(url).run(ids["torch-run"])
    assert info["name"] == "torch-renamed" and info["tags"]["reviewed"] == "yes"
    at.checkbox(key="runs_delete_sure").check().run()
    at.button(key="runs_delete").click().run()
    assert set(Store(url).runs()["id"]) == {ids["lightning-run"], ids["xss"]}


def test_read_only_mode_hides_every_write_control(seeded: tuple[str, dict[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, ids = seeded
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    at = _open("runs", runs=ids["keras-run"])
    assert at.session_state["selected_runs"] == [ids["keras-run"]]
    assert not at.expander and [b.key for b in at.button] == ["runs_compare"]
    assert "read-only" in at.sidebar.caption[0].value


def test_compare_page_overlays_runs_and_smooths(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    pair = f"{ids['keras-run']},{ids['torch-run']}"
    at = _open("compare", runs=pair, metrics="loss,val_loss|eval_loss")
    figs = _figures(at)
    assert [f["layout"]["title"]["text"] for f in figs] == ["loss", "val_loss|eval_loss"]
    loss = figs[0]["data"]
    assert [(t["meta"]["run_id"], t["meta"]["role"]) for t in loss] == [
        (ids["keras-run"], "raw"), (ids["keras-run"], "smoothed"),
        (ids["torch-run"], "raw"), (ids["torch-run"], "smoothed")]
    # Same colour for a run in every chart; the merged chart has both runs' keys.
    assert loss[1]["line"]["color"] == figs[1]["data"][1]["line"]["color"]
    assert {t["meta"]["run_id"] for t in figs[1]["data"]} == {ids["keras-run"], ids["torch-run"]}
    assert loss[1]["y"][:5] == pytest.approx(ema(KNOWN_LOSS, 0.6).tolist())
    assert loss[0]["y"][:5] == pytest.approx(KNOWN_LOSS)
    # The summary names each run by its label, as the run list and the hover do.
    summary = at.dataframe[2].value
    k_label, t_label = "keras-run · lr=0.001 · layers=2", "torch-run · lr=0.01 · layers=3"
    keras = summary[(summary["run"] == k_label) & (summary["metric"] == "loss")].iloc[0]
    assert keras["min"] == 0.0 and keras["best step"] == 1
    merged = summary[summary["metric"] == "val_loss|eval_loss"].set_index("run")["key"]
    assert merged.to_dict() == {k_label: "val_loss", t_label: "eval_loss"}


def test_compare_params_diff_table(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    at = _open("compare", runs=f"{ids['keras-run']},{ids['torch-run']}", metrics="loss")
    diff = at.dataframe[1].value
    # The common vocabulary (lr) first; optimizer is the same in both runs: hidden.
    assert diff.index.tolist() == ["lr", "layers"]
    assert diff.loc["lr"].tolist() == ["0.001", "0.01"]
    at.toggle(key="cmp_params_all").set_value(True).run()
    # Every param: those that differ first, as above, then the others.
    assert at.dataframe[1].value.index.tolist() == ["lr", "layers", "optimizer"]


def test_compare_summary_table_reads_every_run(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    runs = [ids["keras-run"], ids["torch-run"]]
    at = _open("compare", runs=",".join(runs), metrics="loss,val_loss|eval_loss")
    summary = next(d.value for d in at.dataframe if "best step" in d.value.columns)
    loss = summary[summary["metric"] == "loss"]
    assert len(loss) == 2 and loss["steps"].tolist() == [40, 40]
    # keras-run's loss starts 1.0, 0.0, 0.0: the best (lowest) is 0 at step 1.
    first = loss.iloc[0]
    assert (first["min"], first["best"], first["best step"], first["max"]) == (0.0, 0.0, 1, 1.0)
    # One chart of two alias keys: each run reports the key it has.
    assert sorted(summary[summary["metric"] == "val_loss|eval_loss"]["key"]) == [
        "eval_loss", "val_loss"]


def test_compare_state_lives_in_the_url(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    three = ",".join(ids[n] for n in ("keras-run", "torch-run", "lightning-run"))
    at = _open("compare", runs=three, metrics="loss", smooth="none", x="epoch", logy="1",
               group="tags.seed", band="minmax")
    assert at.selectbox(key="cmp_x").value == "epoch" and at.checkbox(key="cmp_logy").value
    fig = _figures(at)[0]
    assert fig["layout"]["yaxis"]["type"] == "log"
    means = [t for t in fig["data"] if t["meta"]["role"] == "mean"]
    assert sorted(t["meta"]["group"] for t in means) == ["0", "1"]
    group0 = next(t for t in means if t["meta"]["group"] == "0")
    assert sorted(group0["meta"]["runs"]) == sorted([ids["keras-run"], ids["lightning-run"]])
    assert set(group0["x"]) == {0, 1, 2, 3}  # epochs, joined on step
    at.radio(key="cmp_smooth").set_value("moving average").run()
    assert at.query_params["smooth"] == "moving average"
    assert at.query_params["group"] == "tags.seed" and at.query_params["x"] == "epoch"


def test_compare_step_range_reads_full_resolution(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    at = _open("compare", runs=ids["torch-run"], metrics="loss", range="10-19", smooth="none")
    trace = _figures(at)[0]["data"][0]
    assert trace["x"] == list(range(10, 20))


def test_compare_without_selection_explains(seeded: tuple[str, dict[str, str]]) -> None:
    at = _open("compare")
    assert "No runs selected" in at.info[0].value


def test_run_page_shows_one_run_with_system_metrics(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    at = _open("run", run=ids["lightning-run"][:8])
    params = at.dataframe[1].value  # fields, params, tags, metrics
    assert params.loc["optimizer", "value"] == "adam"
    titles = [f["layout"]["title"]["text"] for f in _figures(at)]
    assert sorted(titles[:3]) == ["epoch", "loss", "val_loss"]
    assert titles[3:] == ["system/cpu_percent"]
    assert [s.value for s in at.subheader][-1] == "System"
    at = _open("run", run="nope")
    assert "no run with id 'nope'" in at.error[0].value


def test_run_page_escapes_html_names(seeded: tuple[str, dict[str, str]]) -> None:
    _, ids = seeded
    at = _open("run", run=ids["xss"])
    assert at.text[0].value == XSS_NAME  # st.text: shown as typed, no markdown
    assert at.dataframe[1].value.loc["note", "value"] == "<img src=x onerror=alert(3)>"


PAGES = sorted(p.stem for p in (APP.parent / "views").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("page", PAGES)
def test_password_form_guards_every_page(page: str, seeded: tuple[str, dict[str, str]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, ids = seeded
    monkeypatch.setenv("TRACKBOARD_PASSWORD", "s3cret")
    # A deep link to the page, as a shared URL would open it.
    at = _app(runs=ids["keras-run"], run=ids["keras-run"]).run()
    if page != "runs":
        at.switch_page(f"views/{page}.py").run()
    shown = ("dataframe", "plotly_chart", "download_button", "multiselect")
    assert at.text_input(key="auth_password") and not any(at.get(k) for k in shown)
    assert not at.sidebar.caption  # not even the (masked) store URL
    at.text_input(key="auth_password").set_value("wrong")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password." and not any(at.get(k) for k in shown)
    at.text_input(key="auth_password").set_value("s3cret")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == page.capitalize() and any(at.get(k) for k in shown)
    assert "s3cret" not in str(at.main) and "s3cret" not in str(at.sidebar)


@pytest.mark.postgres
def test_store_password_is_masked_in_the_page(seeded: tuple[str, dict[str, str]],
                                              pg_server: object, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    url = pg_server.create_database()  # type: ignore[attr-defined]
    from sqlalchemy.engine import make_url

    with_password = make_url(url).set(password="hunter2").render_as_string(hide_password=False)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", with_password)
    at = _app().run()
    assert "***" in at.sidebar.caption[0].value and "hunter2" not in at.sidebar.caption[0].value


def test_live_compare_fetches_only_new_points(seeded: tuple[str, dict[str, str]]) -> None:
    url, _ = seeded
    from trackboard.loggers import Run

    run = Run(project="live", name="live-run", store=url)
    for s in range(10):
        run.log({"loss": float(s)}, step=s)
    run._writer.flush()  # type: ignore[attr-defined]
    at = _open("compare", runs=run.id, metrics="loss", smooth="none")
    assert _figures(at)[0]["data"][0]["x"] == list(range(10))
    for s in range(10, 15):
        run.log({"loss": float(s)}, step=s)
    run._writer.flush()  # type: ignore[attr-defined]
    at.run()
    assert _figures(at)[0]["data"][0]["x"] == list(range(15))
    (tail,) = at.session_state["_cmp_tail"].values()
    assert tail["step"].tolist() == [10, 11, 12, 13, 14]  # only the points after step 9
    assert any("Live: 1 running run" in c.value for c in at.main.get("caption"))
    run.finish()
