"""One hyperparameter vocabulary across frameworks, and the one rule for what a run's
params hold.

Every framework names the same training settings differently: Keras' optimizer
holds `learning_rate`, Transformers' arguments `learning_rate` and
`per_device_train_batch_size`, Lightning's trainer `max_epochs` and
`accumulate_grad_batches`, a torch optimizer `param_groups[0]["lr"]`. So that
runs of several frameworks line up in the dashboard (`params.lr < 0.01`, group
by `params.optimizer`, the param diff), the names in `COMMON_PARAMS` mean the same
setting in every run.

**The rule: a setting is stored once under its common name, plus what the user or
the framework itself wrote, under their own names; trackboard adds no other copy.**

- What the user writes (`config=`, `log_params`, clu's `write_hparams`, a
  LightningModule's `save_hyperparameters`, torch's `add_hparams`) is stored exactly
  as written: `num_epochs` stays `num_epochs`, no `epochs` is added beside it.
- What the framework itself holds as its configuration is stored under its own
  names (Keras' optimizer config as `optimizer.*`, fit's `epochs` and `steps`,
  the Trainer's TrainingArguments, a model config).
- The common names are read by the adapter from the framework's objects (the
  optimizer, the trainer, fit's arguments; `log_optimizer` for torch and optax),
  never copied from the user's own dicts, and never written over a value the user
  logged under that name (`record_common` -> `Run.log_param_defaults`).
- `HPARAM_ALIASES` lists the other usual names of a common setting; the dashboard
  reads it to recognise a framework's own name beside the common one (Keras'
  `optimizer.learning_rate` beside `lr`). It never renames what is stored.

The extractors here are pure: they read a framework object and return
{common name: value} with only what is visible. Frameworks are never imported
here: each extractor is handed the framework's objects by the adapter that
already imported it. docs/hyperparameters.md has the table per framework.

    >>> sorted(COMMON_PARAMS)[:3]
    ['batch_size', 'epochs', 'grad_accum_steps']
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: The common hyperparameter names, in the order the dashboard shows them.
COMMON_PARAMS: tuple[str, ...] = (
    "lr", "optimizer", "batch_size", "epochs", "max_steps", "weight_decay", "seed",
    "precision", "grad_accum_steps")

#: Other usual names of the common settings (Keras' and the Trainer's
#: `learning_rate`, Flax configs' `num_epochs`, ...) -> the common name. The
#: dashboard uses it to recognise a framework's own name beside the common one;
#: nothing stored is renamed or copied by it (see the rule above).
HPARAM_ALIASES: dict[str, str] = {
    "learning_rate": "lr", "base_learning_rate": "lr", "init_learning_rate": "lr",
    "optim": "optimizer",
    "train_batch_size": "batch_size", "per_device_batch_size": "batch_size",
    "num_epochs": "epochs", "num_train_epochs": "epochs", "n_epochs": "epochs",
    "max_epochs": "epochs",
    "num_train_steps": "max_steps", "total_steps": "max_steps", "train_steps": "max_steps",
    "num_steps": "max_steps",
    "wd": "weight_decay",
    "random_seed": "seed",
    "gradient_accumulation_steps": "grad_accum_steps",
    "accumulate_grad_batches": "grad_accum_steps",
}

#: Keras dtype policies -> Lightning's precision names, which the other
#: frameworks map to as well (one spelling for "bf16 mixed precision").
KERAS_PRECISION: dict[str, str] = {
    "float32": "32-true", "float64": "64-true", "float16": "16-true",
    "bfloat16": "bf16-true", "mixed_float16": "16-mixed", "mixed_bfloat16": "bf16-mixed"}

#: Transformers' `optim` names of plain torch optimizers -> the class they build,
#: so that a Trainer's run says "AdamW" as a torch or Lightning run of AdamW does.
HF_OPTIMIZERS: dict[str, str] = {
    "adamw_torch": "AdamW", "adamw_torch_fused": "AdamW", "adamw_hf": "AdamW",
    "sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adafactor": "Adafactor"}


def record_common(run: Any, values: Mapping[str, Any], *, taken: Iterable[str] = ()) -> None:
    """Store common params beside the framework's own: None values are left out, and
    so are the keys in `taken` (the user's config a reopened run did not log again)
    and every key the run's handle recorded through config= or log_params().

    `run` is a Run (or a NullRun, which ignores it)."""
    skip = set(taken)
    clean = {k: v for k, v in values.items() if v is not None and k not in skip}
    if clean:
        run.log_param_defaults(clean)


def uncounted_name(name: str, class_name: str) -> str:
    """A Keras object's name without the counter Keras adds to generated names in
    one process: `Adam()` is named `adam`, the next one `adam_1`, then `adam_2`
    (Keras' `auto_name`: the class name in snake case, then `uniquify`). A name the
    user gave that is not the class's own is kept as it is, counter or not.

    >>> uncounted_name("adam_2", "Adam"), uncounted_name("adam", "Adam")
    ('adam', 'adam')
    >>> uncounted_name("adam_w_1", "AdamW"), uncounted_name("my_opt_1", "Adam")
    ('adam_w', 'my_opt_1')
    """
    base = _snake_case(class_name)
    if name == base or re.fullmatch(re.escape(base) + r"_\d+", name):
        return base
    return name


def _snake_case(name: str) -> str:
    """Keras' `to_snake_case` (keras/src/utils/naming.py), the base of `auto_name`.

    >>> _snake_case("AdamW"), _snake_case("SGD"), _snake_case("LossScaleOptimizer")
    ('adam_w', 'sgd', 'loss_scale_optimizer')
    """
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def common_from_torch_optimizer(optimizer: Any) -> dict[str, Any]:
    """`lr` (the base rate: a scheduler's `initial_lr` when one is attached, as
    schedules in Keras are read at their start), `optimizer` (the class name) and
    `weight_decay` of a torch optimizer's first parameter group. Wrappers
    (Lightning's LightningOptimizer, Accelerate's AcceleratedOptimizer) are looked
    through.

    >>> import torch  # doctest: +SKIP
    >>> common_from_torch_optimizer(torch.optim.SGD([torch.zeros(1)], lr=0.1))  # doctest: +SKIP
    {'lr': 0.1, 'optimizer': 'SGD', 'weight_decay': 0.0}
    """
    optimizer = _unwrap_optimizer(optimizer)
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        return {}
    group = groups[0]
    lr = group.get("initial_lr", group.get("lr"))
    return {"lr": _number(lr), "optimizer": type(optimizer).__name__,
            "weight_decay": _number(group.get("weight_decay"))}


def common_from_optax_state(state: Any) -> dict[str, Any]:
    """`lr` and `weight_decay` of an optax state made by `optax.inject_hyperparams`
    (the only optax state that holds its hyperparameters), found anywhere in a
    chain's tuple of states; {} when there is none."""
    found = _inject_hyperparams(state)
    if found is None:
        return {}
    out = {common: _number(found[name]) for name, common in
           (("learning_rate", "lr"), ("lr", "lr"), ("weight_decay", "weight_decay"))
           if name in found}
    return {k: v for k, v in out.items() if v is not None}


def common_from_keras(keras: Any, model: Any, fit_params: Mapping[str, Any]) -> dict[str, Any]:
    """What a Keras callback sees at on_train_begin: the model's optimizer (class,
    learning rate, a schedule's initial rate, weight decay, gradient accumulation),
    fit's `epochs`, the seed of `keras.utils.set_random_seed` and the model's dtype
    policy. Keras 3 does not hand fit's `batch_size` to callbacks: pass it in
    `config=` to have it."""
    out: dict[str, Any] = {"epochs": _count(fit_params.get("epochs"))}
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if optimizer is not None and not getattr(optimizer, "optimizers", None):
        out["optimizer"] = type(optimizer).__name__
        rate = getattr(optimizer, "_learning_rate", None)
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(0)  # the rate the schedule starts at
        elif rate is None:
            rate = getattr(optimizer, "learning_rate", None)
        out["lr"] = _float32(keras.ops.convert_to_numpy(rate)) if rate is not None else None
        decay = getattr(optimizer, "weight_decay", None)
        out["weight_decay"] = None if decay is None else _float32(decay)
        out["grad_accum_steps"] = _count(getattr(optimizer, "gradient_accumulation_steps", None))
    policy = getattr(getattr(model, "dtype_policy", None), "name", None)
    if isinstance(policy, str):
        out["precision"] = KERAS_PRECISION.get(policy, policy)
    out["seed"] = _keras_seed()
    return out


def common_from_training_arguments(args: Any, optimizer: Any = None) -> dict[str, Any]:
    """What Transformers' TrainingArguments (and the optimizer the Trainer built,
    when the callback sees it) say. `batch_size` is
    `per_device_train_batch_size`: what one device sees in a forward pass, as in
    the other frameworks; the examples per optimizer step are batch_size x
    grad_accum_steps x devices. `epochs` is left out when `max_steps` (> 0)
    overrides it, as it does in the Trainer."""
    max_steps = getattr(args, "max_steps", -1)
    max_steps = max_steps if isinstance(max_steps, int) and max_steps > 0 else None
    out: dict[str, Any] = {
        "lr": _number(getattr(args, "learning_rate", None)),
        "batch_size": _count(getattr(args, "per_device_train_batch_size", None)),
        "epochs": None if max_steps else _count(getattr(args, "num_train_epochs", None)),
        "max_steps": max_steps,
        "weight_decay": _number(getattr(args, "weight_decay", None)),
        "seed": _count(getattr(args, "seed", None)),
        "grad_accum_steps": _count(getattr(args, "gradient_accumulation_steps", None)),
        "precision": ("bf16-mixed" if getattr(args, "bf16", False)
                      else "16-mixed" if getattr(args, "fp16", False) else "32-true"),
    }
    inner = _unwrap_optimizer(optimizer)
    if getattr(inner, "param_groups", None):
        out["optimizer"] = type(inner).__name__
    else:
        optim = getattr(args, "optim", None)
        optim = getattr(optim, "value", optim)  # an OptimizerNames enum
        if optim is not None:
            out["optimizer"] = HF_OPTIMIZERS.get(str(optim), str(optim))
    return out


def common_from_lightning(trainer: Any) -> dict[str, Any]:
    """What a Lightning Trainer holds once fit() has set up: its first optimizer,
    `max_epochs`, `max_steps` (-1: none), `precision`, `accumulate_grad_batches`,
    the seed of `seed_everything` ($PL_GLOBAL_SEED) and the batch size of the
    DataLoader handed to fit() (when it was a DataLoader)."""
    optimizers = getattr(trainer, "optimizers", None) or []
    out = common_from_torch_optimizer(optimizers[0]) if optimizers else {}
    max_epochs = getattr(trainer, "max_epochs", None)
    max_steps = getattr(trainer, "max_steps", -1)
    out.update({
        "epochs": max_epochs if isinstance(max_epochs, int) and max_epochs >= 0 else None,
        "max_steps": max_steps if isinstance(max_steps, int) and max_steps >= 0 else None,
        "precision": str(trainer.precision) if getattr(trainer, "precision", None) else None,
        "grad_accum_steps": _count(getattr(trainer, "accumulate_grad_batches", None)),
        "seed": _env_int("PL_GLOBAL_SEED"),
        "batch_size": _lightning_batch_size(trainer),
    })
    return out


def log_optimizer(target: Any, optimizer: Any) -> None:
    """Record an optimizer's common params (`lr`, `optimizer`, `weight_decay`) in a
    run: `target` is a SummaryWriter, a MetricWriter, any adapter with `.run`, or a
    Run. `optimizer` is a torch optimizer, or an optax state made by
    `optax.inject_hyperparams` (plain optax transformations keep their
    hyperparameters in closures: record those with write_hparams). torch's
    SummaryWriter never sees the optimizer, hence this explicit call. A value the
    user logged under one of these names is kept.

    >>> opt = torch.optim.AdamW(model.parameters(), lr=3e-4)  # doctest: +SKIP
    >>> log_optimizer(writer, opt)                              # doctest: +SKIP
    """
    if getattr(_unwrap_optimizer(optimizer), "param_groups", None) is not None:
        values = common_from_torch_optimizer(optimizer)
    elif _inject_hyperparams(optimizer) is not None:
        values = common_from_optax_state(optimizer)
    else:
        raise ValueError(f"log_optimizer() takes a torch.optim.Optimizer or an optax state "
                         f"from optax.inject_hyperparams(...), got {type(optimizer).__name__}; "
                         "e.g. log_optimizer(writer, torch.optim.Adam(model.parameters()))")
    run = _run_of(target)
    if run is not None:
        record_common(run, values)


# -- helpers ---------------------------------------------------------------------------

def _run_of(target: Any) -> Any:
    """The run behind a writer, an adapter, or a Run itself (None: a writer whose
    passed-in run is finished; it has warned)."""
    live = getattr(target, "_live_run", None)
    if callable(live):
        return live()  # a writer: reopened if it was closed
    if hasattr(target, "log_param_defaults") and not hasattr(target, "run"):
        return target
    run = getattr(target, "run", None)
    if run is None or not hasattr(run, "log_param_defaults"):
        raise ValueError(f"log_optimizer() records into a Run, a SummaryWriter, a MetricWriter "
                         f"or an adapter with an open run, got {type(target).__name__}")
    return run


def _unwrap_optimizer(optimizer: Any) -> Any:
    """The torch optimizer inside Lightning's and Accelerate's wrappers."""
    for _ in range(3):
        inner = getattr(optimizer, "optimizer", None)
        if inner is None or inner is optimizer or not hasattr(inner, "param_groups"):
            break
        optimizer = inner
    return optimizer


def _inject_hyperparams(state: Any) -> Mapping[str, Any] | None:
    hyper = getattr(state, "hyperparams", None)
    if isinstance(hyper, Mapping):
        return hyper
    if isinstance(state, (tuple, list)):
        for inner in state:
            found = _inject_hyperparams(inner)
            if found is not None:
                return found
    return None


def _lightning_batch_size(trainer: Any) -> int | None:
    loader = getattr(trainer, "train_dataloader", None)
    if loader is None:
        # Before the fit loop loads its data (where log_graph runs), the DataLoader
        # handed to fit() is only in the loop's data source (not a public attribute:
        # when it moves, batch_size is simply not recorded).
        source = getattr(getattr(trainer, "fit_loop", None), "_data_source", None)
        loader = getattr(source, "instance", None)
    batch_size = getattr(loader, "batch_size", None)
    return batch_size if isinstance(batch_size, int) else None


def _keras_seed() -> int | None:
    try:
        from keras.src.utils.rng_utils import get_random_seed
    except ImportError:  # moved in another Keras version: the seed is not recorded
        return None
    seed = get_random_seed()
    return seed if isinstance(seed, int) else None


def _env_int(name: str) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return None


def _number(value: Any) -> int | float | None:
    """A plain Python int or float (from NumPy, JAX or torch scalars too), or None.

    >>> _number(0.1), _number(None), _number(np.float32(0.5)), _number(True)
    (0.1, None, 0.5, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        number = np.asarray(value).item()
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if isinstance(number, (int, float)) and not isinstance(number, bool) \
        else None


def _count(value: Any) -> int | None:
    """A whole number as an int (`num_train_epochs=3.0` reads 3); other values as
    `_number` gives them.

    >>> _count(3.0), _count(2.5), _count(None)
    (3, 2.5, None)
    """
    number = _number(value)
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    return number  # type: ignore[return-value]


def _float32(value: Any) -> float | None:
    """A float32 read back as the shortest decimal it stands for (Keras keeps rates
    in float32 variables: 0.01 should read 0.01, not 0.0099999998).

    >>> _float32(np.float32(0.01)), _float32(0.009999999776482582)
    (0.01, 0.01)
    """
    try:
        return float(str(np.float32(np.asarray(value).item())))
    except (TypeError, ValueError):
        return None
