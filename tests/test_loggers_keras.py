"""The same TrackboardCallback trains real tiny Keras models on all three backends.

KERAS_BACKEND is read once, when keras is first imported, so each backend trains
in its own interpreter; the test then reads the store and compares it with the
History that Keras returned.
"""

from __future__ import annotations

import pytest
from trackboard.storage import Store

from tests.support.loggers import last_json, run_info, run_python, series

pytestmark = pytest.mark.slow  # needs a framework

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
    "lr32": float(np.float32(0.01)),
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
    # Keras' TensorBoard callback logs the learning rate every epoch; so do we.
    assert set(stored) == set(got["history"]) | {"epoch", "learning_rate"}
    assert [v for _, v in stored["learning_rate"]] == [got["lr32"]] * 2
    for key, values in got["history"].items():
        assert [v for _, v in stored[key]] == values, key  # exactly, not approximately
    steps = got["steps_per_epoch"]
    assert stored["epoch"] == [(steps, 0.0), (2 * steps, 1.0)]  # at the optimizer's step
    info = run_info(sqlite_url, got["epochs_run"])
    assert info["framework"] == "keras" and info["status"] == "finished"
    assert info["tags"]["keras_backend"] == backend
    assert info["params"]["keras_backend"] == backend
    assert info["params"]["optimizer.name"] == "adam"
    # The rate once under the common name and once in Keras' own optimizer config, as
    # the user wrote it (not float32's 0.0099999998); no third copy.
    assert info["params"]["optimizer.learning_rate"] == info["params"]["lr"] == 0.01
    assert "learning_rate" not in info["params"]
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


# The whole program around fit(): evaluate and predict before and after, fit again,
# recompile, learning-rate callbacks in either order, resume with initial_epoch (full
# model, weights only, BackupAndRestore), and trouble that must not stop training.
# A fresh TrackboardCallback with the same id= stands for a restarted process: the
# callback keeps no other state between processes.
LIFECYCLE = r"""
import json, sys, warnings
import numpy as np
import keras
from trackboard.loggers import Run
from trackboard.loggers.keras import TrackboardCallback

store, workdir = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")

def model(lr=0.01):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
              loss="binary_crossentropy", metrics=["accuracy"])
    return m

def steps(m):
    return int(keras.ops.convert_to_numpy(m.optimizer.iterations))

def fit(m, callbacks, **kw):
    return m.fit(x, y, batch_size=16, verbose=0, callbacks=callbacks, **kw).history

out = {}

# evaluate before fit, fit, evaluate after, predict, fit again: one callback, one run.
m, cb = model(), TrackboardCallback(project="keras-life", name="life", store=store)
out["eval0"] = [steps(m), m.evaluate(x, y, verbose=0, callbacks=[cb], return_dict=True)]
out["fit1"] = fit(m, [cb], epochs=2)
out["eval1"] = [steps(m), m.evaluate(x, y, verbose=0, callbacks=[cb], return_dict=True)]
out["predicted"] = len(m.predict(x, verbose=0, callbacks=[cb]))
out["fit2"] = fit(m, [cb], epochs=1)
m.compile(optimizer="sgd", loss="binary_crossentropy")  # a new optimizer: back to step 0
out["fit3"] = fit(m, [cb], epochs=1)
out["life"] = cb.run.id

# Learning-rate callbacks before and after ours: History (last in Keras' list) has it.
for name, make in {
    "plateau": lambda: keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5,
                                                          patience=0, min_delta=10),
    "schedule": lambda: keras.callbacks.LearningRateScheduler(lambda e: 0.1 / (e + 1)),
}.items():
    for order in ("first", "last"):
        cb = TrackboardCallback(project="keras-life", name=f"{name}-{order}", store=store)
        cbs = [cb, make()] if order == "first" else [make(), cb]
        out[f"{name}-{order}"] = [cb.run.id if cb.run else None,
                                  fit(model(0.1), cbs, epochs=3)]
        out[f"{name}-{order}"][0] = cb.run.id

# Resume with initial_epoch: the full model saved after epoch 2 (optimizer included),
# and the weights only (a fresh optimizer); the resumed training sees other data.
x2 = (x * 1.5).astype("float32")
for kind in ("full", "weights"):
    rid = f"resume-{kind}"
    saved = f"{workdir}/{kind}.keras" if kind == "full" else f"{workdir}/{kind}.weights.h5"
    class Save(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                (self.model.save if kind == "full" else self.model.save_weights)(saved)
    m = model()
    first = fit(m, [TrackboardCallback(project="keras-life", store=store, id=rid), Save()],
                epochs=4)
    if kind == "full":
        m = keras.saving.load_model(saved)
    else:
        m = model()
        m.load_weights(saved)
    # One epoch less than the first training: its last epoch is only gone if purged.
    again = TrackboardCallback(project="keras-life", store=store, id=rid)
    if kind == "weights":  # evaluate first: the resume still purges and places epochs
        m.evaluate(x2, y, verbose=0, callbacks=[again])
    resumed = m.fit(x2, y, batch_size=16, verbose=0, initial_epoch=2, epochs=3,
                    callbacks=[again]).history
    out[rid] = [first, resumed]

# BackupAndRestore: the first attempt dies in epoch 3; the second resumes from the backup.
class Die(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("preempted")
backup = keras.callbacks.BackupAndRestore(f"{workdir}/backup")
m = model()
m.build((None, 4))
try:
    fit(m, [TrackboardCallback(project="keras-life", store=store, id="backup"), backup, Die()],
        epochs=4)
except RuntimeError:
    pass
m = model()
m.build((None, 4))
out["backup"] = m.fit(x2, y, batch_size=16, verbose=0, epochs=4, callbacks=[
    TrackboardCallback(project="keras-life", store=store, id="backup"),
    keras.callbacks.BackupAndRestore(f"{workdir}/backup")]).history

# A run the user finished before fit: warnings, never an exception; training goes on.
run = Run(project="keras-life", store=store, system_metrics=False)
run.log({"loss": 1.0}, step=0)
run.finish()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    history = fit(model(), [TrackboardCallback(run, log_every_n_steps=1)], epochs=2)
    model().evaluate(x, y, verbose=0, callbacks=[TrackboardCallback(run)])
out["finished"] = [run.id, len(history["loss"]),
                   [str(w.message) for w in caught if "trackboard" in str(w.message)]]
try:
    TrackboardCallback(id="no spaces")
except ValueError as exc:
    out["bad_id"] = str(exc)
print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    work = tmp_path_factory.mktemp("keras-life")
    url = f"sqlite:///{work / 'trackboard.db'}"
    _, out, _ = run_python(LIFECYCLE, url, str(work), env={"KERAS_BACKEND": "torch"},
                           timeout=400)
    return url, last_json(out)


def _values(points: list[tuple[int, float]]) -> list[float]:
    return [v for _, v in points]


@pytest.mark.slow
def test_evaluate_predict_and_fit_again_log_into_one_run(lifecycle: tuple[str, dict]) -> None:
    url, got = lifecycle
    stored = series(url, got["life"])
    with Store(url) as store:
        names = list(store.runs(project="keras-life")["name"])
    assert names.count("life") == 1
    # evaluate() outside fit: Keras' TensorBoard names, at the optimizer's step.
    (step0, eval0), (step1, eval1) = got["eval0"], got["eval1"]
    assert (step0, step1) == (0, 8)
    assert stored["evaluation_loss"] == [(0, eval0["loss"]), (8, eval1["loss"])]
    assert stored["evaluation_accuracy"] == [(0, eval0["accuracy"]), (8, eval1["accuracy"])]
    # fit (2 epochs), fit again (1), recompiled + fit (1): steps go on, never repeat.
    losses = got["fit1"]["loss"] + got["fit2"]["loss"] + got["fit3"]["loss"]
    assert stored["loss"] == list(zip([4, 8, 12, 16], losses))
    assert stored["epoch"] == [(4, 0.0), (8, 1.0), (12, 0.0), (16, 0.0)]  # as History
    assert got["predicted"] == 64  # predict() has no metrics: nothing stored, no new run
    assert run_info(url, got["life"])["status"] == "finished"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["plateau", "schedule"])
def test_learning_rate_callbacks_are_recorded_whatever_the_order(
        lifecycle: tuple[str, dict], name: str) -> None:
    url, got = lifecycle
    for order in ("first", "last"):
        run_id, history = got[f"{name}-{order}"]
        stored = series(url, run_id)
        assert _values(stored["learning_rate"]) == history["learning_rate"], order
    # The rate really changed, so the order could have mattered.
    assert len(set(got[f"{name}-first"][1]["learning_rate"])) > 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["full", "weights"])
def test_initial_epoch_resume_continues_the_run_and_replaces_later_steps(
        lifecycle: tuple[str, dict], kind: str) -> None:
    url, got = lifecycle
    first, resumed = got[f"resume-{kind}"]
    stored = series(url, f"resume-{kind}")
    # Epochs 0-1 from the first training, 2-3 from the resumed one (other data),
    # at the steps the first training used: the purged points are gone.
    assert stored["loss"] == list(zip([4, 8, 12], first["loss"][:2] + resumed["loss"]))
    assert stored["epoch"] == [(4, 0.0), (8, 1.0), (12, 2.0)]
    assert resumed["loss"] != first["loss"][2:3]
    info = run_info(url, f"resume-{kind}")
    assert info["status"] == "finished" and info["framework"] == "keras"


@pytest.mark.slow
def test_backup_and_restore_resume_continues_the_run(lifecycle: tuple[str, dict]) -> None:
    url, got = lifecycle
    stored = series(url, "backup")
    assert stored["epoch"] == [(4, 0.0), (8, 1.0), (12, 2.0), (16, 3.0)]
    assert _values(stored["loss"])[2:] == got["backup"]["loss"]


@pytest.mark.slow
def test_a_finished_run_warns_and_training_goes_on(lifecycle: tuple[str, dict]) -> None:
    url, got = lifecycle
    run_id, epochs, messages = got["finished"]
    assert epochs == 2
    assert messages and len(messages) == len(set(messages))  # each kind of trouble once
    assert all("training goes on" in m for m in messages)
    assert series(url, run_id) == {"loss": [(0, 1.0)]}
    assert "not a valid run id" in got["bad_id"]


# A fit that raises (TerminateOnNaN(raise_error=True) stops at once: Keras then calls no
# on_train_end), followed by evaluate / predict / fit on the same callback; and the
# optimizer names Keras counts per process (adam, adam_1, adam_2).
RAISES = r"""
import json, sys
import numpy as np
import keras
from trackboard.loggers.keras import TrackboardCallback

store = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x[:, 0] > 0).astype("float32")

def model(optimizer=None):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(1)])
    m.compile(optimizer=optimizer or keras.optimizers.Adam(0.01), loss="mse",
              metrics=["mae"])
    return m

class Poison(keras.callbacks.Callback):
    # After the first epoch the weights turn NaN: the next batch's loss is NaN.
    def on_epoch_end(self, epoch, logs=None):
        self.saved = self.model.get_weights()
        self.model.set_weights([np.full_like(w, np.nan) for w in self.saved])

def crash(m, cb):
    poison = Poison()
    try:
        m.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[
            cb, poison, keras.callbacks.TerminateOnNaN(raise_error=True)])
    except RuntimeError as exc:
        m.set_weights(poison.saved)
        return str(exc)
    return None

def steps(m):
    return int(keras.ops.convert_to_numpy(m.optimizer.iterations))

out = {}
for then in ("evaluate", "predict", "fit"):
    m, cb = model(), TrackboardCallback(project="keras-raise", name=then, store=store)
    out[then] = {"error": crash(m, cb), "crash_step": steps(m)}
    if then == "evaluate":
        out[then]["result"] = m.evaluate(x, y, verbose=0, callbacks=[cb], return_dict=True)
    elif then == "predict":
        m.predict(x, verbose=0, callbacks=[cb])
    else:
        out[then]["history"] = m.fit(x, y, batch_size=16, epochs=1, verbose=0,
                                     callbacks=[cb]).history
    out[then]["run"] = cb.run.id

names = {}
for label, opt in [("first", None), ("second", None), ("third", None),
                   ("named", keras.optimizers.Adam(0.01, name="fast_adam")),
                   ("adamw", keras.optimizers.AdamW(0.01))]:
    m = model(opt)
    cb = TrackboardCallback(project="keras-names", name=label, store=store)
    m.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[cb])
    names[label] = [cb.run.id, m.optimizer.name]
out["names"] = names
print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def raised(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    url = f"sqlite:///{tmp_path_factory.mktemp('keras-raise') / 'trackboard.db'}"
    _, out, _ = run_python(RAISES, url, env={"KERAS_BACKEND": "torch"}, timeout=300)
    return url, last_json(out)


@pytest.mark.slow
def test_evaluate_after_a_fit_that_raised_is_stored_and_ends_the_run(
        raised: tuple[str, dict]) -> None:
    url, got = raised
    case = got["evaluate"]
    assert "NaN or Inf" in case["error"]  # TerminateOnNaN(raise_error=True) raised
    stored = series(url, case["run"])
    assert [s for s, _ in stored["loss"]] == [4]  # the first epoch, before the NaN
    # evaluate's metrics, at the optimizer's step (the NaN batch did update it).
    assert stored["evaluation_loss"] == [(case["crash_step"], case["result"]["loss"])]
    assert stored["evaluation_mae"] == [(case["crash_step"], case["result"]["mae"])]
    assert run_info(url, case["run"])["status"] == "finished"


@pytest.mark.slow
def test_predict_after_a_fit_that_raised_leaves_the_run_failed(
        raised: tuple[str, dict]) -> None:
    url, got = raised
    run = got["predict"]["run"]
    # The fit failed, and the run says so (it was "running" until the process ended).
    assert run_info(url, run)["status"] == "failed"
    assert [s for s, _ in series(url, run)["loss"]] == [4]


@pytest.mark.slow
def test_fit_after_a_fit_that_raised_continues_the_run(raised: tuple[str, dict]) -> None:
    url, got = raised
    case = got["fit"]
    stored = series(url, case["run"])
    # The model kept its optimizer (5 updates, the last on the NaN batch, whose moments
    # stay NaN: the loss is NaN, stored as it is): one more epoch after them.
    assert [s for s, _ in stored["loss"]] == [4, case["crash_step"] + 4]
    assert repr(stored["loss"][1][1]) == repr(case["history"]["loss"][0])
    assert run_info(url, case["run"])["status"] == "finished"


@pytest.mark.slow
def test_optimizer_names_are_stored_without_keras_counter(raised: tuple[str, dict]) -> None:
    url, got = raised
    names = got["names"]
    # Keras counts the optimizers it names in one process; the run holds the name.
    counted = [names[k][1] for k in ("first", "second", "third")]
    assert len(set(counted)) == 3 and all(n.startswith("adam_") for n in counted), counted
    stored = {k: run_info(url, rid)["params"]["optimizer.name"] for k, (rid, _) in names.items()}
    assert stored == {"first": "adam", "second": "adam", "third": "adam",
                      "named": "fast_adam", "adamw": "adam_w"}
