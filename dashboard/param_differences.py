"""Which params differ between the runs on a page: the one rule behind the run
labels (labels.py), the param table (param_diff.py) and the hyperparameter view's
default axes (hparams.py), so the legend, the table and the axes agree (pure).

- A param that some runs lack is no difference between the runs that have it:
  Keras' `optimizer.beta_1` is 0.9 in every Keras run and absent elsewhere.
- Values are compared exactly as stored (0.00312341 and 0.00312344 differ), except
  that an instance counter at the end of a text is not part of it: Keras names each
  new optimizer `adam`, `adam_1`, `adam_2` within one process.
- A framework's own name for a common setting (loggers/vocabulary.py's
  HPARAM_ALIASES: `learning_rate`, `optimizer.learning_rate` for `lr`) is left out
  when a param listed before it under the same common name holds the same value in
  every run that has it (as displayed: Keras' float32 0.003000000026 is lr's 0.003).
- Order: the common names (`lr`, `optimizer`, `batch_size`...) first, each followed
  by the frameworks' own names for it; then the params more runs have; then by name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from trackboard.dashboard.number_format import readable
from trackboard.dashboard.tables import shown
from trackboard.loggers.vocabulary import COMMON_PARAMS, HPARAM_ALIASES

_COUNTER = re.compile(r"_\d+$")


def same_as(value: object) -> str:
    """What a value is compared by: its text as stored, less an instance counter
    ('' when missing).

    >>> same_as("adam_2"), same_as("adam"), same_as(0.1), same_as(None), same_as("resnet_50")
    ('adam', 'adam', '0.1', '', 'resnet')
    """
    text = shown(value)
    return _COUNTER.sub("", text) if isinstance(value, str) else text


def differs(values: Sequence[object]) -> bool:
    """Whether the runs that HAVE a param hold different values of it.

    >>> differs([0.9, None, None]), differs(["adam", "adam_1", None]), differs([0.1, 0.01])
    (False, False, True)
    """
    return len({same_as(v) for v in values} - {""}) > 1


def common_name(param: str) -> str:
    """The common name a param's last part stands for (`optimizer.learning_rate` -> `lr`).

    >>> common_name("optimizer.learning_rate"), common_name("lr"), common_name("hidden")
    ('lr', 'lr', 'hidden')
    """
    last = param.rsplit(".", 1)[-1]
    return HPARAM_ALIASES.get(last, last)


def repeats(values: Sequence[object], of: Sequence[object]) -> bool:
    """Whether each run's present value in `values` reads as its value in `of`.

    >>> repeats([0.003000000026, None], [0.003, 0.01]), repeats([0.5], [0.003])
    (True, False)
    """
    return all(readable(v) == readable(o) for v, o in zip(values, of) if shown(v))


def differing_params(runs: pd.DataFrame) -> list[str]:
    """The param keys (without `params.`) whose values differ between the runs of
    `runs` (a Store.runs frame) that have them, in the order to show them.

    >>> runs = pd.DataFrame({
    ...     "params.hidden": [16, 16, 32], "params.lr": [0.1, 0.01, 0.1],
    ...     "params.learning_rate": [0.1, None, 0.1],          # HF's name, same values
    ...     "params.optimizer.learning_rate": [0.10000000149, 0.01, None],  # Keras, float32
    ...     "params.optimizer.name": ["adam", "adam_1", None],  # Keras' counter
    ...     "params.beta_1": [0.9, None, 0.9],                  # missing is no difference
    ...     "params.wd": [0.0, 0.1, None]})
    >>> differing_params(runs)
    ['lr', 'wd', 'hidden']
    """
    values = {c.removeprefix("params."): runs[c].tolist()
              for c in runs.columns if c.startswith("params.")}
    rank = {k: i for i, k in enumerate(COMMON_PARAMS)}

    def place(key: str) -> tuple[int, bool, int, str]:
        name = common_name(key)  # a framework's own name ranks with its common name
        return (rank.get(name, len(rank)), key != name,
                -sum(bool(shown(v)) for v in values[key]), key)

    chosen: list[str] = []
    for key in sorted((k for k, vs in values.items() if differs(vs)), key=place):
        name = common_name(key)
        if not any(common_name(c) == name and repeats(values[key], values[c]) for c in chosen):
            chosen.append(key)
    return chosen
