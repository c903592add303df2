"""torch's own SummaryWriter tests, as behaviours of our drop-in.

pytorch/pytorch `test/test_tensorboard.py` tests the writer in 17 tests; the rest
of that file checks protos built by `torch.utils.tensorboard.summary` and helpers
(make_np, convert_to_HWC, _prepare_video), not a writer. Each test here names the
torch test whose behaviour it checks (our own code, against a real SQLite store;
torch's test asserts little beyond "does not raise", so these also assert what
our store holds). torchvision is not installed, so test_torchvision_smoke (16
more add_graph calls) is left out: 16 behaviours.

Result: 16 of 16 with `tensorboard=True`; 14 of 16 without it. The two that
differ, deliberately: torch's add_graph traces the model and so raises the
tracer's RuntimeError for a model whose input does not fit; we store no graphs
and do not trace (add_graph warns once), unless the tee is on (README, PyTorch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from trackboard.loggers.torch import SummaryWriter
from trackboard.storage import Store

from tests.support.loggers import run_info, series, texts

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:trackboard stores scalars")]


@pytest.fixture
def make_writer(sqlite_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """torch's createSummaryWriter: a writer on a fresh directory (and our store)."""
    count = iter(range(1000))

    def make(tensorboard: bool = False) -> SummaryWriter:
        return SummaryWriter(str(tmp_path / f"test_tensorboard{next(count)}"),
                             project="conformance", store=sqlite_url, tensorboard=tensorboard)
    return make


def test_pytorch_write(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    value = torch.autograd.Variable(torch.rand(1))
    with make_writer() as w:
        w.add_scalar("scalar", value, 0)
    assert series(sqlite_url, w.run.id) == {"scalar": [(0, pytest.approx(value.item()))]}


def test_pytorch_histogram(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    ints = torch.randint(0, 100, (50,))
    with make_writer() as w:
        w.add_histogram("float histogram", torch.rand((50,)))
        w.add_histogram("int histogram", ints)
        w.add_histogram("bfloat16 histogram", torch.rand(50, dtype=torch.bfloat16))
    with Store(sqlite_url) as store:
        stored = store.histograms(w.run.id).set_index("key")
    assert stored["count"].to_dict() == {"bfloat16 histogram": 50, "float histogram": 50,
                                         "int histogram": 50}
    assert stored.loc["int histogram", ["min", "max"]].tolist() == [ints.min(), ints.max()]


def test_pytorch_histogram_raw(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    values = np.random.default_rng(0).random(50)
    counts, limits = np.histogram(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    with make_writer() as w:
        w.add_histogram_raw("float histogram raw", min=values.min(), max=values.max(), num=50,
                            sum=values.sum(), sum_squares=values.dot(values),
                            bucket_limits=limits[1:].tolist(), bucket_counts=counts.tolist())
    assert w.file_writer is None  # closed cleanly
    with Store(sqlite_url) as store:
        (h,) = store.histograms(w.run.id).itertuples()
    # TensorBoard's reading: the first bucket from min, the last to max.
    assert h.edges.tolist() == [values.min(), 0.25, 0.5, 0.75, values.max()]
    assert h.counts.tolist() == counts.tolist() and h.count == 50


def test_writer(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    """Every add_* of torch's big writer test in one run: what we hold is stored
    (scalars, images, text, histograms), the rest is accepted with a warning."""
    n_iter = 3
    with make_writer() as writer:
        writer.add_hparams({"lr": 0.1, "bsize": 1}, {"hparam/accuracy": 10, "hparam/loss": 10})
        writer.add_scalar("data/scalar_systemtime", 0.1, n_iter)
        writer.add_scalar("data/scalar_customtime", 0.2, n_iter, walltime=n_iter)
        writer.add_scalar("data/new_style", 0.2, n_iter, new_style=True)
        writer.add_scalars("data/scalar_group", {"xsinx": n_iter * np.sin(n_iter),
                                                 "xcosx": n_iter * np.cos(n_iter),
                                                 "arctanx": np.arctan(n_iter)}, n_iter)
        writer.add_images("Image", np.zeros((32, 3, 64, 64)), n_iter)
        writer.add_image_with_boxes("imagebox", np.zeros((3, 64, 64)),
                                    np.array([[10, 10, 40, 40], [40, 40, 60, 60]]), n_iter)
        writer.add_audio("myAudio", np.zeros(44100 * 2), n_iter)
        writer.add_video("myVideo", np.random.rand(16, 48, 1, 28, 28).astype(np.float32), n_iter)
        writer.add_text("Text", "text logged at step:" + str(n_iter), n_iter)
        writer.add_text("markdown Text", "a|b\n-|-\nc|d", n_iter)
        writer.add_histogram("hist", np.random.rand(100, 100), n_iter)
        writer.add_pr_curve("xoxo", np.random.randint(2, size=100), np.random.rand(100), n_iter)
        writer.add_pr_curve_raw("prcurve with raw data", [75, 64, 21, 5, 0], [150, 105, 18, 0, 0],
                                [0, 45, 132, 150, 150], [0, 11, 54, 70, 75],
                                [0.33, 0.38, 0.54, 1.0, 0.0], [1.0, 0.85, 0.28, 0.07, 0.0], n_iter)
        writer.add_mesh("my_mesh", vertices=np.ones((1, 4, 3)),
                        colors=np.zeros((1, 4, 3), dtype=int), faces=np.zeros((1, 4, 3), dtype=int))
        main_id = writer.run.id

    stored = series(sqlite_url, main_id)
    assert stored == {
        "data/scalar_systemtime": [(3, 0.1)], "data/scalar_customtime": [(3, 0.2)],
        "data/new_style": [(3, 0.2)],
        "data/scalar_group/xsinx": [(3, pytest.approx(3 * np.sin(3)))],
        "data/scalar_group/xcosx": [(3, pytest.approx(3 * np.cos(3)))],
        "data/scalar_group/arctanx": [(3, pytest.approx(np.arctan(3)))]}
    with Store(sqlite_url) as store:
        custom = store.history([main_id], keys=["data/scalar_customtime"])
        runs = store.runs("conformance")
    assert custom["wall_time"].tolist() == [3.0]  # walltime=n_iter, as given
    assert texts(sqlite_url, main_id) == {"Text": [(3, "text logged at step:3")],
                                          "markdown Text": [(3, "a|b\n-|-\nc|d")]}
    with Store(sqlite_url) as store:
        media = store.media_keys(main_id)
    assert media[["kind", "key", "count", "first_step"]].values.tolist() == [
        ["histogram", "hist", 1, 3], ["image", "Image", 1, 3],
        ["text", "Text", 1, 3], ["text", "markdown Text", 1, 3]]
    with Store(sqlite_url) as store:
        assert len(store.images(main_id)) == 32  # add_images: a strip of the batch
    (trial,) = runs.loc[runs["tags.parent"] == main_id, "id"]
    assert run_info(sqlite_url, trial)["params"] == {"lr": 0.1, "bsize": 1}
    assert series(sqlite_url, trial) == {"hparam/accuracy": [(0, 10.0)],
                                         "hparam/loss": [(0, 10.0)]}


def test_summary_writer_ctx(make_writer) -> None:  # type: ignore[no-untyped-def]
    with make_writer() as writer:
        writer.add_scalar("test", 1)
        assert writer.file_writer is not None
    assert writer.file_writer is None


def test_summary_writer_close(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(20):  # opening and closing many writers leaks nothing
        writer = make_writer()
        writer.close()
        ids.append(writer.run.id)
    with Store(sqlite_url) as store:
        assert set(store.runs("conformance")["status"]) == {"finished"}
    assert len(set(ids)) == 20


def test_pathlib(sqlite_url: str, tmp_path: Path) -> None:
    with SummaryWriter(tmp_path / "test_tensorboard_pathlib", project="conformance",
                       store=sqlite_url) as writer:
        writer.add_scalar("test", 1)
    assert Path(writer.log_dir).is_dir()
    assert series(sqlite_url, writer.run.id) == {"test": [(0, 1.0)]}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64],
                         ids=["test_embedding", "test_embedding_64"])
def test_embedding(make_writer, dtype: torch.dtype) -> None:  # type: ignore[no-untyped-def]
    features = torch.tensor([[1.0, 2.0, 3.0], [5.0, 4.0, 1.0], [3.0, 7.0, 7.0]])
    labels = torch.tensor([33.0, 44.0, 55.0])
    images = torch.zeros((3, 3, 5, 5), dtype=dtype)
    w = make_writer()
    with pytest.warns(UserWarning, match=r"add_embedding\(\) is ignored"):
        w.add_embedding(features, metadata=labels, label_img=images, global_step=2)
    w.add_embedding(features, metadata=list(zip(labels, ["test"] * 2 + ["train"] * 2)),
                    label_img=images, metadata_header=["digit", "dataset"], global_step=2)
    w.close()


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l = torch.nn.Linear(3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l(x)


class _DictOut(_Linear):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"out": self.l(x)}


@pytest.mark.parametrize("tensorboard", [False, True], ids=["store", "tee"])
def test_pytorch_graph(make_writer, tensorboard: bool) -> None:  # type: ignore[no-untyped-def]
    with make_writer(tensorboard) as w:
        w.add_graph(_Linear(), (torch.zeros(1, 3),))
    assert any(Path(w.log_dir).iterdir()) is tensorboard  # only the tee writes the graph


def test_nested_nn_squential(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    inner = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 3)) for _ in range(2)]
    with pytest.warns(UserWarning, match=r"add_graph\(\) is ignored") as warned, \
            make_writer() as w:
        w.add_graph(torch.nn.Sequential(*inner), torch.randn(2, 3))
        w.add_graph(torch.nn.Sequential(*inner), torch.randn(2, 3))
    # Warned once per writer, not per call; nothing written beside the store, and the
    # run holds no points and finished cleanly.
    assert sum("add_graph" in str(x.message) for x in warned) == 1
    assert not any(Path(w.log_dir).iterdir())
    assert series(sqlite_url, w.run.id) == {}
    assert run_info(sqlite_url, w.run.id)["status"] == "finished"


@pytest.mark.parametrize("tensorboard", [False, True], ids=["store", "tee"])
def test_pytorch_graph_dict_input(make_writer, tensorboard: bool) -> None:  # type: ignore[no-untyped-def]
    for model, strict in ((_Linear(), None), (_Linear(), True), (_DictOut(), False)):
        with make_writer(tensorboard) as w:
            kwargs = {} if strict is None else {"use_strict_trace": strict}
            w.add_graph(model, torch.zeros(1, 3), **kwargs)
    if tensorboard:  # torch's tracer refuses a dict output in strict mode
        with pytest.raises(RuntimeError), make_writer(tensorboard) as w:
            w.add_graph(_DictOut(), torch.zeros(1, 3), use_strict_trace=True)
    else:  # deliberate difference: no tracing, so nothing to refuse
        with make_writer(tensorboard) as w:
            w.add_graph(_DictOut(), torch.zeros(1, 3), use_strict_trace=True)
        assert w.run.finished and not any(Path(w.log_dir).iterdir())


@pytest.mark.parametrize("tensorboard", [False, True], ids=["store", "tee"])
def test_mlp_graph(make_writer, sqlite_url: str, tensorboard: bool) -> None:  # type: ignore[no-untyped-def]
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 10))
    calls = []
    mlp.register_forward_hook(lambda *_: calls.append(1))
    with make_writer(tensorboard) as w:
        w.add_graph(mlp, (torch.zeros(2, 1, 28, 28),))
    # The deliberate difference: without the tee the model is never run (no tracing);
    # with it, torch traces it and writes the graph.
    assert bool(calls) is tensorboard
    assert any(Path(w.log_dir).iterdir()) is tensorboard
    assert run_info(sqlite_url, w.run.id)["status"] == "finished"


@pytest.mark.parametrize("tensorboard", [False, True], ids=["store", "tee"])
def test_wrong_input_size(make_writer, sqlite_url: str, tensorboard: bool) -> None:  # type: ignore[no-untyped-def]
    if tensorboard:
        with pytest.raises(RuntimeError), make_writer(tensorboard) as w:
            w.add_graph(torch.nn.Linear(3, 5), torch.rand(1, 9))
        assert run_info(sqlite_url, w.run.id)["status"] == "failed"
    else:  # deliberate difference: the model is not traced
        with make_writer(tensorboard) as w:
            w.add_graph(torch.nn.Linear(3, 5), torch.rand(1, 9))
        assert run_info(sqlite_url, w.run.id)["status"] == "finished"


def _figure_images(store_url: str, run_id: str) -> list[tuple[int, int, int]]:
    with Store(store_url) as store:
        return store.images(run_id)[["step", "index", "channels"]].values.tolist()


def test_figure(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    writer = make_writer()
    figure, axes = plt.figure(), plt.gca()
    axes.add_patch(plt.Circle((0.2, 0.5), 0.2, color="r"))
    writer.add_figure("add_figure/figure", figure, 0, close=False)
    assert plt.fignum_exists(figure.number)
    writer.add_figure("add_figure/figure", figure, 1)
    assert not plt.fignum_exists(figure.number)
    writer.close()
    assert _figure_images(sqlite_url, writer.run.id) == [[0, 0, 3], [1, 0, 3]]  # RGB


def test_figure_list(make_writer, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    writer = make_writer()
    figures = []
    for i in range(5):
        figure = plt.figure()
        plt.plot([i * 1, i * 2, i * 3], label="Plot " + str(i))
        figures.append(figure)
    writer.add_figure("add_figure/figure_list", figures, 0, close=False)
    assert all(plt.fignum_exists(f.number) for f in figures)
    writer.add_figure("add_figure/figure_list", figures, 1)
    assert not any(plt.fignum_exists(f.number) for f in figures)
    writer.close()
    # A list is the step's strip, one image per figure (TensorBoard draws one grid).
    assert _figure_images(sqlite_url, writer.run.id) == [
        [step, i, 3] for step in (0, 1) for i in range(5)]
