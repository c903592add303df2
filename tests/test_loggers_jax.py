"""MetricWriter (clu's interface) in a real tiny Flax/optax training loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from trackboard.loggers.jax import MetricWriter

from tests.support.loggers import (
    check_continued_after_close,
    run_info,
    series,
    texts,
    tiny_classification,
)

pytestmark = pytest.mark.slow  # needs a framework


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.Dense(1)(nn.relu(nn.Dense(8)(x))).squeeze(-1)


def test_store_holds_what_the_flax_loop_wrote(sqlite_url: str) -> None:
    x, y = (jnp.asarray(a) for a in tiny_classification())
    model = MLP()
    params = model.init(jax.random.PRNGKey(0), x[:1])
    tx = optax.adam(1e-2)
    opt_state = tx.init(params)

    @jax.jit
    def train_step(params, opt_state, xb, yb):  # type: ignore[no-untyped-def]
        def loss_fn(p):  # type: ignore[no-untyped-def]
            logits = model.apply(p, xb)
            return optax.sigmoid_binary_cross_entropy(logits, yb).mean(), logits
        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state)
        accuracy = ((logits > 0) == (yb > 0.5)).mean()
        return optax.apply_updates(params, updates), opt_state, loss, accuracy

    written: dict[str, list[tuple[int, float]]] = {}
    with MetricWriter(project="jax-test", name="flax-mlp", store=sqlite_url) as writer:
        writer.write_hparams({"optimizer": {"name": "adam", "learning_rate": 1e-2},
                              "hidden": 8})
        step = 0
        for epoch in range(2):
            for i in range(0, 64, 16):
                params, opt_state, loss, acc = train_step(params, opt_state,
                                                          x[i:i + 16], y[i:i + 16])
                step += 1
                scalars = {"loss": loss, "accuracy": acc, "epoch": epoch}  # JAX arrays
                writer.write_scalars(step, scalars)
                for k, v in scalars.items():
                    written.setdefault(k, []).append((step, float(v)))
        with pytest.warns(UserWarning, match=r"write_videos\(\) is ignored"):
            writer.write_videos(step, {"x": jnp.zeros((1, 2, 2, 2, 3))})
        writer.write_texts(step, {"summary": "tiny flax mlp"})
        writer.flush()
        run_id = writer.run.id

    assert series(sqlite_url, run_id) == written
    info = run_info(sqlite_url, run_id)
    assert info["framework"] == "jax" and info["status"] == "finished"
    assert info["params"] == {"optimizer.name": "adam", "optimizer.learning_rate": 1e-2,
                              "hidden": 8}
    assert texts(sqlite_url, run_id) == {"summary": [(8, "tiny flax mlp")]}


def test_a_loop_that_raises_ends_failed_and_bad_input_is_refused(sqlite_url: str) -> None:
    with pytest.raises(FloatingPointError):
        with MetricWriter(project="jax-test", store=sqlite_url) as writer:
            with pytest.raises(ValueError, match="write_scalars\\(\\) takes a dict"):
                writer.write_scalars(0, [("loss", 1.0)])  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="tensor of shape \\(3,\\)"):
                writer.write_scalars(0, {"loss": jnp.ones(3)})
            writer.write_scalars(0, {"loss": jnp.float32(0.5)})
            raise FloatingPointError("nan loss")
    info = run_info(sqlite_url, writer.run.id)
    assert info["status"] == "failed" and info["metrics"]["loss"]["last"] == 0.5


def test_close_then_write_again_continues_the_same_run(sqlite_url: str) -> None:
    writer = MetricWriter(project="jax-test", name="again", store=sqlite_url)
    writer.write_scalars(0, {"loss": 1.0})
    writer.close()
    writer.close()  # idempotent
    writer.flush()  # after close: harmless
    assert run_info(sqlite_url, writer.run.id)["status"] == "finished"
    run_id = writer.run.id
    writer.write_scalars(1, {"loss": 0.5})
    writer.write_texts(1, {"after": "close"})
    check_continued_after_close(sqlite_url, writer, run_id, {"loss": [(0, 1.0), (1, 0.5)]},
                                {"after": [(1, "close")]})


def test_a_workdir_is_one_run_across_restarts(sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Flax loop restored from the checkpoint in its workdir continues its run."""
    with MetricWriter(project="jax-test", store=sqlite_url, logdir=tmp_path / "wd") as first:
        first.write_scalars(jnp.int32(0), {"loss": 1.0})  # state.step is a JAX array
    with MetricWriter(project="jax-test", store=sqlite_url, logdir=tmp_path / "wd") as second:
        second.write_scalars(jnp.int32(1), {"loss": 0.5})
    assert second.run.id == first.run.id
    assert run_info(sqlite_url, first.run.id)["name"] == "wd"
    assert series(sqlite_url, first.run.id) == {"loss": [(0, 1.0), (1, 0.5)]}
    with MetricWriter(project="jax-test", store=sqlite_url, id="my-run-1") as by_id:
        by_id.write_scalars(3, {"loss": 0.1})
    assert by_id.run.id == "my-run-1"


def test_hparams_of_any_type_and_the_values_clu_casts(sqlite_url: str) -> None:
    import datetime
    import enum

    class Mode(enum.Enum):
        FAST = "fast"

    with MetricWriter(project="jax-test", store=sqlite_url) as writer:
        writer.write_hparams({"complex": np.complex128(1 - 1j), "when": np.datetime64("2024-01-02"),
                              "mode": Mode.FAST, "fn": len, "arr": jnp.arange(3),
                              "opt": {"lr": jnp.float32(0.5)}, "date": datetime.date(2024, 1, 2)})
        writer.write_hparams(7, {"seed": 3})  # clu's write_values passes the step first
        writer.write_scalars(0, {"ok": True, "np_ok": np.bool_(False), "jx": jnp.array(True)})
        writer.write_scalars(1.0, {"loss": 0.25})  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="write_hparams\\(\\) takes a dict"):
            writer.write_hparams(["lr"])  # type: ignore[arg-type]
        run_id = writer.run.id
    params = run_info(sqlite_url, run_id)["params"]
    assert params["complex"] == "1-1j" and params["mode"] == "fast"
    assert params["arr"] == [0, 1, 2] and params["opt.lr"] == 0.5 and params["seed"] == 3
    assert params["fn"] == "<built-in function len>" and "2024" in params["when"]
    assert "2024" in params["date"]
    assert series(sqlite_url, run_id) == {"ok": [(0, 1.0)], "np_ok": [(0, 0.0)],
                                          "jx": [(0, 1.0)], "loss": [(1, 0.25)]}


def test_a_finished_run_passed_in_warns_instead_of_stopping_training(sqlite_url: str) -> None:
    from trackboard.loggers import Run

    run = Run(project="jax-test", store=sqlite_url, system_metrics=False)
    writer = MetricWriter(run)
    writer.write_scalars(0, {"loss": 1.0})
    run.finish()
    with pytest.warns(RuntimeWarning, match="is finished; what this writer writes from now on "
                                            "is NOT stored"):
        writer.write_scalars(1, {"loss": 0.5})
        writer.write_hparams({"lr": 0.1})
    writer.close()
    assert series(sqlite_url, run.id) == {"loss": [(0, 1.0)]}


def _child_writes(writer: MetricWriter) -> None:
    """Runs in a spawned process: write through the unpickled writer."""
    writer.write_scalars(jnp.int32(5), {"worker/loss": jnp.float32(0.5)})
    writer.write_texts(5, {"worker": "done"})
    writer.close()  # a copy only flushes: the parent finishes the run


@pytest.mark.slow
def test_pickled_writer_writes_into_the_same_run_from_a_spawned_process(sqlite_url: str) -> None:
    import multiprocessing
    import pickle

    writer = MetricWriter(project="jax-test", store=sqlite_url)
    writer.write_hparams({"lr": 0.1})
    writer.write_scalars(0, {"loss": 1.0})
    assert pickle.loads(pickle.dumps(writer)).run.id == writer.run.id
    process = multiprocessing.get_context("spawn").Process(target=_child_writes, args=(writer,))
    process.start()
    process.join(180)
    assert process.exitcode == 0
    assert run_info(sqlite_url, writer.run.id)["status"] == "running"  # not the copy's to end
    writer.write_scalars(1, {"loss": 0.5})
    writer.close()
    info = run_info(sqlite_url, writer.run.id)
    assert info["status"] == "finished" and texts(sqlite_url, writer.run.id) == {
        "worker": [(5, "done")]}
    assert info["params"] == {"lr": 0.1}
    assert series(sqlite_url, writer.run.id) == {"loss": [(0, 1.0), (1, 0.5)],
                                                 "worker/loss": [(5, 0.5)]}
