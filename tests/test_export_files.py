"""`trackboard export csv|parquet`: every point in the long format, exact values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
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


def _media_run(url: str) -> Run:
    from trackboard.loggers import Histogram, Image, Text

    rng = np.random.default_rng(0)
    with Run(project="files", name="media", store=url, system_metrics=False) as run:
        for step in range(3):
            run.log({"w": Histogram(rng.normal(size=50) / 3, bins=5),
                     "img": [Image(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8),
                                   caption="a, \"b\"\n"), Image(np.zeros((2, 2)))],
                     "note": Text(f"line, \"{step}\"\nnext")}, step=step)
        run.log({"w": Histogram.from_counts([0.0, 0.1, 1 / 3], [2, 0.5])}, step=5)
    return run


def test_histograms_images_and_texts_as_files(sqlite_url: str, tmp_path: Path) -> None:
    import json

    from trackboard.storage.interchange.media_files import HISTOGRAM_COLUMNS, IMAGE_COLUMNS

    run = _media_run(sqlite_url)
    store = Store(sqlite_url)

    def export(fmt: str, kind: str) -> pd.DataFrame:
        out = tmp_path / f"{kind}.{fmt}"
        result = CliRunner().invoke(cli, ["export", fmt, str(out), "--store", sqlite_url,
                                          "--kind", kind])
        assert result.exit_code == 0, result.output
        frame = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(
            out, keep_default_na=False, na_values=[""])
        assert f"wrote {len(frame)} rows" in result.output
        return frame

    want = store.histograms(run.id)
    for fmt in ("parquet", "csv"):
        got = export(fmt, "histograms")
        assert list(got.columns) == HISTOGRAM_COLUMNS and len(got) == 4
        assert set(got["run_name"]) == {"media"}
        for col in ("step", "count", "min", "max", "sum", "sum_squares", "nan_count"):
            # exactly (NaN for what is not known); the CSV's floats are repr-exact
            np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float))
        for col in ("edges", "counts"):  # lists of doubles / JSON arrays, exactly
            values = [list(v) if fmt == "parquet" else json.loads(v) for v in got[col]]
            assert values == [v.tolist() for v in want[col]]
        texts = export(fmt, "texts")
        assert texts[["key", "step", "text"]].values.tolist() == [
            ["note", s, f"line, \"{s}\"\nnext"] for s in range(3)]
    images = export("parquet", "images")
    frame = store.images(run.id)
    assert list(images.columns) == IMAGE_COLUMNS and len(images) == 6
    assert images["data"].tolist() == [store.image_bytes(h) for h in frame["hash"]]
    assert [c if isinstance(c, str) else None for c in images["caption"]] == [
        "a, \"b\"\n", None] * 3
    result = CliRunner().invoke(cli, ["export", "csv", str(tmp_path / "i.csv"), "--store",
                                      sqlite_url, "--kind", "images"])
    assert result.exit_code == 1 and "images go to Parquet" in result.output
