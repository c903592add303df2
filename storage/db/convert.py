"""Sealing the rows of a store upgraded from the row-per-point layout into chunks.

Migration 0005 only renames the old `points` table to `points_head` (instant), so an
upgraded store holds every point as a head row: readable at once, as before, but
42 bytes a point. `trackboard db upgrade` then seals each series' head from its first
step on, SLICE points per transaction, the rows it sealed deleted in the same
transaction: a kill -9 loses nothing and leaves a readable store, and the next
`trackboard db upgrade` goes on from the rows still in the head. Writers may log
meanwhile (what they append is past the rows sealed here).
"""

from __future__ import annotations

from contextlib import closing
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from trackboard.storage.db.point_chunks import CHUNK_POINTS, PointLayout

SLICE = 200 * CHUNK_POINTS  # points sealed per transaction: ~5 MB of rows at most


def series_to_seal(engine: Engine) -> list[tuple[int, int, int]]:
    """(run id, key id, head rows) of every series whose head holds a chunk or more."""
    with engine.connect() as conn:
        return [(int(r), int(k), int(n)) for r, k, n in conn.execute(text(
            "SELECT run_id, key_id, count(*) FROM points_head GROUP BY run_id, key_id "
            "HAVING count(*) >= :n ORDER BY run_id, key_id"), {"n": CHUNK_POINTS})]


def seal_heads(engine: Engine, *, progress: bool = True) -> int:
    """Seal every head of `engine`'s store into chunks; returns the points sealed."""
    from tqdm import tqdm

    todo = series_to_seal(engine)
    layout = PointLayout(engine.dialect.name)
    sealed = 0
    with tqdm(total=sum(n for *_, n in todo), unit=" points", unit_scale=True,
              desc="sealing points into chunks", disable=not progress or not todo) as bar:
        for run_id, key_id, _ in todo:
            while n := _seal_slice(engine, layout, run_id, key_id):
                sealed += n
                bar.update(n)
    return sealed


def _seal_slice(engine: Engine, layout: PointLayout, run_id: int, key_id: int) -> int:
    """Seal the first whole chunks of one series' head (up to SLICE points) in one
    transaction; returns how many points were sealed (0: nothing left to seal)."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if layout.postgres:  # the writers' per-run lock (storage/write/ingest.py)
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": 0x7B000000 + run_id})
            with closing(_driver_cursor(conn)) as cur:
                step, wall, value = layout.head_front(cur, run_id, key_id, SLICE)
                rows, n = layout.seal(run_id, key_id, step, wall, value)
                if not n:
                    return 0
                layout.write_chunks(cur, rows)
                m = layout.mark
                cur.execute(f"DELETE FROM points_head WHERE run_id = {m} AND key_id = {m} AND "
                            f"step <= {m}", (run_id, key_id, int(step[n - 1])))
                return n


def _driver_cursor(conn: Any) -> Any:
    return conn.connection.driver_connection.cursor()
