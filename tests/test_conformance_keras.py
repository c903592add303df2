"""What Keras' own callback tests ask of a logging callback, asked of TrackboardCallback.

Modelled on keras/src/callbacks/tensorboard_test.py, csv_logger_test.py,
early_stopping_test.py and terminate_on_nan_test.py in keras-team/keras (read, not
copied). Theirs read event files and CSV rows; ours read the store after real tiny
trainings (PyTorch backend, one interpreter for the whole suite: KERAS_BACKEND is
read once, at import). Histograms, images, the projector and steps_per_second are
out of scope (a store of scalars, params and text): README's Keras table says so.
Resume, evaluate/predict around fit and learning-rate callbacks in either order are
in test_loggers_keras.py.
"""

from __future__ import annotations

import math

import pytest

from tests.support.loggers import last_json, run_info, run_python, series

SUITE = r"""
import json, sys
import numpy as np
import keras
from trackboard.loggers.keras import TrackboardCallback

store = sys.argv[1]
rng = np.random.default_rng(1337)
x, y = rng.random((12, 3)).astype("float32"), rng.random((12, 1)).astype("float32")

def model(optimizer="sgd"):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu"),
                          keras.layers.Dense(1)])
    m.compile(optimizer=optimizer, loss="mse")
    return m

def callback(name, **kw):
    return TrackboardCallback(project="keras-conformance", name=name, store=store, **kw)

class Spy(keras.callbacks.Callback):
    # Placed after ours: what Keras itself shows at each batch and epoch end.
    def __init__(self):
        super().__init__()
        self.batches, self.epochs = [], []
    def on_train_batch_end(self, batch, logs=None):
        opt = self.model.optimizer
        self.batches.append([int(keras.ops.convert_to_numpy(opt.iterations)),
                             float(logs["loss"])])
    def on_epoch_end(self, epoch, logs=None):
        opt = self.model.optimizer
        self.epochs.append([int(keras.ops.convert_to_numpy(opt.iterations)),
                            float(keras.ops.convert_to_numpy(opt.learning_rate))])

out = {}
def fit(name, m, cbs, **kw):
    h = m.fit(x, y, batch_size=4, verbose=0, callbacks=cbs, **kw)
    ours = next(c for c in cbs if isinstance(c, TrackboardCallback))
    out[name] = {"run": ours.run.id, "history": h.history}
    return h

fit("basic", model(), [callback("basic")], epochs=2, validation_data=(x, y))

m, cb = model(), callback("across")
fit("across", m, [cb], epochs=2, validation_data=(x, y))
fit("across", m, [cb], epochs=2, validation_data=(x, y))

spy = Spy()
fit("batch", model(), [callback("batch", log_every_n_steps=1), spy], epochs=2,
    validation_data=(x, y))
out["batch"]["spy"] = spy.batches

spy = Spy()
fit("schedule", model(keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.01, 10))),
    [callback("schedule", log_every_n_steps=1), spy], epochs=2)
out["schedule"]["spy"] = [spy.batches, spy.epochs]

m, cb = model(), callback("evaluate")
fit("evaluate", m, [cb], epochs=1)
out["evaluate"]["result"] = m.evaluate(x, y, verbose=0, callbacks=[cb], return_dict=True)

fit("validation_freq", model(), [callback("validation_freq")], epochs=5,
    validation_data=(x, y), validation_freq=3)

# Five layers of weights 1e5: the loss overflows in the first epoch.
big = keras.initializers.Constant(1e5)
exploding = keras.Sequential([keras.Input((3,))]
                             + [keras.layers.Dense(2, activation="relu", kernel_initializer=big)
                                for _ in range(5)] + [keras.layers.Dense(1)])
exploding.compile(optimizer="sgd", loss="mse")
fit("nan", exploding, [keras.callbacks.TerminateOnNaN(), callback("nan")], epochs=20,
    validation_data=(x, y))

fit("early", model(), [callback("early"),
    keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10)], epochs=10)
print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    url = f"sqlite:///{tmp_path_factory.mktemp('keras-conf') / 'trackboard.db'}"
    _, out, _ = run_python(SUITE, url, env={"KERAS_BACKEND": "torch"}, timeout=400)
    return url, last_json(out)


def _steps(points: list[tuple[int, float]]) -> list[int]:
    return [s for s, _ in points]


pytestmark = pytest.mark.slow


def test_tensorboard_basic(suite: tuple[str, dict]) -> None:
    """test_TensorBoard_basic: epoch loss, validation loss and the learning rate.
    (evaluation_loss_vs_iterations for the validation inside fit: deliberately not
    repeated; it is val_loss at the same step.)"""
    url, got = suite
    stored = series(url, got["basic"]["run"])
    assert set(stored) == {"loss", "val_loss", "learning_rate", "epoch"}
    for key in ("loss", "val_loss"):
        assert [v for _, v in stored[key]] == got["basic"]["history"][key]
    assert _steps(stored["loss"]) == [3, 6]  # 12 samples / batch 4: the optimizer's step
    assert stored["learning_rate"] == [(3, 0.009999999776482582), (6, 0.009999999776482582)]


def test_tensorboard_across_invocations(suite: tuple[str, dict]) -> None:
    """test_TensorBoard_across_invocations (and csv_logger's "reuse of the callback"):
    the same callback in two fit() calls: one run, the second continues the first."""
    url, got = suite
    stored = series(url, got["across"]["run"])
    assert _steps(stored["loss"]) == [3, 6, 9, 12]
    assert [v for _, v in stored["epoch"]] == [0.0, 1.0, 0.0, 1.0]  # History's epochs
    assert run_info(url, got["across"]["run"])["status"] == "finished"


def test_tensorboard_batch_metrics(suite: tuple[str, dict]) -> None:
    """test_TensorBoard_batch_metrics: batch_loss every step besides the epoch values."""
    url, got = suite
    stored = series(url, got["batch"]["run"])
    assert set(stored) == {"batch_loss", "loss", "val_loss", "learning_rate", "epoch"}
    assert stored["batch_loss"] == [tuple(p) for p in got["batch"]["spy"]]


def test_tensorboard_learning_rate_schedules_and_global_step(suite: tuple[str, dict]) -> None:
    """test_TensorBoard_learning_rate_schedules and test_TensorBoard_global_step: with a
    schedule the rate is logged per epoch; batch values sit at the optimizer's step."""
    url, got = suite
    batches, epochs = got["schedule"]["spy"]
    stored = series(url, got["schedule"]["run"])
    assert stored["learning_rate"] == [tuple(p) for p in epochs]
    assert stored["learning_rate"][0][1] != stored["learning_rate"][1][1]  # it decayed
    assert stored["batch_loss"] == [tuple(p) for p in batches]
    assert _steps(stored["batch_loss"]) == list(range(1, 7))


def test_tensorboard_evaluation_metrics(suite: tuple[str, dict]) -> None:
    """TensorBoard.on_test_end: evaluate() outside fit writes evaluation_<name> at the
    optimizer's step (Keras adds "_vs_iterations"; our steps always are iterations)."""
    url, got = suite
    stored = series(url, got["evaluate"]["run"])
    assert stored["evaluation_loss"] == [(3, got["evaluate"]["result"]["loss"])]


def test_csv_logger_validation_freq(suite: tuple[str, dict]) -> None:
    """test_CSVLogger, validation_freq=3: validation values only where Keras computed
    them (the CSV writes "NA" in the other rows; the store has no point there)."""
    url, got = suite
    stored = series(url, got["validation_freq"]["run"])
    assert stored["val_loss"] == [(9, got["validation_freq"]["history"]["val_loss"][0])]
    assert _steps(stored["loss"]) == [3, 6, 9, 12, 15]


def test_stop_training_on_nan(suite: tuple[str, dict]) -> None:
    """test_stop_training_csv: TerminateOnNaN stops after the epoch; the NaN is kept."""
    url, got = suite
    history = got["nan"]["history"]["loss"]
    assert len(history) == 1
    stored = series(url, got["nan"]["run"])
    assert len(stored["loss"]) == 1
    assert math.isnan(stored["loss"][0][1]) or math.isinf(stored["loss"][0][1])
    assert run_info(url, got["nan"]["run"])["status"] == "finished"


def test_early_stopping(suite: tuple[str, dict]) -> None:
    """early_stopping_test: training stops early; the run holds every epoch it ran."""
    url, got = suite
    epochs = len(got["early"]["history"]["loss"])
    assert epochs < 10
    assert len(series(url, got["early"]["run"])["epoch"]) == epochs
    assert run_info(url, got["early"]["run"])["status"] == "finished"
