"""Media through the framework adapters, in real trainings: Keras' histogram_freq on
every backend beside Keras' own TensorBoard callback, Lightning's log_image,
log_histogram and logger.experiment through a real Trainer, and clu's writers beside
clu's own TensorBoard writer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trackboard.storage import Store
from trackboard.storage.media.images import decode_image

from tests.support.loggers import last_json, run_python, texts

pytestmark = pytest.mark.slow  # needs a framework

KERAS = r"""
import json, sys, warnings
import numpy as np
import keras
from trackboard.loggers.keras import TrackboardCallback
from trackboard.storage import Store
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

store, logdir = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] > 0).astype("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.BatchNormalization(),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy")
ours = TrackboardCallback(project="keras-media", store=store, histogram_freq=2)
model.fit(x, y, epochs=3, batch_size=16, verbose=0,
          callbacks=[ours, keras.callbacks.TensorBoard(logdir, histogram_freq=2)])

events = EventAccumulator(logdir + "/train", size_guidance={"tensors": 0}).Reload()
theirs = {tag: [(e.step, make_ndarray(e.tensor_proto).tolist()) for e in events.Tensors(tag)]
          for tag in events.Tags()["tensors"] if tag.endswith("/histogram")}
stored = Store(store).histograms(ours.run.id)
mine = {key: [(int(r.step), np.column_stack([r.edges[:-1], r.edges[1:], r.counts]).tolist())
              for r in rows.itertuples()] for key, rows in stored.groupby("key")}

# A weight that cannot be a histogram (booleans) warns once and costs no other its place.
class Flagged(keras.layers.Layer):
    def build(self, shape):
        self.flag = self.add_weight(shape=(2,), dtype="bool", trainable=False,
                                    initializer="zeros", name="flag")
    def call(self, inputs):
        return inputs
flagged = keras.Sequential([keras.Input((4,)), Flagged(name="flagged"),
                           keras.layers.Dense(1, name="out")], name="odd")
flagged.compile(optimizer="sgd", loss="mse")
odd = TrackboardCallback(project="keras-media", store=store, histogram_freq=1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    flagged.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[odd])
odd_stored = Store(store).histograms(odd.run.id)
try:
    TrackboardCallback(histogram_freq=-1)
    refused = None
except ValueError as exc:
    refused = str(exc)
print(json.dumps({"theirs": theirs, "mine": mine, "steps_per_epoch": 4,
                  "odd_keys": sorted(set(odd_stored.key)),
                  "odd_steps": sorted(set(odd_stored.step.tolist())),
                  "odd_metrics": sorted(Store(store).history([odd.run.id]).key.unique()),
                  "warnings": [str(w.message) for w in caught if "histogram" in str(w.message)],
                  "refused": refused}))
"""


@pytest.mark.parametrize("backend", ["torch", "jax", "tensorflow"])
def test_keras_histogram_freq_names_and_buckets_as_keras_tensorboard(
        backend: str, sqlite_url: str, tmp_path: Path) -> None:
    got = last_json(run_python(KERAS, sqlite_url, str(tmp_path / "tb"),
                               env={"KERAS_BACKEND": backend})[1])
    theirs, mine = got["theirs"], got["mine"]
    assert sorted(mine) == sorted(theirs) and len(mine) == 8  # Keras' names, every weight
    assert "sequential/dense/kernel/histogram" in mine
    for key, logged in theirs.items():
        # Keras' callback writes at the epoch (0, 2); trackboard at the updates done.
        assert [s for s, _ in logged] == [0, 2]
        assert [s for s, _ in mine[key]] == [4, 12]
        for (_, tb), (_, ours) in zip(logged, mine[key]):
            tb, ours = np.asarray(tb), np.asarray(ours)
            assert tb.shape == ours.shape == (30, 3), key  # tf.summary.histogram's 30
            assert ours[:, 2].sum() == tb[:, 2].sum()
            if tb[0, 0] == tb[-1, 1]:  # one value: TF's buckets have no width, ours +-0.5
                assert ours[0, 0] == tb[0, 0] - 0.5 and ours[-1, 1] == tb[0, 0] + 0.5
            else:  # bucket for bucket
                assert ours[:, :2] == pytest.approx(tb[:, :2], rel=1e-6, abs=1e-7), key
                assert ours[:, 2].tolist() == tb[:, 2].tolist(), key
    assert got["odd_keys"] == ["odd/out/bias/histogram", "odd/out/kernel/histogram"]
    assert got["odd_steps"] == [2, 4] and "loss" in got["odd_metrics"]
    assert len(got["warnings"]) == 1 and "'odd/flagged/flag'" in got["warnings"][0]
    assert "histogram_freq=-1" in got["refused"]


def _lightning_fit(sqlite_url: str, logger: Any = None, epochs: int = 2) -> Any:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from trackboard.loggers.lightning import TrackboardLogger

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, i: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x).squeeze(-1), y)
            self.log("loss", loss)
            return loss

        def on_train_epoch_end(self) -> None:
            # TensorBoardLogger users' code, unchanged
            for name, param in self.named_parameters():
                self.logger.experiment.add_histogram(name, param, self.global_step)
            self.logger.experiment.add_image("first", torch.ones(3, 2, 2) * 0.5,
                                             self.global_step)
            self.logger.experiment.add_text("note", f"epoch {self.current_epoch}")
            # WandbLogger's shape, and our histogram call; the step: the updates done
            self.logger.log_image("samples", [torch.zeros(3, 4, 5), np.full((4, 5), 255,
                                                                            np.uint8)],
                                  caption=["zeros", "white"])
            self.logger.log_histogram("weight", self.net.weight, bins=8)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    logger = logger or TrackboardLogger(project="lightning-media", store=sqlite_url)
    data = TensorDataset(torch.randn(32, 4), torch.randn(32))
    trainer = L.Trainer(max_epochs=epochs, logger=logger, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        log_every_n_steps=1, accelerator="cpu")
    trainer.fit(Module(), DataLoader(data, batch_size=8))
    return logger


def test_lightning_media_through_a_real_trainer(sqlite_url: str) -> None:
    logger = _lightning_fit(sqlite_url)
    run_id = logger.version
    with Store(sqlite_url) as store:
        hist = store.histograms(run_id)
        images = store.images(run_id)
        assert store.run(run_id)["status"] == "finished"
        white = images[(images.key == "samples") & (images["index"] == 1)].iloc[0]
        assert decode_image(store.image_bytes(white.hash), 1).min() == 255
    # 32 examples in batches of 8: 4 updates an epoch, media at 4 and 8
    assert hist.groupby("key")["step"].apply(list).to_dict() == {
        "net.bias": [4, 8], "net.weight": [4, 8], "weight": [4, 8]}
    assert hist.set_index("key").loc["weight", "counts"].map(len).tolist() == [8, 8]
    assert hist.set_index("key").loc["net.weight", "count"].tolist() == [4.0, 4.0]
    samples = images[images.key == "samples"]
    assert samples[["step", "index", "caption", "channels"]].values.tolist() == [
        [4, 0, "zeros", 3], [4, 1, "white", 1], [8, 0, "zeros", 3], [8, 1, "white", 1]]
    assert images[images.key == "first"]["step"].tolist() == [4, 8]
    assert texts(sqlite_url, run_id) == {"note": [(4, "epoch 0"), (8, "epoch 1")]}
    # the experiment is the Run too
    assert logger.experiment.id == run_id and logger.experiment.name == logger.name


def test_lightning_log_image_refuses_bad_input_and_survives_a_finished_run(
        sqlite_url: str, tmp_path: Path) -> None:
    from PIL import Image as PILImage
    from trackboard.loggers import Run
    from trackboard.loggers.lightning import TrackboardLogger

    run = Run(project="lightning-media", store=sqlite_url, system_metrics=False)
    logger = TrackboardLogger(run=run)
    path = tmp_path / "cat.png"
    PILImage.new("RGB", (3, 2), (10, 20, 30)).save(path)
    logger.log_image("files", [str(path), path], step=1, caption=["str", "Path"])
    with pytest.raises(ValueError, match="takes a list of images"):
        logger.log_image("one", np.zeros((2, 2)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes a list of images, got \\[\\]"):
        logger.log_image("none", [])
    with pytest.raises(ValueError, match="Expected 2 items but only found 1 for caption"):
        logger.log_image("two", [np.zeros((2, 2)), np.zeros((2, 2))], caption=["a"])
    with pytest.raises(ValueError, match="float image must hold values in"):
        logger.log_image("range", [np.full((2, 2), 3.0)])
    with pytest.warns(RuntimeWarning, match=r"log_image\(masks=...\) is not stored"):
        logger.log_image("masked", [np.zeros((2, 2))], step=2, masks=[{"x": 1}])
    run.finish()
    with pytest.warns(RuntimeWarning, match="could not record this"):
        logger.log_histogram("late", np.ones(3), step=3)  # the user's run is finished
    with Store(sqlite_url) as store:
        images = store.images(run.id)
        assert store.histograms(run.id).empty
    assert images[["key", "step", "index", "format", "caption"]].values.tolist() == [
        ["files", 1, 0, "png", "str"], ["files", 1, 1, "png", "Path"],
        ["masked", 2, 0, "png", None]]


def test_clu_images_and_histograms_match_clus_tensorboard_writer(sqlite_url: str,
                                                                 tmp_path: Path) -> None:
    clu = pytest.importorskip("clu.metric_writers")
    from PIL import Image as PILImage
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray
    from trackboard.loggers.jax import MetricWriter

    rng = np.random.default_rng(4)
    images = rng.random((2, 5, 6, 3)).astype(np.float32)
    images[0, 0, 0] = [-0.2, 1.3, 0.999]  # clipped, and TensorFlow's x * 255.5 rule
    grey = rng.integers(0, 256, (4, 3, 1), dtype=np.uint8)
    values = rng.normal(size=500)
    ours = MetricWriter(project="clu-media", store=sqlite_url)
    theirs = clu.SummaryWriter(str(tmp_path / "clu"))
    for writer in (ours, theirs):
        writer.write_images(7, {"batch": images, "grey": grey})
        writer.write_histograms(7, {"values": values}, num_buckets={"values": 12})
        writer.write_histograms(8, {"values": values})  # clu's default: TensorFlow's 30
        writer.flush()
    ours.close()
    events = EventAccumulator(str(tmp_path / "clu"), size_guidance={"tensors": 0}).Reload()

    def tb_images(tag: str) -> list[np.ndarray]:
        (event,) = events.Tensors(tag)
        encoded = make_ndarray(event.tensor_proto)[2:]  # width, height, then the PNGs
        return [np.asarray(PILImage.open(io.BytesIO(png))) for png in encoded]

    with Store(sqlite_url) as store:
        for key in ("batch", "grey"):
            rows = store.images(ours.run.id, keys=[key])
            mine = [decode_image(store.image_bytes(r.hash), r.channels) for r in rows.itertuples()]
            tb = [t if t.ndim == 3 else t[:, :, None] for t in tb_images(key)]
            assert [m.tolist() for m in mine] == [t.tolist() for t in tb], key
        hist = store.histograms(ours.run.id)
    for event, row in zip(events.Tensors("values"), hist.itertuples()):
        tb = make_ndarray(event.tensor_proto)
        assert (event.step, len(tb)) == (row.step, len(row.counts))
        assert row.edges[:-1] == pytest.approx(tb[:, 0])
        assert row.edges[1:] == pytest.approx(tb[:, 1])
        assert row.counts.tolist() == tb[:, 2].tolist()
    assert hist["step"].tolist() == [7, 8] and hist["counts"].map(len).tolist() == [12, 30]
