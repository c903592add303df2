"""trackboard.storage: the SQL store (SQLite or PostgreSQL) behind every component.

Sub-packages by what they serve: db/ (URLs, engines, schema, migrations), write/ (the
Writer, spool, ingest), read/ (Store, filters, downsampling), interchange/
(TensorBoard, Visdom, CSV and Parquet). Shared by all, at this level: errors.py (every
error trackboard raises on purpose), rules.py (what a key, text or step may be) and
extras.py (optional dependencies).

Names are imported on first use, so training code that only logs (through the
writer) never pays for pandas or Alembic at import time.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Store": "trackboard.storage.read.store",
    "mask_url": "trackboard.storage.db.urls",
    "resolve_url": "trackboard.storage.db.urls",
    **{name: "trackboard.storage.errors" for name in (
        "AmbiguousRunIdError", "FilterError", "MissingExtraError", "NotATrackboardStoreError",
        "ReadOnlyStoreError", "RunNotFoundError", "SchemaOutdatedError", "SchemaTooNewError",
        "StoreRefusedError", "StoreURLError", "StoreUnavailableError", "TrackboardError",
        "VisdomUnavailableError")},
}

__all__ = [
    "AmbiguousRunIdError", "FilterError", "MissingExtraError", "NotATrackboardStoreError",
    "ReadOnlyStoreError", "RunNotFoundError", "SchemaOutdatedError", "SchemaTooNewError", "Store",
    "StoreRefusedError", "StoreURLError", "StoreUnavailableError", "TrackboardError",
    "VisdomUnavailableError", "mask_url", "resolve_url",
]

if TYPE_CHECKING:
    from trackboard.storage.db.urls import mask_url, resolve_url
    from trackboard.storage.errors import (
        AmbiguousRunIdError,
        FilterError,
        MissingExtraError,
        NotATrackboardStoreError,
        ReadOnlyStoreError,
        RunNotFoundError,
        SchemaOutdatedError,
        SchemaTooNewError,
        StoreRefusedError,
        StoreUnavailableError,
        StoreURLError,
        TrackboardError,
        VisdomUnavailableError,
    )
    from trackboard.storage.read.store import Store


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trackboard.storage' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
