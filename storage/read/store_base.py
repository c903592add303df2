"""StoreBase: what every part of Store stands on.

Opening a database (URL, engine, schema check), connections whose driver errors
leave as trackboard's own, run ids given as prefixes (compared exactly, never with
LIKE), the check of user text a read compares with, and the read-only guard.
The queries themselves live beside it, one module per concern, and Store
(store.py) puts them together: run_queries.py, history.py, admin.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import bindparam, text
from sqlalchemy.engine import URL, Connection, Engine
from trackboard.storage.db.driver_errors import store_errors
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import check_schema, check_sqlite_file
from trackboard.storage.db.point_chunks import PointLayout
from trackboard.storage.db.urls import mask_url, resolve_url
from trackboard.storage.errors import (
    AmbiguousRunIdError,
    ReadOnlyStoreError,
    RunNotFoundError,
)
from trackboard.storage.rules import check_text

# A run still "running" whose writer has been silent this long is shown as crashed.
# Writers send a heartbeat at least every 10 s, so a minute leaves ample slack.
CRASH_AFTER_S = 60.0

# A run id prefix needs this many characters; an ambiguous one lists this many runs.
MIN_PREFIX = 4
SHOW_CANDIDATES = 5

_Self = TypeVar("_Self", bound="StoreBase")


def query_text(values: Iterable[str], what: str) -> None:
    r"""User text a read compares with stored text (ids, keys, project names) must be
    text a store can hold: a NUL character or a lone surrogate raises ValueError in
    one line, the same on both backends (PostgreSQL's driver would refuse it with an
    error of its own, SQLite would just find nothing).

    >>> query_text(["loss", "val/acc"], "metric key")
    >>> query_text(["lo\x00ss"], "metric key")
    Traceback (most recent call last):
    ...
    ValueError: metric key 'lo\x00ss' contains a NUL character ('\x00'); remove it, e.g. text.replace('\x00', '')
    """
    for value in values:
        if isinstance(value, str):
            check_text(value, what)


def _candidates(rows: Sequence[Any]) -> str:
    return ", ".join(f"{uid} ({name})" for uid, name in rows)


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
        self._layout = PointLayout(self.engine.dialect.name)

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
        """The full id of a run given its id or a unique prefix of it (at least 4
        characters). The prefix is compared exactly, character by character and
        case-sensitively, on both backends: `mlp_s` never finds `mlpseed30`.
        RunNotFoundError when no run matches, AmbiguousRunIdError (naming the
        candidates) when several do: a rename or a delete never guesses."""
        if not isinstance(run_id, str) or not run_id:
            raise RunNotFoundError(f"no run with id {run_id!r}; `trackboard runs` lists them")
        try:
            query_text([run_id], "run id")
        except ValueError as exc:  # no stored id holds such text
            raise RunNotFoundError(str(exc)) from None
        with self._connect() as conn:
            if conn.execute(text("SELECT 1 FROM runs WHERE uid = :u"), {"u": run_id}).first():
                return run_id
            if len(run_id) < MIN_PREFIX:
                raise RunNotFoundError(
                    f"no run with id {run_id!r}; a prefix needs at least {MIN_PREFIX} "
                    "characters (`trackboard runs` lists the ids)")
            # substr, not LIKE: `_` and `%` are LIKE wildcards, and SQLite's LIKE
            # ignores case. A scan of the runs table, which holds one row per run.
            found = conn.execute(text(
                "SELECT uid, name FROM runs WHERE substr(uid, 1, :n) = :p ORDER BY uid "
                "LIMIT :most"), {"n": len(run_id), "p": run_id, "most": SHOW_CANDIDATES + 1}
            ).all()
            if not found:
                near = conn.execute(text(
                    "SELECT uid, name FROM runs WHERE lower(substr(uid, 1, :n)) = :p "
                    "ORDER BY uid LIMIT :most"),
                    {"n": len(run_id), "p": run_id.lower(), "most": SHOW_CANDIDATES}).all()
        if not found:
            hint = (f"; ids are case-sensitive: did you mean {_candidates(near)}?" if near
                    else "; `trackboard runs` lists them")
            raise RunNotFoundError(f"no run with id {run_id!r} or an id starting with it{hint}")
        if len(found) > 1:
            more = " and more" if len(found) > SHOW_CANDIDATES else ""
            raise AmbiguousRunIdError(
                f"run id prefix {run_id!r} matches several runs: "
                f"{_candidates(found[:SHOW_CANDIDATES])}{more}; give more characters")
        return str(found[0][0])

    def known_run_ids(self, run_ids: Iterable[str]) -> set[str]:
        """The whole ids among `run_ids` that name runs of this store, in one query per
        900 (a link's selection; prefixes go through resolve_run_id)."""
        uids = [u for u in dict.fromkeys(run_ids) if isinstance(u, str)]
        query_text(uids, "run id")
        stmt = text("SELECT uid FROM runs WHERE uid IN :u").bindparams(
            bindparam("u", expanding=True))
        found: set[str] = set()
        with self._connect() as conn:
            for i in range(0, len(uids), 900):  # below the drivers' parameter limits
                found.update(conn.execute(stmt, {"u": uids[i:i + 900]}).scalars())
        return found

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.display_url} is open read-only")
