"""Histograms, images and texts from Run.log to Store, on SQLite and PostgreSQL: exact
round trips, one blob per distinct image, later call wins, purge and delete (issue 20,
item 3)."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from trackboard.loggers import Histogram, Image, Run, Text
from trackboard.loggers.media import media_records
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.media.histograms import BAND_COLUMNS
from trackboard.storage.media.images import decode_image
from trackboard.storage.read.media import HISTOGRAM_COLUMNS, IMAGE_COLUMNS, TEXT_COLUMNS

RNG = np.random.default_rng(20)


def _run(url: str, name: str = "media") -> Run:
    return Run(project="media", name=name, store=url, system_metrics=False)


def _count(url: str, table: str) -> int:
    engine = build_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    engine.dispose()
    return n


def test_histograms_round_trip_exactly(store_url: str) -> None:
    run = _run(store_url)
    logged = {}
    for step in range(4):
        values = RNG.normal(step, 1.0, 5000)
        values[:step] = np.nan
        values[10:10 + step] = np.inf
        values[20:22] = -np.inf
        logged[step] = Histogram(values, bins=32)
        run.log({"w": logged[step], "loss": float(step)}, step=step)
    weights = Histogram.from_counts([0.1, 0.7, 2.3], [1 / 3, 2.25], sum=3.0)
    nothing = Histogram([np.nan, np.nan, np.inf], bins=8)
    run.log({"weighted": weights, "nothing": nothing}, step=7)
    run.finish()

    df = Store(store_url).histograms(run.id)
    assert tuple(df.columns) == HISTOGRAM_COLUMNS
    assert df[["key", "step"]].values.tolist() == [
        ["nothing", 7], ["w", 0], ["w", 1], ["w", 2], ["w", 3], ["weighted", 7]]
    for row in df[df.key == "w"].itertuples():
        h = logged[row.step]
        assert row.edges.tolist() == h.edges.tolist()
        assert row.counts.tolist() == h.counts.tolist()
        assert (row.count, row.nan_count, row.posinf_count, row.neginf_count) == (
            5000.0, row.step, row.step, 2)
        assert (row.min, row.max, row.sum, row.sum_squares) == (h.min, h.max, h.sum,
                                                                h.sum_squares)
    w = df[df.key == "weighted"].iloc[0]
    assert w.counts.tolist() == [1 / 3, 2.25] and w.edges.tolist() == [0.1, 0.7, 2.3]
    assert np.isnan(w["min"]) and w["sum"] == 3.0 and w["count"] == 1 / 3 + 2.25
    n = df[df.key == "nothing"].iloc[0]
    assert len(n.edges) == 0 and (n["count"], n.nan_count, n.posinf_count) == (3.0, 2, 1)


def test_distributions_are_tensorboards_bands(store_url: str) -> None:
    from tensorboard.compat.proto.summary_pb2 import HistogramProto
    from tensorboard.plugins.distribution.compressor import compress_histogram_proto

    run = _run(store_url)
    hs = [Histogram(RNG.gamma(2.0 + s, size=2000), bins=40) for s in range(3)]
    # Observed min and max inside the outer buckets: the bands are clamped to them.
    hs.append(Histogram.from_counts([0.0, 1.0, 2.0, 3.0], [5, 0, 7], min=0.4, max=2.5))
    for s, h in enumerate(hs):
        run.log({"act": h}, step=s * 10)
    run.log({"none": Histogram([np.nan], bins=4)}, step=0)
    # min and max not known: the bands span the filled buckets
    run.log({"raw": Histogram.from_counts([0.0, 1.0, 2.0, 3.0, 4.0], [0, 2, 3, 0])}, step=0)
    run.finish()
    df = Store(store_url).distributions(run.id)
    raw = df[df.key == "raw"].iloc[0]
    assert (raw.bp0, raw.bp10000) == (1.0, 3.0) and 1.0 < raw.bp5000 < 3.0
    assert list(df.columns) == ["run_id", "key", "step", "wall_time", *BAND_COLUMNS]
    assert df.loc[df.key == "none", list(BAND_COLUMNS)].isna().all(axis=None)
    for h, row in zip(hs, df[df.key == "act"].itertuples(index=False)):
        proto = HistogramProto(min=h.min, max=h.max, num=h.count, sum=h.sum,
                               bucket_limit=h.edges[1:].tolist(), bucket=h.counts.tolist())
        tb = [v for _, v in compress_histogram_proto(proto)]
        assert list(row[4:]) == pytest.approx(tb, rel=1e-12)


def test_images_round_trip_pixel_for_pixel_and_are_stored_once(store_url: str) -> None:
    grey = RNG.integers(0, 256, (9, 7), dtype=np.uint8)
    rgb = RNG.integers(0, 256, (16, 12, 3), dtype=np.uint8)
    rgba = RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    rgba[::2, :, 3] = 0  # fully transparent pixels keep their colour too
    floats = RNG.random((4, 4, 3))
    a, b = _run(store_url, "a"), _run(store_url, "b")
    a.log({"samples": [Image(grey, caption="grey"), Image(rgb, caption="rgb"),
                       Image(rgba, caption="rgba")], "float": Image(floats)}, step=3)
    a.flush()  # the same image again in later batches, from two runs
    a.log({"samples": [Image(rgb)]}, step=4)
    a.flush()
    b.log({"same": Image(rgb, caption="in run b")}, step=0)
    a.finish()
    b.finish()

    store = Store(store_url)
    df = store.images([a.id, b.id])
    assert tuple(df.columns) == IMAGE_COLUMNS
    assert df[["run_id", "key", "step", "index", "caption"]].values.tolist() == [
        [a.id, "float", 3, 0, None], [a.id, "samples", 3, 0, "grey"],
        [a.id, "samples", 3, 1, "rgb"], [a.id, "samples", 3, 2, "rgba"],
        [a.id, "samples", 4, 0, None], [b.id, "same", 0, 0, "in run b"]]
    expected = [(floats * 255 + 0.5).astype(np.uint8), grey[:, :, None], rgb, rgba, rgb, rgb]
    for row, pixels in zip(df.itertuples(), expected):
        data = store.image_bytes(row.hash)
        assert data is not None and len(data) == row.size
        assert (row.height, row.width, row.channels) == pixels.shape
        assert np.array_equal(decode_image(data, row.channels), pixels)
    assert df.hash.nunique() == 4 and _count(store_url, "blobs") == 4  # rgb stored once
    assert store.image_bytes("0" * 64) is None


@pytest.mark.parametrize("thread", [True, False])
def test_images_encode_on_a_thread_or_inline_alike(sqlite_url: str, thread: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from trackboard.storage.write import image_jobs

    monkeypatch.setattr(image_jobs, "ENCODER_THREAD", thread)
    pixels = [RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(3)]
    run = _run(sqlite_url)
    for step, px in enumerate(pixels):
        run.log({"img": Image(px), "loss": float(step)}, step=step)
    run.finish()
    store = Store(sqlite_url)
    rows = store.images(run.id)
    assert [np.array_equal(decode_image(store.image_bytes(h), 3), px)
            for h, px in zip(rows.hash, pixels)] == [True] * 3


def test_encoded_images_keep_their_bytes(store_url: str) -> None:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(out, "JPEG")
    run = _run(store_url)
    run.log({"photo": Image.from_encoded(out.getvalue(), caption="as taken")}, step=1)
    run.finish()
    store = Store(store_url)
    row = store.images(run.id).iloc[0]
    assert (row.format, row.width, row.height, row.caption) == ("jpeg", 8, 8, "as taken")
    assert store.image_bytes(row.hash) == out.getvalue()


def test_texts_are_kept_per_step_and_the_later_call_wins(store_url: str) -> None:
    run = _run(store_url)
    for step in range(3):
        run.log({"notes": Text(f"step {step} ✓")}, step=step)
    run.flush()  # stored: the later call replaces it in the store, not in a batch
    run.log({"notes": Text("step 1, again")}, step=1)
    run.finish()
    df = Store(store_url).texts(run.id)
    assert tuple(df.columns) == TEXT_COLUMNS
    assert df[["step", "text"]].values.tolist() == [
        [0, "step 0 ✓"], [1, "step 1, again"], [2, "step 2 ✓"]]


def test_later_call_wins_whatever_the_wall_time_or_the_arrival(store_url: str) -> None:
    run = _run(store_url)
    img = [Image(np.full((2, 2), v, np.uint8)) for v in range(5)]
    run.log({"h": Histogram([1.0], bins=1), "strip": img[:3]}, step=5, wall_time=2000.0)
    run.flush()
    # Called later with an older wall time: the later call wins, its wall time is data.
    run.log({"h": Histogram([9.0, 9.0], bins=1), "strip": img[:2]}, step=5, wall_time=1000.0)
    run.flush()
    mid = Store(store_url)
    assert mid.histograms(run.id)[["count", "wall_time"]].values.tolist() == [[2.0, 1000.0]]
    assert mid.images(run.id)["index"].tolist() == [0, 1]
    assert (mid.images(run.id).wall_time == 1000.0).all()
    # Called earlier, delivered later (as a spool file replayed after newer records
    # brings it), and a longer strip: none of it lands, not even the images the newer
    # strip lacks.
    early = time.time() - 3600
    for key, value in (("h", Histogram([7.0] * 3, bins=1)), ("strip", img[:5])):
        for rec in media_records(run.id, 5, early, key, value):
            run._writer.submit(rec)
    run.flush()
    late = Store(store_url)
    assert late.histograms(run.id)["count"].tolist() == [2.0]
    assert late.images(run.id)["index"].tolist() == [0, 1]
    # A later strip replaces the older one as a whole, also when it is shorter.
    run.log({"strip": img[3:4]}, step=5, wall_time=3000.0)
    run.finish()
    df = Store(store_url).images(run.id)
    assert df["index"].tolist() == [0] and (df.wall_time == 3000.0).all()
    assert Store(store_url).media_keys(run.id, "image")["count"].tolist() == [1]


def test_purge_removes_media_logged_before_it(store_url: str) -> None:
    run = _run(store_url)
    for step in range(6):
        run.log({"h": Histogram([float(step)]), "img": Image(np.full((2, 2), step, np.uint8)),
                 "t": Text(str(step))}, step=step)
    run.flush()
    run.purge(3)
    run.log({"h": Histogram([30.0]), "img": Image(np.full((2, 2), 30, np.uint8)),
             "t": Text("3 again")})
    run.finish()
    store = Store(store_url)
    assert store.histograms(run.id)["max"].tolist() == [0.0, 1.0, 2.0, 30.0]
    assert store.texts(run.id)["text"].tolist() == ["0", "1", "2", "3 again"]
    assert store.images(run.id)["step"].tolist() == [0, 1, 2, 3]
    assert _count(store_url, "blobs") == 4  # the purged images' blobs went with them
    keys = store.media_keys(run.id)
    assert keys[["key", "count", "first_step", "last_step"]].values.tolist() == [
        ["h", 4, 0, 3], ["img", 4, 0, 3], ["t", 4, 0, 3]]


def test_deleting_a_run_removes_its_media_and_the_blobs_only_it_used(store_url: str) -> None:
    shared = np.full((3, 3, 3), 7, np.uint8)
    a, b = _run(store_url, "a"), _run(store_url, "b")
    a.log({"img": [Image(shared), Image(np.zeros((3, 3), np.uint8))],
           "h": Histogram([1.0]), "t": Text("a")}, step=0)
    b.log({"img": Image(shared), "h": Histogram([2.0])}, step=0)
    a.finish()
    b.finish()
    store = Store(store_url)
    assert _count(store_url, "blobs") == 2
    store.delete_run(a.id)
    assert store.media_keys(a.id).empty and store.images(a.id).empty
    assert store.histograms(b.id)["max"].tolist() == [2.0]
    assert _count(store_url, "blobs") == 1
    assert store.image_bytes(store.images(b.id).hash[0]) is not None
    store.delete_run(b.id)
    for table in ("media_series", "histograms", "images", "texts", "blobs"):
        assert _count(store_url, table) == 0, table


def test_read_api_selects_keys_and_steps(store_url: str) -> None:
    a, b = _run(store_url, "a"), _run(store_url, "b")
    for step in range(0, 100, 10):
        a.log({"w/fc1": Histogram([step]), "w/fc2": Histogram([-step])}, step=step)
        if step % 20 == 0:
            b.log({"w/fc1": Histogram([step]), "img": Image(np.zeros((2, 2), np.uint8))},
                  step=step)
    a.finish()
    b.finish()
    store = Store(store_url)
    keys = store.media_keys([b.id, a.id])
    assert keys[["run_id", "kind", "key", "count", "first_step", "last_step"]].values.tolist() == [
        [b.id, "histogram", "w/fc1", 5, 0, 80], [b.id, "image", "img", 5, 0, 80],
        [a.id, "histogram", "w/fc1", 10, 0, 90], [a.id, "histogram", "w/fc2", 10, 0, 90]]
    assert store.media_keys(a.id, "image").empty
    with pytest.raises(ValueError, match="kind='images'"):
        store.media_keys(a.id, "images")
    steps = store.media_steps([a.id, b.id], "w/fc1", "histogram")
    assert steps.groupby("run_id", sort=False).step.apply(list).to_dict() == {
        a.id: list(range(0, 100, 10)), b.id: [0, 20, 40, 60, 80]}
    h = store.histograms([a.id], keys=["w/fc2"], steps=[20, 30, 35])
    assert h[["key", "step"]].values.tolist() == [["w/fc2", 20], ["w/fc2", 30]]
    assert store.histograms(a.id, keys=["w/fc1"], step_range=(25, 60)).step.tolist() == [
        30, 40, 50, 60]
    assert store.histograms(a.id, keys=["w/fc1"], max_steps=4).step.tolist() == [0, 30, 60, 90]
    assert store.distributions(a.id, keys=["w/fc1"], max_steps=2).step.tolist() == [0, 90]
    assert store.images(b.id, steps=[40]).step.tolist() == [40]
    assert store.histograms(a.id, keys=[]).empty and store.images([]).empty
    assert isinstance(store.texts(a.id), pd.DataFrame) and store.texts(a.id).empty
    with pytest.raises(ValueError, match="max_steps"):
        store.histograms(a.id, max_steps=0)


def test_a_resumed_run_goes_on_after_its_last_media_step(store_url: str) -> None:
    with Run(id="media-only", store=store_url, system_metrics=False) as run:
        for step in range(5):
            run.log({"notes": Text(str(step)), "h": Histogram([step])}, step=step)
    again = Run(id="media-only", store=store_url, system_metrics=False)
    assert again.resumed and again.step == 5
    again.log({"notes": Text("after the resume")})
    again.finish()
    assert Store(store_url).texts("media-only").text.tolist()[-2:] == ["4", "after the resume"]


def test_bands_match_tensorboard_on_awkward_histograms() -> None:
    from tensorboard.compat.proto.summary_pb2 import HistogramProto
    from tensorboard.plugins.distribution.compressor import compress_histogram_proto
    from trackboard.storage.media.histograms import percentile_bands_many

    rng = np.random.default_rng(21)
    cases = []
    for n in (1, 2, 5, 64):
        for _ in range(30):
            counts = rng.integers(0, 4, n) * rng.integers(0, 2, n)  # many empty buckets
            edges = np.cumsum(rng.random(n + 1) + 0.01) - 3.0
            lo = edges[0] + rng.random() * (edges[1] - edges[0])
            hi = edges[-1] - rng.random() * (edges[-1] - edges[-2])
            cases.append((edges, counts.astype(float), lo, hi))
    got = percentile_bands_many([c[0] for c in cases], [c[1] for c in cases],
                                [c[2] for c in cases], [c[3] for c in cases])
    for (edges, counts, lo, hi), row in zip(cases, got):
        if not counts.sum():
            assert np.isnan(row).all()
            continue
        proto = HistogramProto(min=lo, max=hi, num=counts.sum(), bucket_limit=edges[1:],
                               bucket=counts)
        assert row.tolist() == [v for _, v in compress_histogram_proto(proto)]
