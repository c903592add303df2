"""Multi-row INSERT ... VALUES statements: many rows per statement, all bound.

The writer shares the GIL with the training loop, and every call into the driver
gives the GIL up: sqlite3 does so for every row it steps, stored or fetched.
While a training loop keeps the interpreter busy, each such hand-over costs the
writer a wait of up to one switch interval (5 ms), so one-row executemany crawls
exactly when there is most to write (bench/foundation.py measures it). A
statement of a few thousand rows binds its parameters in one go and then works
for milliseconds without the GIL: a handful of hand-overs per batch instead of
one per row. It also pays SQLite's per-statement work once per statement: alone,
with plain sqlite3, such statements insert points about twice as fast as one-row
executemany (bench/foundation.py: raw_sqlite_multirow against raw_sqlite_ceiling).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# Bound parameters per statement (6,400 points): ~10 ms of SQLite work per GIL
# hand-over. Next to a busy training loop this wrote 40% more than 10,000-parameter
# statements, and alone it is no slower. Capped by the driver's limit (SQLite's
# default is 32,766).
PARAMS_PER_STATEMENT = 32_000
POSTGRES_MAX_PARAMS = 65_535


def max_params(con: Any) -> int:
    """The most parameters one statement may bind on this DBAPI connection.

    >>> max_params(sqlite3.connect(":memory:")) >= 999
    True
    """
    if not isinstance(con, sqlite3.Connection):
        return POSTGRES_MAX_PARAMS
    if hasattr(con, "getlimit"):  # Python 3.11+
        return int(con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    # the compile-time default: 32766 since SQLite 3.32, 999 before
    return 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


class MultiRowInsert:
    """INSERT INTO table (columns) VALUES (...), (...) ... [conflict clause].

    >>> ins = MultiRowInsert("t", ("a", "b"), on_conflict="ON CONFLICT DO NOTHING")
    >>> ins.sql(2)
    'INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING'
    >>> con = sqlite3.connect(":memory:")
    >>> _ = con.execute("CREATE TABLE t (a PRIMARY KEY, b)")
    >>> ins.write_rows(con.cursor(), [(1, "x"), (2, "y"), (1, "z")])
    >>> con.execute("SELECT * FROM t").fetchall()
    [(1, 'x'), (2, 'y')]
    """

    def __init__(self, table: str, columns: Sequence[str], *, mark: str = "?",
                 on_conflict: str = "") -> None:
        self.table = table
        self.columns = tuple(columns)
        self.mark = mark
        self.on_conflict = on_conflict
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            row = "(" + ", ".join([self.mark] * len(self.columns)) + ")"
            sql = (f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES "
                   + ", ".join([row] * rows))
            if self.on_conflict:
                sql += " " + self.on_conflict
            self._sql[rows] = sql
        return sql

    def write_rows(self, cur: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Rows of plain Python values (None for NULL)."""
        self._write(cur, len(rows), lambda lo, hi: list(chain.from_iterable(rows[lo:hi])))

    def write_columns(self, cur: Any, columns: Sequence[np.ndarray]) -> None:
        """Equal-length numpy columns, one per column name. NaN is bound as NaN
        (SQLite stores it as NULL, read back as NaN)."""
        self._write(cur, len(columns[0]), lambda lo, hi: list(
            chain.from_iterable(zip(*(c[lo:hi].tolist() for c in columns)))))

    def _write(self, cur: Any, n: int, params: Callable[[int, int], list[Any]]) -> None:
        # Parameters are built a statement at a time, so a batch never holds more
        # than one statement's worth of Python objects.
        width = len(self.columns)
        per = max(1, min(PARAMS_PER_STATEMENT, max_params(cur.connection)) // width)
        full = n - n % per
        if full:
            cur.executemany(self.sql(per), (params(lo, lo + per) for lo in range(0, full, per)))
        # The rest in power-of-two statements: a handful of statement texts (and
        # prepared statements) serve every batch size.
        at = full
        while at < n:
            size = 1 << ((n - at).bit_length() - 1)
            cur.execute(self.sql(size), params(at, at + size))
            at += size


def replace_clause(key: tuple[str, ...], cols: tuple[str, ...], where: str = "") -> str:
    """ON CONFLICT clause that overwrites the stored row with the new one.

    >>> replace_clause(("k",), ("k", "v"))
    'ON CONFLICT (k) DO UPDATE SET v = excluded.v'
    """
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in key)
    return f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}{where}"


def driver_cursor(conn: Connection) -> closing[Any]:
    """A cursor of the DBAPI connection under `conn`, for the bulk paths that bypass
    SQLAlchemy's per-statement work; closed on leaving the `with` block."""
    return closing(conn.connection.driver_connection.cursor())  # type: ignore[union-attr]


def write_rows(conn: Connection, insert: MultiRowInsert, rows: list[tuple]) -> None:
    """`insert` these rows through the driver under `conn` (nothing when there are none)."""
    if rows:
        with driver_cursor(conn) as cur:
            insert.write_rows(cur, rows)
