"""`trackboard export csv|parquet`: every point in the long format, exact values."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.interchange.files import COLUMNS, points_frame, to_bytes


def _runs(url: str) -> list[Run]:
    out = []
    for i in range(2):
        with Run(project="files", name=f"r{i}", store=url, system_metrics=False) as run:
            for step in range(10):
                run.log({"loss": 1 / 3 + step * 1e-13, "acc": step / 7})
            run.log({"odd": math.inf}, step=3)
        out.append(run)
    return out


def _check(frame: pd.DataFrame, url: str, runs: list[Run]) -> None:
    assert list(frame.columns) == COLUMNS
    want = points_frame(Store(url), [runs[1].id])
    assert len(frame) == len(want) == 21
    got = frame.sort_values(["key", "step"]).reset_index(drop=True)
    want = want.sort_values(["key", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)
    assert set(frame["run_name"]) == {"r1"}


def test_csv_and_parquet_round_trip(sqlite_url: str, tmp_path: Path) -> None:
    runs = _runs(sqlite_url)
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"points.{fmt}"
        result = CliRunner().invoke(cli, ["export", fmt, str(out), "--store", sqlite_url,
                                          "--run", runs[1].id[:8]])
        assert result.exit_code == 0, result.output
        assert "wrote 21 rows" in result.output
        frame = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
        _check(frame, sqlite_url, runs)
    assert to_bytes(points_frame(Store(sqlite_url)), "csv").count(b"\n") == 43


def test_unknown_run_is_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    _runs(sqlite_url)
    result = CliRunner().invoke(cli, ["export", "csv", str(tmp_path / "x.csv"), "--store",
                                      sqlite_url, "--run", "zzzz"])
    assert result.exit_code == 1 and "no run with id 'zzzz'" in result.output
