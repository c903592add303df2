"""Optional dependencies (frameworks, TensorBoard, Visdom, pandas' Parquet engine),
imported only when a path that needs them is used, with an error that says which
trackboard extra installs them. Loggers and storage both use this one helper."""

from __future__ import annotations

import importlib
from types import ModuleType

from trackboard.storage.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise MissingExtraError (an ImportError) naming the extra.

    >>> require("json", "keras").__name__
    'json'
    >>> require("no_such_framework", "keras")
    Traceback (most recent call last):
    ...
    trackboard.storage.errors.MissingExtraError: trackboard needs no_such_framework here: pip install 'trackboard[keras]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the package is there but broken: show its own error
        raise MissingExtraError(f"trackboard needs {module} here: "
                                f"pip install 'trackboard[{extra}]'") from exc
