"""The common hyperparameter vocabulary: the names every adapter records the
training hyperparameters it can see under, beside the framework's own names.

Storage-free (a plain tuple) so the dashboard can import it to line runs of
different frameworks up: the param diff shows these first, the Runs table shows
them as its default param columns, grouping and the hyperparameter view offer them.

>>> "lr" in COMMON_PARAMS and COMMON_PARAMS[0]
'lr'
"""

from __future__ import annotations

COMMON_PARAMS: tuple[str, ...] = ("lr", "optimizer", "batch_size", "epochs", "max_steps",
                                  "weight_decay", "seed", "precision", "grad_accum_steps")
