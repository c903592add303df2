"""MetricWriter (clu's interface) in a real tiny Flax/optax training loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest
from flax import linen as nn

from tests.support.loggers import run_info, series, tiny_classification
from trackboard.loggers.jax import MetricWriter


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
        with pytest.warns(UserWarning, match=r"write_images\(\) is ignored"):
            writer.write_images(step, {"x": jnp.zeros((1, 2, 2, 3))})
        writer.write_texts(step, {"summary": "tiny flax mlp"})
        writer.flush()
        run_id = writer.run.id

    assert series(sqlite_url, run_id) == written
    info = run_info(sqlite_url, run_id)
    assert info["framework"] == "jax" and info["status"] == "finished"
    assert info["params"] == {"optimizer.name": "adam", "optimizer.learning_rate": 1e-2,
                              "hidden": 8}
    assert info["tags"] == {"summary": "tiny flax mlp"}


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
