"""StoreBase: what every part of Store stands on.

Opening a database (URL, engine, schema check), connections whose driver errors
leave as trackboard's own, run ids given as prefixes, and the read-only guard.
The queries themselves live beside it, one module per concern, and Store
(store.py) puts them together: run_queries.py, history.py, admin.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from trackboard.storage.db.driver_errors import store_errors
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import check_schema, check_sqlite_file
from trackboard.storage.db.urls import mask_url, resolve_url
from trackboard.storage.errors import (
    AmbiguousRunIdError,
    ReadOnlyStoreError,
    RunNotFoundError,
)

# A run still "running" whose writer has been silent this long is shown as crashed.
# Writers send a heartbeat at least every 10 s, so a minute leaves ample slack.
CRASH_AFTER_S = 60.0

_Self = TypeVar("_Self", bound="StoreBase")


class StoreBase:
    """An open trackboard database; Store adds the queries (store.py)."""

    def __init__(self, store: str | URL | None = None, *, read_only: bool = False,
                 crash_after: float = CRASH_AFTER_S, engine: Engine | None = None) -> None:
        self.url = resolve_url(store)
        self.read_only = read_only
        self.crash_after = crash_after
        # Driver errors (server down, not a database, no permission) leave as
        # trackboard's own errors with the password masked (storage/db/driver_errors.py).
        with store_errors(self.url):
            if engine is None:
                check_sqlite_file(self.url)  # before a connection could touch the file
            self.engine = engine or build_engine(self.url, read_only=read_only)
            try:
                check_schema(self.engine, create=not read_only)
            except BaseException:
                if engine is None:
                    self.engine.dispose()
                raise
        # The driver's own placeholder, for the hot reads that bypass SQLAlchemy's
        # statement layer (always bound parameters, never values in the text).
        self._mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"

    @contextmanager
    def _connect(self, *, begin: bool = False) -> Iterator[Connection]:
        """A connection (in a transaction when `begin`); driver errors raised while it
        is used leave as trackboard's own (StoreUnavailableError, StoreRefusedError...)."""
        with store_errors(self.url), (self.engine.begin() if begin else
                                      self.engine.connect()) as conn:
            yield conn

    @property
    def display_url(self) -> str:
        """The URL with its password masked: the only form to print or show."""
        return mask_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.display_url!r}{', read_only=True' if self.read_only else ''})"

    def resolve_run_id(self, run_id: str) -> str:
        """The full id of a run given its id or a unique prefix of it (at least 4 chars)."""
        if not isinstance(run_id, str) or not run_id:
            raise RunNotFoundError(f"no run with id {run_id!r}")
        with self._connect() as conn:
            if conn.execute(text("SELECT 1 FROM runs WHERE uid = :u"), {"u": run_id}).first():
                return run_id
            if len(run_id) < 4:
                raise RunNotFoundError(f"no run with id {run_id!r}")
            like = run_id.replace("\\", "").replace("%", "").replace("_", "") + "%"
            found = list(conn.execute(text("SELECT uid FROM runs WHERE uid LIKE :p LIMIT 2"),
                                      {"p": like}).scalars())
        if not found:
            raise RunNotFoundError(f"no run with id {run_id!r}; `trackboard runs` lists them")
        if len(found) > 1:
            raise AmbiguousRunIdError(f"run id prefix {run_id!r} matches several runs; "
                                      "give more characters")
        return found[0]

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.display_url} is open read-only")
