"""SQLite bulk path: new points go in as multi-row INSERT ... VALUES statements.

sqlite3's executemany binds and steps one row per call into SQLite, taking the
GIL back after every row. Next to a busy training loop that means the writer
thread waits for the GIL once per row (the interpreter hands it over every 5 ms),
so it crawls while the loop runs. A statement of ROWS_PER_STATEMENT rows binds
its parameters in one go and then inserts for several milliseconds without the
GIL: the writer runs on the other core beside the loop. It also pays SQLite's
per-statement work (reset, step, bind calls from Python) once per 2,000 rows:
alone, with plain sqlite3, such statements insert the same rows about twice as
fast as one-row executemany (bench/foundation.py: raw_sqlite_multirow against
raw_sqlite_ceiling).
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from typing import Any

import numpy as np

COLUMNS = ("run_id", "key_id", "step", "wall_time", "value")

# Rows per statement: ~10,000 bound parameters, a few milliseconds of SQLite work
# (about one GIL switch interval) per call. Capped below by the build's variable limit.
ROWS_PER_STATEMENT = 2000


def rows_per_statement(con: sqlite3.Connection) -> int:
    """The most rows one statement may carry on this connection's SQLite build.

    >>> rows_per_statement(sqlite3.connect(":memory:")) >= 199
    True
    """
    if hasattr(con, "getlimit"):  # Python 3.11+
        limit = con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    else:  # the compile-time default: 32766 since SQLite 3.32, 999 before
        limit = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    return max(1, min(ROWS_PER_STATEMENT, limit // len(COLUMNS)))


def insert_sql(table: str, rows: int) -> str:
    """INSERT of `rows` rows of points, all parameters bound.

    >>> insert_sql("points", 2).split(" VALUES ")[1]
    '(?, ?, ?, ?, ?), (?, ?, ?, ?, ?)'
    """
    row = "(" + ", ".join(["?"] * len(COLUMNS)) + ")"
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES " + ", ".join([row] * rows)


class PointInserter:
    """Inserts columns of points with plain INSERTs (the rows must not exist yet)."""

    def __init__(self, table: str = "points") -> None:
        self.table = table
        self._sql: dict[int, str] = {}

    def insert(self, cur: Any, run_id: np.ndarray, key_id: np.ndarray, step: np.ndarray,
               wall: np.ndarray, value: np.ndarray) -> None:
        """NaN is bound as NaN, which SQLite stores as NULL (read back as NaN)."""
        columns = (run_id, key_id, step, wall, value)

        def params(lo: int, hi: int) -> list[Any]:
            # Built a statement at a time, so a batch never holds more than one
            # statement's worth of Python objects.
            return list(chain.from_iterable(zip(*(c[lo:hi].tolist() for c in columns))))

        per = rows_per_statement(cur.connection)
        n = len(step)
        full = n - n % per
        if full:
            cur.executemany(self._statement(per),
                            (params(lo, lo + per) for lo in range(0, full, per)))
        # The rest in power-of-two statements, so a handful of prepared statements
        # serves every batch size.
        at = full
        while at < n:
            size = 1 << ((n - at).bit_length() - 1)
            cur.execute(self._statement(size), params(at, at + size))
            at += size

    def _statement(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            sql = self._sql[rows] = insert_sql(self.table, rows)
        return sql
