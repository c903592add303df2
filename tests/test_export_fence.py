"""The TensorBoard export writes only inside the folder it was given: a symlink planted
in that folder (as a project or run folder, the manifest, a half-written file or an
event file) never leads a write, a truncation or a delete outside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage.interchange.tensorboard import export_tensorboard
from trackboard.storage.interchange.tensorboard.exporter import MANIFEST, run_dir_name

from tests.support.dashboard import APP

SECRET = "precious outside data\n"


@pytest.fixture
def store(sqlite_url: str) -> tuple[str, str]:
    with Run(project="churn", name="mlp", store=sqlite_url, system_metrics=False) as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
    return sqlite_url, run.id


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder and a file the export must never touch."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text(SECRET)
    return folder


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert (outside / "keep.txt").read_text() == SECRET


def test_a_symlinked_project_folder_is_refused(store: tuple[str, str], tmp_path: Path,
                                               outside: Path) -> None:
    url, _ = store
    out = tmp_path / "export"
    out.mkdir()
    (out / "churn").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match=r"refused: .*churn leads to .*outside, outside the "
                                         r"export folder"):
        export_tensorboard(url, out)
    _untouched(outside)  # nothing was made through the link (no run folder either)


@pytest.mark.parametrize("planted", ["partial", "event", "manifest tmp"])
def test_a_symlinked_file_is_replaced_never_written_through(
        store: tuple[str, str], tmp_path: Path, outside: Path, planted: str) -> None:
    url, run_id = store
    out = tmp_path / "export"
    first = export_tensorboard(url, out)  # where the run's files go
    run_dir = out / first.runs[run_id]
    (event,) = run_dir.glob("events.out.tfevents.*")
    name = {"partial": run_dir / f".partial-{run_id}", "event": event,
            "manifest tmp": out / (MANIFEST + ".tmp")}[planted]
    name.unlink(missing_ok=True)
    name.symlink_to(outside / "keep.txt")
    again = export_tensorboard(url, out)
    _untouched(outside)
    assert again.points == 3 and not name.is_symlink()
    assert [p.name for p in run_dir.iterdir()] == [event.name]


def test_a_symlinked_manifest_is_refused(store: tuple[str, str], tmp_path: Path,
                                         outside: Path) -> None:
    url, _ = store
    out = tmp_path / "export"
    out.mkdir()
    (out / MANIFEST).symlink_to(outside / "keep.txt")
    with pytest.raises(ValueError, match=f"{MANIFEST} is a symlink"):
        export_tensorboard(url, out)
    _untouched(outside)


def test_a_manifest_that_points_outside_deletes_nothing(store: tuple[str, str],
                                                        tmp_path: Path, outside: Path) -> None:
    url, run_id = store
    out = tmp_path / "export"
    out.mkdir()
    # The run's files "were" exported outside: cleaning up there would delete them.
    victim = outside / f"events.out.tfevents.1.trackboard-{run_id}"
    victim.write_text(SECRET)
    rel = os.path.relpath(outside, out)
    (out / MANIFEST).write_text(json.dumps({"format": 1, "runs": {run_id: rel}}))
    with pytest.raises(ValueError, match="leaves the export folder"):
        export_tensorboard(url, out)
    assert victim.read_text() == SECRET


def test_the_cli_refuses_in_one_line(store: tuple[str, str], tmp_path: Path,
                                     outside: Path) -> None:
    url, run_id = store
    out = tmp_path / "export"
    (out / "churn").mkdir(parents=True)
    project, run_folder = run_dir_name("churn", "mlp", run_id).split("/")
    (out / project / run_folder).symlink_to(outside, target_is_directory=True)
    result = CliRunner().invoke(cli, ["export", "tensorboard", str(out), "--store", url])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "outside the export folder" in result.output
    _untouched(outside)


@pytest.mark.slow  # a whole page under AppTest; the exporter's own tests above are core
def test_the_export_page_refuses_a_symlink_inside_the_export_dir(
        store: tuple[str, str], tmp_path: Path, outside: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only dashboard with --export-dir: the folder typed on the page is inside
    it, but a symlink in it (planted by anyone who can write there) leads out."""
    url, run_id = store
    base = tmp_path / "exports"
    (base / "tb").mkdir(parents=True)
    (base / "tb" / "churn").symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "1")
    monkeypatch.setenv("TRACKBOARD_EXPORT_DIR", str(base))
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/export.py")
    at.query_params["runs"] = run_id
    at.run()
    at.text_input(key="export_tb_dir").set_value("tb").run()
    at.button(key="export_tb").click().run()
    assert not at.exception and not at.success
    (error,) = [e.value for e in at.error]
    assert "outside the export folder" in error and "\n" not in error
    _untouched(outside)
