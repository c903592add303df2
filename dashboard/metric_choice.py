"""The metrics people decide by, and the value of a metric that matters (pure).

One rule for every place that must pick metrics without being told: the Runs page's
default columns, `trackboard runs`, the hyperparameter view's default metric, and the
order of Compare's charts when the link names no metrics.

Order (`decision_order`), each step keeping the order of the step before on ties:

1. validation metrics first: a name with a part `val`, `valid`, `validation`,
   `eval`, `evaluation`, `dev` or `holdout` (`val_loss`, `eval_accuracy`,
   `loss/val`); people pick runs by what they did on data they did not train on;
2. loss-like metrics (lower is better: loss, error, mse, perplexity, ...), then
   accuracy-like ones (higher is better: accuracy, f1, auc, ...), then the others
   (a learning rate, a gradient norm);
3. counters (`epoch`, `step`, `global_step`) after every metric, `system/*` last;
4. within a step, metrics more of the runs have first (when that is known), then by
   name: Keras' `val_loss` on 8 runs before Hugging Face's `eval_loss` on 4.

The value that matters (`best_stat`): the minimum of a loss-like metric, the maximum
of an accuracy-like one, the last value of any other (a learning rate has no best).

>>> decision_order(["accuracy", "epoch", "loss", "lr", "system/cpu_percent",
...                 "val_accuracy", "val_loss"])
['val_loss', 'val_accuracy', 'loss', 'accuracy', 'lr', 'epoch', 'system/cpu_percent']
>>> [best_stat(k) for k in ("val_loss", "eval_accuracy", "learning_rate")]
['min', 'max', 'last']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

Stat = Literal["min", "max", "last"]
# Parts of a name that mean "measured on held-out data".
VALIDATION_PARTS = frozenset({"val", "valid", "validation", "eval", "evaluation", "dev",
                              "holdout"})
COUNTERS = frozenset({"epoch", "step", "global_step"})
SYSTEM_PREFIX = "system/"
# Substrings, checked in this order: a name with a loss word is lower-is-better even
# when it also holds a higher-is-better word ("accuracy_loss").
LOWER_IS_BETTER = ("loss", "error", "err", "perplexity", "mse", "mae", "rmse")
HIGHER_IS_BETTER = ("acc", "f1", "auc", "precision", "recall", "score", "iou", "map",
                    "bleu", "rouge", "r2", "reward", "return")
# How many metric columns the Runs page and `trackboard runs` show by default.
DEFAULT_COUNT = 3
_PARTS = re.compile(r"[^a-z0-9]+")


def best_stat(key: str) -> Stat:
    """Which summary of a metric is its best value: "min" for a loss-like metric,
    "max" for an accuracy-like one, "last" for any other.

    >>> best_stat("eval_loss"), best_stat("val/acc"), best_stat("grad_norm")
    ('min', 'max', 'last')
    """
    k = key.lower()
    if any(w in k for w in LOWER_IS_BETTER):
        return "min"
    if any(w in k for w in HIGHER_IS_BETTER):
        return "max"
    return "last"


def higher_is_better(key: str) -> bool:
    """Whether the best value of a metric is its maximum (accuracy) or minimum (loss);
    metrics that are neither count as lower-is-better (charts sort their hover so).

    >>> higher_is_better("val_accuracy"), higher_is_better("eval_loss")
    (True, False)
    """
    return best_stat(key) == "max"


def is_validation(key: str) -> bool:
    """Whether a metric is measured on held-out data (a name part says so).

    >>> is_validation("val_loss"), is_validation("loss/valid"), is_validation("interval")
    (True, True, False)
    """
    return not key.startswith(SYSTEM_PREFIX) and bool(
        VALIDATION_PARTS.intersection(_PARTS.split(key.lower())))


def is_metric(key: str) -> bool:
    """A metric people decide by at all: not a counter, not a system sample.

    >>> is_metric("val_loss"), is_metric("epoch"), is_metric("system/gpu0/util")
    (True, False, False)
    """
    return key not in COUNTERS and not key.startswith(SYSTEM_PREFIX)


def decision_order(keys: Iterable[str], runs_with: Mapping[str, int] | None = None
                   ) -> list[str]:
    """Metric keys in the order people decide by (see the module docstring).
    `runs_with` (key -> how many runs have it) breaks ties before names do; the order
    never depends on the order of `keys`.

    >>> decision_order(["eval_loss", "loss", "epoch", "val_loss", "val_accuracy", "f1"])
    ['eval_loss', 'val_loss', 'val_accuracy', 'loss', 'f1', 'epoch']
    >>> decision_order(["eval_loss", "val_loss"], runs_with={"eval_loss": 1, "val_loss": 2})
    ['val_loss', 'eval_loss']
    """
    kind = {"min": 0, "max": 1, "last": 2}
    have = runs_with or {}

    def rank(key: str) -> tuple[int, int, int, str]:
        if key.startswith(SYSTEM_PREFIX):
            return (3, 0, -have.get(key, 0), key)
        if key in COUNTERS:
            return (2, 0, -have.get(key, 0), key)
        return (0 if is_validation(key) else 1, kind[best_stat(key)], -have.get(key, 0), key)

    return sorted(dict.fromkeys(keys), key=rank)


def default_metrics(keys: Iterable[str], count: int = DEFAULT_COUNT) -> list[str]:
    """The first `count` metrics people decide by (no counters, no system samples).

    >>> default_metrics(["accuracy", "epoch", "loss", "val_accuracy", "val_loss"])
    ['val_loss', 'val_accuracy', 'loss']
    >>> default_metrics(["epoch", "system/cpu_percent"])
    []
    """
    return [k for k in decision_order(keys) if is_metric(k)][:count]


def summary_columns(key: str) -> list[str]:
    """The summary columns a table shows for a metric, the value that matters first:
    best then last for a loss- or accuracy-like metric, last, min and max otherwise.
    Their names are the filter language's fields (`val_loss.min < 0.3`).

    >>> summary_columns("val_loss"), summary_columns("lr")
    (['val_loss.min', 'val_loss.last'], ['lr.last', 'lr.min', 'lr.max'])
    """
    stat = best_stat(key)
    if stat == "last":
        return [f"{key}.last", f"{key}.min", f"{key}.max"]
    return [f"{key}.{stat}", f"{key}.last"]
