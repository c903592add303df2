"""The Export page under Streamlit's AppTest, on a seeded store."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from trackboard.loggers import Run

from tests.support.ports import free_port

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "export.py")


@pytest.fixture
def seeded(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> list[Run]:
    runs = []
    for i in range(2):
        with Run(project="page", name=f"run{i}", config={"lr": i}, store=sqlite_url,
                 system_metrics=False) as run:
            for step in range(5):
                run.log({"loss": 1.0 / (step + 1)})
        runs.append(run)
    monkeypatch.setenv("TRACKBOARD_STORE", sqlite_url)
    return runs


def test_selection_from_url_exports_to_tensorboard(seeded: list[Run], tmp_path: Path) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = seeded[1].id
    at.run()
    assert not at.exception
    assert "run1" in at.text[0].value and "run0" not in at.text[0].value
    assert len(at.get("download_button")) == 1
    at.text_input(key="export_tb_dir").set_value(str(tmp_path / "tb"))
    at.button(key="export_tb").click().run()
    assert not at.exception
    assert "exported 1 run\\(s\\), 5 points" in at.success[0].value  # markdown-escaped
    assert len(list((tmp_path / "tb").rglob("*tfevents*"))) == 1


def test_selection_from_session_state_and_visdom_error(seeded: list[Run]) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_runs"] = [r.id for r in seeded]
    at.run()
    at.number_input(key="export_vis_port").set_value(free_port())
    at.button(key="export_vis").click().run()
    assert not at.exception
    assert "cannot reach the Visdom server" in at.error[0].value


def test_without_a_selection_the_page_offers_a_multiselect(seeded: list[Run]) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    pick = at.multiselect(key="export_runs")
    assert len(pick.options) == 2
    pick.select(seeded[0].id).run()
    assert len(at.get("download_button")) == 1
