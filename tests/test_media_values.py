"""Histogram, Image and Text on the caller's side: what they count and copy, and the
ValueError bad input gets at the call (issue 20, item 1)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from trackboard.loggers import Histogram, Image, Run, Text
from trackboard.storage import Store
from trackboard.storage.media.limits import MAX_BUCKETS, MAX_IMAGE_BYTES

# -- histograms --------------------------------------------------------------------


def test_histogram_counts_every_value_and_nonfinite_apart() -> None:
    values = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, np.nan, np.nan, np.inf, -np.inf])
    h = Histogram(values, bins=4)
    assert h.edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert h.counts.tolist() == [2.0, 2.0, 1.0, 2.0]  # the maximum is in the last bucket
    assert (h.nan_count, h.posinf_count, h.neginf_count) == (2, 1, 1)
    assert h.count == len(values)
    assert (h.min, h.max, h.sum) == (0.0, 4.0, 12.0)
    assert h.sum_squares == pytest.approx(0.25 + 1 + 2.25 + 4 + 9 + 16)


def test_histogram_matches_numpy_away_from_edges() -> None:
    rng = np.random.default_rng(1)
    # Values at bucket centres only: float rounding cannot move one across an edge.
    centres = rng.integers(0, 64, 100_000) + 0.5
    values = np.r_[centres, 0.0, 64.0]
    h = Histogram(values, bins=64)
    ref, edges = np.histogram(values, bins=64, range=(0.0, 64.0))
    assert h.edges.tolist() == edges.tolist()
    assert h.counts.tolist() == ref.astype(float).tolist()


def test_histogram_takes_sequences_ints_and_float32() -> None:
    assert Histogram([1, 2, 2, 3], bins=2).counts.tolist() == [1.0, 3.0]
    h32 = Histogram(np.arange(10, dtype=np.float32), bins=5)
    assert h32.counts.tolist() == [2.0] * 5 and h32.sum == 45.0


def test_histogram_of_one_value_and_of_no_finite_value() -> None:
    one = Histogram(np.full(7, 2.0), bins=3)
    assert one.edges[0] == 1.5 and one.edges[-1] == 2.5 and one.counts.sum() == 7
    none = Histogram([np.nan, np.inf], bins=8)
    assert len(none.edges) == 0 and len(none.counts) == 0
    assert (none.count, none.nan_count, none.posinf_count, none.min) == (2.0, 1, 1, None)


def test_histogram_across_the_whole_float64_range() -> None:
    h = Histogram([-1.7e308, 0.0, 1.7e308], bins=2)
    assert np.isfinite(h.edges).all() and h.counts.tolist() == [1.0, 2.0]


@pytest.mark.parametrize(("values", "bins", "message"), [
    ([], 64, "no values"),
    ([True, False], 64, "booleans"),
    (np.array([1 + 2j]), 64, "complex"),
    (["a", "b"], 64, "numbers"),
    ([[1.0], [2.0, 3.0]], 64, "cannot read"),
    ([1.0, 2.0], 0, "at least 1"),
    ([1.0, 2.0], MAX_BUCKETS + 1, "more than 10000 buckets"),
    ([1.0, 2.0], 2.5, "whole number"),
])
def test_histogram_refuses_bad_input(values: object, bins: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Histogram(values, bins=bins)  # type: ignore[arg-type]


def test_histogram_from_counts() -> None:
    h = Histogram.from_counts([0.0, 1.0, 3.0], [2, 0.5], max=2.5, nan_count=3)
    assert h.edges.tolist() == [0.0, 1.0, 3.0] and h.counts.tolist() == [2.0, 0.5]
    assert (h.count, h.nan_count, h.min, h.max) == (5.5, 3, None, 2.5)
    for edges, counts, message in [([0, 1], [1, 2], "one edge more"),
                                   ([0, 2, 1], [1, 1], "increasing"),
                                   ([0, 1, np.inf], [1, 1], "finite"),
                                   ([0, 1, 2], [1, -1], "not negative"),
                                   (np.arange(MAX_BUCKETS + 2), np.ones(MAX_BUCKETS + 1),
                                    "more than 10000")]:
        with pytest.raises(ValueError, match=message):
            Histogram.from_counts(edges, counts)
    with pytest.raises(ValueError, match="nan_count"):
        Histogram.from_counts([0, 1], [1], nan_count=-1)


# -- images --------------------------------------------------------------------------


def _pixels(img: Image) -> np.ndarray:
    return np.frombuffer(img.data, np.uint8).reshape(img.height, img.width, img.channels)


def test_image_layouts_and_dtypes() -> None:
    rng = np.random.default_rng(2)
    hwc = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert (_pixels(Image(hwc)) == hwc).all()
    assert (_pixels(Image(hwc.transpose(2, 0, 1))) == hwc).all()  # CHW
    grey = hwc[:, :, 0]
    img = Image(grey)
    assert (img.height, img.width, img.channels) == (5, 7, 1)
    assert (_pixels(img)[:, :, 0] == grey).all()
    levels = np.maximum(hwc, 1)
    floats = (levels - 0.4) / 255.0
    assert (_pixels(Image(floats)) == levels).all()  # rounded to the nearest level
    assert (_pixels(Image(hwc.astype(np.int64))) == hwc).all()
    rgba = rng.integers(0, 256, (3, 3, 4), dtype=np.uint8)
    # 3 x 3 x 4 could be CHW with 3 channels; layout= settles it.
    assert Image(rgba, layout="HWC").channels == 4
    assert Image(rgba).channels == 4  # the last axis first


@pytest.mark.parametrize(("data", "message"), [
    (np.full((4, 4, 3), 1.5), r"values in \[0, 1\]"),
    (np.full((4, 4, 3), np.nan), r"values in \[0, 1\]"),
    (np.full((4, 4, 3), 300, np.int32), "0 to 255"),
    (np.zeros((4, 4), bool), "boolean"),
    (np.zeros((2, 4, 4, 3), np.uint8), "batch of images"),
    (np.zeros((5, 5, 2), np.uint8), "no axis of 1, 3 or 4"),
    (np.zeros((4,), np.uint8), "2 or 3 dimensions"),
    (np.zeros((0, 4), np.uint8), "empty"),
    (np.zeros((2400, 2400, 3), np.uint8), "over the limit of 16777216"),
    ("a path.png", "2 or 3 dimensions"),
])
def test_image_refuses_bad_input(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Image(data)


def test_image_size_limit_is_16_mib_of_pixels() -> None:
    side = int((MAX_IMAGE_BYTES // 4) ** 0.5)
    assert Image(np.zeros((side, side, 4), np.uint8)).height == side
    with pytest.raises(ValueError, match="16 MiB"):
        Image(np.zeros((side + 1, side, 4), np.uint8))


def test_image_copies_the_pixels_at_the_call() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    img = Image(a)
    a[:] = 255
    assert not _pixels(img).any()


def test_pil_images_in_every_common_mode() -> None:
    from PIL import Image as PILImage

    rgb = PILImage.new("RGB", (6, 4), (10, 20, 30))
    img = Image(rgb, caption="pil")
    assert (img.height, img.width, img.channels, img.caption) == (4, 6, 3, "pil")
    assert _pixels(img)[0, 0].tolist() == [10, 20, 30]
    assert Image(PILImage.new("LA", (2, 2))).channels == 4
    assert Image(PILImage.new("1", (2, 2))).channels == 1
    assert Image(PILImage.new("P", (2, 2))).channels == 3
    with pytest.raises(ValueError, match="16-bit or float"):
        Image(PILImage.new("I;16", (2, 2)))


def test_encoded_files_are_kept_as_they_are() -> None:
    from PIL import Image as PILImage

    out = io.BytesIO()
    PILImage.new("RGB", (5, 3), (1, 2, 3)).save(out, "JPEG")
    img = Image.from_encoded(out.getvalue(), caption="jpeg")
    assert (img.format, img.width, img.height, img.channels) == ("jpeg", 5, 3, 3)
    assert img.data == out.getvalue()
    with pytest.raises(ValueError, match="not a PNG, JPEG, WebP or GIF"):
        Image.from_encoded(b"GIF89" + b"\x00" * 3)
    with pytest.raises(ValueError, match="not an image file Pillow can read"):
        Image.from_encoded(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)


def test_captions_and_texts_are_storable_text() -> None:
    assert Text("épisode 3 ✓").text == "épisode 3 ✓"
    with pytest.raises(ValueError, match="NUL"):
        Text("a\x00b")
    with pytest.raises(ValueError, match="takes a str"):
        Text(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1 MiB"):
        Text("x" * (2**20 + 1))
    with pytest.raises(ValueError, match="caption must be a str"):
        Image(np.zeros((2, 2), np.uint8), caption=3)  # type: ignore[arg-type]


# -- Run.log -------------------------------------------------------------------------


def test_a_bad_value_anywhere_in_the_call_logs_nothing(sqlite_url: str) -> None:
    run = Run(store=sqlite_url, system_metrics=False)
    img = Image(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="strip holds Images only"):
        run.log({"loss": 0.5, "h": Histogram([1.0]), "strip": [img, np.zeros((2, 2))]}, step=0)
    with pytest.raises(ValueError, match="metric 'bad'"):
        run.log({"img": img, "bad": "text"}, step=0)
    with pytest.raises(ValueError, match="metric 'raw'"):
        run.log({"raw": [1.0, 2.0]}, step=0)  # a list of numbers is no histogram
    run.log({"loss": 0.25, "h": Histogram([1.0, 2.0], bins=2), "img": img, "t": Text("x")},
            step=1)
    run.finish()
    store = Store(sqlite_url)
    assert store.history([run.id])[["key", "step", "value"]].values.tolist() == [
        ["loss", 1, 0.25]]
    assert store.media_keys(run.id)[["kind", "key", "first_step"]].values.tolist() == [
        ["histogram", "h", 1], ["image", "img", 1], ["text", "t", 1]]


# -- tensors of every framework, figures (frameworks are slow to import) ----------------


@pytest.mark.slow
def test_torch_tensors_are_counted_like_numpy_arrays() -> None:
    import torch

    t = torch.randn(100_003, generator=torch.Generator().manual_seed(3))
    t[::1000] = float("nan")
    t[1::5000] = float("inf")
    t[2::7000] = -float("inf")
    for bins in (64, 1000):  # uint8 and int16 bucket indexes
        ht, hn = Histogram(t, bins=bins), Histogram(t.numpy(), bins=bins)
        assert ht.edges.tolist() == hn.edges.tolist()
        assert np.abs(ht.counts - hn.counts).sum() <= 2  # float32 rounding at an edge
        assert ht.counts.sum() == hn.counts.sum() == 100_003 - 101 - 21 - 15
        assert (ht.nan_count, ht.posinf_count, ht.neginf_count) == (101, 21, 15)
        assert ht.sum == pytest.approx(hn.sum)
    grad = torch.ones(10, requires_grad=True) * 2
    assert Histogram(grad, bins=2).counts.tolist() == [0.0, 10.0]
    assert Histogram(torch.arange(6), bins=3).counts.tolist() == [2.0, 2.0, 2.0]
    assert Histogram(torch.ones(4, dtype=torch.float16), bins=1).counts.tolist() == [4.0]
    with pytest.raises(ValueError, match="booleans"):
        Histogram(torch.ones(3, dtype=torch.bool))
    img = torch.rand(3, 8, 5)  # CHW, float in [0, 1]
    got = Image(img)
    assert (got.height, got.width, got.channels) == (8, 5, 3)
    assert (_pixels(got) == (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)).all()


@pytest.mark.slow
def test_jax_and_tensorflow_tensors() -> None:
    import jax.numpy as jnp
    import tensorflow as tf

    for values in (jnp.arange(10.0), tf.range(10.0)):
        assert Histogram(values, bins=5).counts.tolist() == [2.0] * 5
    assert Image(jnp.zeros((4, 6, 3))).width == 6
    assert Image(tf.zeros((4, 6, 1), dtype=tf.uint8)).channels == 1


@pytest.mark.slow
def test_a_matplotlib_figure_is_drawn_at_the_call() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([0, 1], [0, 1])
    img = Image(fig, caption="curve")
    plt.close(fig)
    assert (img.width, img.height, img.channels) == (100, 50, 4)
    assert _pixels(img)[..., 3].min() == 255  # an opaque figure


@pytest.mark.slow
def test_logging_media_imports_no_framework_and_no_pillow_in_the_caller() -> None:
    import subprocess
    import sys

    probe = ("import sys, numpy as np\n"
             "from trackboard.loggers import Histogram, Image, Text\n"
             "Histogram(np.arange(10.0)); Image(np.zeros((2, 2, 3), np.uint8)); Text('x')\n"
             "print(sorted(m for m in ('torch', 'jax', 'tensorflow', 'PIL', 'matplotlib') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
