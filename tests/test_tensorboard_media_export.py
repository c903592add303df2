"""Histograms, images and texts logged through the Run API -> `trackboard export
tensorboard` -> a real TensorBoard server (default flags, and its Python loader) read
through the JSON API of its Histograms, Distributions, Images and Text tabs; and back
through `trackboard import tensorboard` (the round trip)."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.loggers import Histogram, Image, Run, Text
from trackboard.storage import Store
from trackboard.storage.interchange.tensorboard import export_tensorboard, import_tensorboard
from trackboard.storage.interchange.tensorboard.importer import run_uid
from trackboard.storage.media.images import decode_image

from tests.support.servers import tensorboard_server

pytestmark = pytest.mark.slow  # a real TensorBoard server (and TensorFlow's reader)

STEPS = (0, 10, 20, 30, 40, 50)


def _log_runs(url: str) -> list[Run]:
    runs = []
    for i in range(2):
        rng = np.random.default_rng(i)
        with Run(project="media", name=f"run {i}", store=url, system_metrics=False) as run:
            for step in STEPS:
                values = rng.normal(i, 1 + step / 50, size=400)
                if step == 20:
                    values[:3] = [np.nan, np.inf, -np.inf]  # counted apart
                run.log({
                    "loss": 1 / (step + 1),
                    "weights/fc1": Histogram(values, bins=16),
                    "weights/zero": Histogram(np.zeros(5)),  # one value: width 1 around it
                    "samples": [Image(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8),
                                      caption=f"s{k}") for k in range(3)],
                    "grey": Image(rng.integers(0, 256, (4, 7), dtype=np.uint8)),
                    "rgba": Image(rng.integers(0, 256, (3, 3, 4), dtype=np.uint8)),
                    "notes": Text(f"note {step}: a & b"),
                }, step=step)
            run.log({"weights/raw": Histogram.from_counts([0.0, 1.0, 2.5, 4.0], [0, 5, 2],
                                                           min=1.5, max=3.0, sum=9.0)},
                    step=60)
            run.log({"weights/raw": Histogram([np.nan, np.nan])}, step=70)  # nothing finite
        runs.append(run)
    return runs


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, list[Run], dict]:
    base = tmp_path_factory.mktemp("export")
    url = f"sqlite:///{base / 'trackboard.db'}"
    runs = _log_runs(url)
    out = base / "tb"
    result = CliRunner().invoke(cli, ["export", "tensorboard", str(out), "--store", url,
                                      "--project", "media"])
    assert result.exit_code == 0, result.output
    # 2 runs x (6 steps x 2 keys + 2 raw), 6 steps x 5 images, 6 texts
    assert "12 points, 28 histograms, 60 images, 12 texts" in result.output
    manifest = json.loads((out / ".trackboard-export.json").read_text())["runs"]
    return url, out, runs, manifest


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as resp:
        data = resp.read()
    return json.loads(data) if resp.headers.get_content_type() == "application/json" else data


def _wait_for_tags(base: str, plugin: str, runs: list[str], count: int) -> dict:
    deadline = time.time() + 90
    while True:
        tags = _get(f"{base}/data/plugin/{plugin}/tags")
        if all(len(tags.get(r, {})) >= count for r in runs) or time.time() > deadline:
            return tags  # type: ignore[return-value]
        time.sleep(0.5)


@pytest.mark.parametrize("load_fast", [True, False], ids=["default-loader", "python-loader"])
def test_tensorboard_shows_histograms_distributions_images_texts(
        exported: tuple, tmp_path: Path, load_fast: bool) -> None:
    url, out, runs, manifest = exported
    store = Store(url)
    with tensorboard_server(out, tmp_path / "tb.log", load_fast=load_fast) as base:
        rels = [manifest[r.id] for r in runs]
        tags = _wait_for_tags(base, "histograms", rels, 3)
        for run in runs:
            rel = manifest[run.id]
            assert sorted(tags[rel]) == ["weights/fc1", "weights/raw", "weights/zero"]
            for key in tags[rel]:
                q = urllib.parse.urlencode({"run": rel, "tag": key})
                want = store.histograms(run.id, keys=[key])
                shown = _get(f"{base}/data/plugin/histograms/histograms?{q}")
                assert [s for _, s, _ in shown] == want["step"].tolist()
                assert [w for w, _, _ in shown] == want["wall_time"].tolist()
                for (_, _, buckets), r in zip(shown, want.itertuples()):
                    # The stored buckets, float64 exactly: [left, right, count] each
                    assert buckets == [[a, b, c] for a, b, c in zip(
                        r.edges[:-1].tolist(), r.edges[1:].tolist(), r.counts.tolist())]
                bands = _get(f"{base}/data/plugin/distributions/distributions?{q}")
                mine = store.distributions(run.id, keys=[key])
                for (_, step, points), r in zip(bands, mine.itertuples()):
                    h = want[want.step == step].iloc[0]
                    if not len(h.counts) or h.edges[0] != h["min"] or h.edges[-1] != h["max"]:
                        continue  # TensorBoard knows only the edges (docs/interchange.md)
                    assert [bp for bp, _ in points] == [0, 668, 1587, 3085, 5000, 6915,
                                                        8413, 9332, 10000]
                    assert [v for _, v in points] == pytest.approx(
                        list(r[5:]), rel=1e-12, abs=1e-12), (key, step)
        images = _wait_for_tags(base, "images", rels, 3)
        for run in runs:
            rel = manifest[run.id]
            assert {k: v["samples"] for k, v in images[rel].items()} == {
                "samples": 3, "grey": 1, "rgba": 1}
            frame = store.images(run.id)
            for key, info in images[rel].items():
                for sample in range(info["samples"]):
                    q = urllib.parse.urlencode({"run": rel, "tag": key, "sample": sample})
                    items = _get(f"{base}/data/plugin/images/images?{q}")
                    assert [i["step"] for i in items] == list(STEPS)
                    for item in items:
                        row = frame[(frame.key == key) & (frame.step == item["step"])
                                    & (frame["index"] == sample)].iloc[0]
                        served = _get(f"{base}/data/plugin/images/individualImage?"
                                      f"{item['query']}")
                        assert served[:4] == b"\x89PNG"  # WebP is sent as PNG
                        assert (decode_image(served, row.channels) == decode_image(
                            store.image_bytes(row.hash), row.channels)).all()
                        assert item["wall_time"] == row.wall_time
        for run in runs:
            q = urllib.parse.urlencode({"run": manifest[run.id], "tag": "notes"})
            shown = _get(f"{base}/data/plugin/text/text?{q}")
            assert [t["step"] for t in shown] == list(STEPS)
            for t in shown:
                assert f"note {t['step']}: a &amp; b" in t["text"]


def test_round_trip_restores_histograms_pixels_and_texts(exported: tuple,
                                                         tmp_path: Path) -> None:
    url, out, runs, manifest = exported
    back = f"sqlite:///{tmp_path / 'back.db'}"
    result = import_tensorboard(out, back, progress=False)
    assert (result.histograms, result.images, result.texts) == (28, 60, 12)
    src, dst = Store(url), Store(back)
    for run in runs:
        uid = run_uid(out, manifest[run.id])
        a, b = src.histograms(run.id), dst.histograms(uid)
        assert len(a) == len(b) == 14
        for x, y in zip(a.itertuples(index=False), b.itertuples(index=False)):
            assert (x.key, x.step, x.wall_time) == (y.key, y.step, y.wall_time)
            assert x.edges.tolist() == y.edges.tolist()
            assert x.counts.tolist() == y.counts.tolist()
            for col in ("count", "nan_count", "posinf_count", "neginf_count", "min", "max",
                        "sum", "sum_squares"):
                u, v = getattr(x, col), getattr(y, col)
                assert u == v or (math.isnan(u) and math.isnan(v)), (x.key, x.step, col)
        a, b = src.images(run.id), dst.images(uid)
        assert a[["key", "step", "index", "width", "height", "channels",
                  "wall_time"]].values.tolist() == b[["key", "step", "index", "width",
                                                      "height", "channels",
                                                      "wall_time"]].values.tolist()
        for x, y in zip(a.itertuples(), b.itertuples()):
            assert (decode_image(src.image_bytes(x.hash), x.channels)
                    == decode_image(dst.image_bytes(y.hash), y.channels)).all()
        assert set(b["caption"].dropna()) == set()  # TensorBoard images carry no caption
        a, b = src.texts(run.id), dst.texts(uid)
        assert a[["key", "step", "wall_time", "text"]].values.tolist() == \
            b[["key", "step", "wall_time", "text"]].values.tolist()


def test_export_again_is_the_same_file(exported: tuple, tmp_path: Path) -> None:
    """Media are written in a fixed order: exporting twice gives identical event files."""
    url, _, runs, _ = exported
    first = export_tensorboard(url, tmp_path / "a", run_ids=[runs[0].id], fast=False)
    second = export_tensorboard(url, tmp_path / "b", run_ids=[runs[0].id], fast=False)
    assert first.media == second.media == {"histograms": 14, "images": 30, "texts": 6}
    (fa,) = (tmp_path / "a").rglob("*tfevents*")
    (fb,) = (tmp_path / "b").rglob("*tfevents*")
    assert fa.read_bytes() == fb.read_bytes()
