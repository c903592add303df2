"""trackboard.storage: the SQL store (SQLite or PostgreSQL) behind every component.

Names are imported on first use, so training code that only logs (through the
writer) never pays for pandas or Alembic at import time.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Store": "trackboard.storage.store",
    "mask_url": "trackboard.storage.urls",
    "resolve_url": "trackboard.storage.urls",
    **{name: "trackboard.storage.errors" for name in (
        "AmbiguousRunIdError", "NotATrackboardStoreError", "ReadOnlyStoreError",
        "RunNotFoundError", "SchemaOutdatedError", "SchemaTooNewError", "StoreRefusedError",
        "StoreURLError", "StoreUnavailableError", "TrackboardError")},
}

__all__ = [
    "AmbiguousRunIdError", "NotATrackboardStoreError", "ReadOnlyStoreError", "RunNotFoundError",
    "SchemaOutdatedError", "SchemaTooNewError", "Store", "StoreRefusedError", "StoreURLError",
    "StoreUnavailableError", "TrackboardError", "mask_url", "resolve_url",
]

if TYPE_CHECKING:
    from trackboard.storage.errors import (
        AmbiguousRunIdError, NotATrackboardStoreError, ReadOnlyStoreError, RunNotFoundError,
        SchemaOutdatedError, SchemaTooNewError, StoreRefusedError, StoreUnavailableError,
        StoreURLError, TrackboardError,
    )
    from trackboard.storage.store import Store
    from trackboard.storage.urls import mask_url, resolve_url


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trackboard.storage' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
