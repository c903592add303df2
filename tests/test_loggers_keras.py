"""The same TrackboardCallback trains real tiny Keras models on all three backends.

KERAS_BACKEND is read once, when keras is first imported, so each backend trains
in its own interpreter; the test then reads the store and compares it with the
History that Keras returned.
"""

from __future__ import annotations

import pytest

from tests.support.loggers import last_json, run_info, run_python, series
from trackboard.storage import Store

TRAIN = r"""
import json, sys
import numpy as np
import keras
from keras.src.utils.python_utils import is_default
from trackboard.loggers.keras import TrackboardCallback

store = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
              loss="binary_crossentropy", metrics=["accuracy"])

epochs_cb = TrackboardCallback(project="keras-test", name="epochs", store=store)
# What model.fit builds: does our callback leave Keras' async step dispatch on?
epochs_async = keras.callbacks.CallbackList([epochs_cb], model=model)._async_train
history = model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0,
                    callbacks=[epochs_cb])

batch_cb = TrackboardCallback(project="keras-test", name="batches", store=store,
                              log_every_n_steps=2)
batch_async = keras.callbacks.CallbackList([batch_cb], model=model)._async_train
logged = []
class Spy(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        logged.append({k: float(v) for k, v in logs.items()})
# A fresh optimizer step count: the batch run starts where the first fit ended.
start = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[batch_cb, Spy()])

print(json.dumps({
    "backend": keras.backend.backend(), "thread_safe": keras.src.backend.IS_THREAD_SAFE,
    "history": history.history, "epochs": history.epoch,
    "epochs_run": epochs_cb.run.id, "batches_run": batch_cb.run.id,
    "default_batch_hook": is_default(epochs_cb.on_train_batch_end),
    "epochs_async": epochs_async, "batch_async": batch_async,
    "spy": logged, "start": start, "steps_per_epoch": history.params["steps"],
}), flush=True)

try:
    TrackboardCallback(log_every_n_steps=0)
except ValueError as exc:
    print("REFUSED", exc, flush=True)

# Last, a fit that crashes: the process dies with the exception, the run ends failed.
class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("loss exploded")
model.fit(x, y, epochs=2, verbose=0, callbacks=[
    TrackboardCallback(project="keras-test", name="fails", store=store), Boom()])
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "torch", "jax"])
def test_store_holds_the_keras_history_on_every_backend(backend: str, sqlite_url: str) -> None:
    code, out, err = run_python(TRAIN, sqlite_url, env={"KERAS_BACKEND": backend},
                                expect_ok=False)
    got = last_json(out)
    assert got["backend"] == backend

    stored = series(sqlite_url, got["epochs_run"])
    assert set(stored) == set(got["history"]) | {"epoch"}
    for key, values in got["history"].items():
        assert [v for _, v in stored[key]] == values, key  # exactly, not approximately
    steps = got["steps_per_epoch"]
    assert stored["epoch"] == [(steps, 0.0), (2 * steps, 1.0)]  # at the optimizer's step
    info = run_info(sqlite_url, got["epochs_run"])
    assert info["framework"] == "keras" and info["status"] == "finished"
    assert info["tags"]["keras_backend"] == backend
    assert info["params"]["keras_backend"] == backend
    assert info["params"]["optimizer.name"] == "adam"
    assert info["params"]["learning_rate"] == 0.01  # as the user wrote it, not float32
    assert info["params"]["optimizer.learning_rate"] == 0.01
    assert info["params"]["epochs"] == 2

    # Per-epoch logging defines no batch hook, so Keras keeps steps asynchronous
    # wherever the backend allows it; per-batch logging stays async too (async_safe).
    assert got["default_batch_hook"] is True
    assert got["epochs_async"] is got["thread_safe"]
    assert got["batch_async"] is got["thread_safe"]

    batches = series(sqlite_url, got["batches_run"])
    expected = {}
    for i, logs in enumerate(got["spy"]):
        step = got["start"] + i + 1
        if step % 2 == 0:
            for k, v in logs.items():
                expected.setdefault(f"batch_{k}", []).append((step, v))
    assert {k: v for k, v in batches.items() if k.startswith("batch_")} == expected
    assert expected  # the spy saw batches

    # Bad arguments are refused at the call site, saying what to pass.
    assert "REFUSED log_every_n_steps=0: pass a whole number >= 1" in out
    # The crashing fit: the process failed with the error, and so did its run.
    assert code != 0 and "loss exploded" in err
    with Store(sqlite_url) as store:
        runs = store.runs(project="keras-test").set_index("name")
    assert runs.loc["fails", "status"] == "failed"
    assert runs.loc["epochs", "status"] == runs.loc["batches", "status"] == "finished"
