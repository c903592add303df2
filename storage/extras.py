"""Optional dependencies of the transfer paths, imported only when a path is used."""

from __future__ import annotations

import importlib
from types import ModuleType

from trackboard.storage.errors import TrackboardError


class MissingExtraError(TrackboardError, ImportError):
    """A path needs an optional package that is not installed."""


def require(module: str, extra: str) -> ModuleType:
    """Import `module` or say which trackboard extra installs it.

    >>> require("json", "none").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{module} is not installed ({exc}); install it with "
            f"pip install 'trackboard[{extra}]'") from None
