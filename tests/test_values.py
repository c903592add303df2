"""What log() accepts and the errors it gives for everything else."""

from __future__ import annotations

import math

import numpy as np
import pytest
from trackboard.loggers import Run
from trackboard.loggers.values import to_float
from trackboard.storage import Store


@pytest.mark.parametrize("bad, message", [
    ({"ok": True}, "bool"),
    ({"acc": np.bool_(True)}, "bool"),
    ({"loss": "0.3"}, "str value"),
    ({"loss": None}, "NoneType"),
    ({"loss": [1.0, 2.0]}, "list"),
    ({"": 1.0}, "empty key"),
    ({"x" * 251: 1.0}, "at most 250"),
    ({3: 1.0}, "keys must be strings"),
    ({"loss": np.ones(3)}, "shape"),
    ({"loss": 1 + 2j}, "complex"),
])
def test_bad_metrics_raise_a_helpful_value_error(sqlite_url: str, bad: dict, message: str) -> None:
    run = Run(store=sqlite_url)
    with pytest.raises(ValueError, match=message):
        run.log(bad)
    run.finish()


@pytest.mark.parametrize("step, message", [(-1, "negative"), (1.5, "not an integer"),
                                           ("3", "not an integer"), (True, "not an integer"),
                                           (2**60, "too large")])
def test_bad_steps_raise(sqlite_url: str, step: object, message: str) -> None:
    run = Run(store=sqlite_url)
    with pytest.raises(ValueError, match=message):
        run.log({"loss": 1.0}, step=step)  # type: ignore[arg-type]
    run.finish()


def test_unstorable_config_raises(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="param 'fn'.*cannot be stored"):
        Run(store=sqlite_url, config={"fn": object()})
    run = Run(store=sqlite_url)
    with pytest.raises(ValueError, match="tag 'seed'"):
        run.set_tags({"seed": [1, 2]})
    with pytest.raises(ValueError, match="takes a dict"):
        run.log([1.0])  # type: ignore[arg-type]
    run.finish()


def test_numpy_and_framework_tensors_become_float64(sqlite_url: str) -> None:
    import jax.numpy as jnp
    import torch

    values = {
        "int": 3, "float": 0.1, "np_f32": np.float32(0.25), "np_i64": np.int64(7),
        "np_0d": np.array(1.5), "np_1elem": np.array([2.5]),
        "torch_0d": torch.tensor(0.125, dtype=torch.float64),
        "torch_1elem": torch.tensor([4.0], requires_grad=True) * 1,
        "torch_int": torch.tensor(5),
        "jax_0d": jnp.asarray(0.5), "jax_1elem": jnp.ones((1, 1)) * 6,
    }
    run = Run(store=sqlite_url, system_metrics=False)
    run.log(values, step=0)
    run.finish()
    got = Store(sqlite_url).history([run.id]).set_index("key")["value"].to_dict()
    assert got == {"int": 3.0, "float": 0.1, "np_f32": 0.25, "np_i64": 7.0, "np_0d": 1.5,
                   "np_1elem": 2.5, "torch_0d": 0.125, "torch_1elem": 4.0, "torch_int": 5.0,
                   "jax_0d": 0.5, "jax_1elem": 6.0}


def test_tensorflow_tensors_are_accepted() -> None:
    import tensorflow as tf

    assert to_float("tf", tf.constant(0.75, dtype=tf.float64)) == 0.75
    assert to_float("tf", tf.constant([[3]])) == 3.0
    with pytest.raises(ValueError, match="boolean"):
        to_float("tf", tf.constant(True))


def test_float64_precision_is_kept(store_url: str) -> None:
    exact = [math.pi, 1e-300, 1.0000000000000002, -0.0, 2.0**53 + 2, 1e308]
    run = Run(store=store_url, system_metrics=False)
    for i, v in enumerate(exact):
        run.log({"v": v}, step=i)
    run.finish()
    got = Store(store_url).history([run.id])["value"].tolist()
    assert got == exact
