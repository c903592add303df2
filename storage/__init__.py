"""trackboard.storage: the SQL store (SQLite or PostgreSQL) behind every component."""

from trackboard.storage.errors import (
    AmbiguousRunIdError, ReadOnlyStoreError, RunNotFoundError, SchemaOutdatedError,
    SchemaTooNewError, StoreUnavailableError, StoreURLError, TrackboardError,
)
from trackboard.storage.store import Store
from trackboard.storage.urls import mask_url, resolve_url

__all__ = [
    "AmbiguousRunIdError", "ReadOnlyStoreError", "RunNotFoundError", "SchemaOutdatedError",
    "SchemaTooNewError", "Store", "StoreURLError", "StoreUnavailableError", "TrackboardError",
    "mask_url", "resolve_url",
]
