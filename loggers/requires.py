"""Optional frameworks: import them with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import `module`, or raise ImportError naming the trackboard extra that brings it.

    >>> require("json", "keras").__name__
    'json'
    >>> require("no_such_framework", "keras")
    Traceback (most recent call last):
    ...
    ImportError: trackboard.loggers needs no_such_framework for this adapter: pip install 'trackboard[keras]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the framework is there but broken: show its own error
        raise ImportError(f"trackboard.loggers needs {module} for this adapter: "
                          f"pip install 'trackboard[{extra}]'") from exc
