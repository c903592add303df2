"""Store: the query API every reader uses (CLI, dashboard, exporters).

Writes from training code never come through here; they go through the writer
(storage/write/writer.py). Store only writes for administration: renaming,
tagging, deleting.

Store is one class for users, assembled from one module per concern:
store_base.py (opening, connections, run ids), run_queries.py (projects, the runs
table, one run, keys), history.py (metric points, downsampled), media.py (histograms,
distributions, images, texts) and admin.py (rename, tags, delete).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from trackboard.storage.read.admin import StoreAdmin
from trackboard.storage.read.history import HistoryReads
from trackboard.storage.read.media import MediaReads
from trackboard.storage.read.run_queries import RunQueries
from trackboard.storage.read.store_base import CRASH_AFTER_S

__all__ = ["CRASH_AFTER_S", "Store", "opened_store"]


class Store(RunQueries, HistoryReads, MediaReads, StoreAdmin):
    """A trackboard database.

    >>> store = Store("sqlite:///trackboard.db")               # doctest: +SKIP
    >>> store.runs(project="churn")                            # doctest: +SKIP
    >>> store.history([run_id], keys=["loss"], max_points=2000)  # doctest: +SKIP
    >>> store.histograms([run_id], keys=["weights/fc1"])          # doctest: +SKIP

    `Store(url, read_only=False, crash_after=60.0, engine=None)`: `url` as
    resolve_url takes it (None: $TRACKBOARD_STORE, else ./trackboard.db); a running
    run silent for `crash_after` seconds shows as "crashed".
    """


@contextmanager
def opened_store(store: str | URL | Store | None, *, read_only: bool = True) -> Iterator[Store]:
    """The Store to use for `store`: a Store is used as it is (and left open), a URL or
    None ($TRACKBOARD_STORE, else the default file) is opened here and closed after.
    Every exporter and importer takes its store this way.

    >>> with opened_store("sqlite://") as db:  # doctest: +SKIP
    ...     db.runs()
    """
    if isinstance(store, Store):
        yield store
        return
    db = Store(store, read_only=read_only)
    try:
        yield db
    finally:
        db.close()
