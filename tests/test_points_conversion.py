"""`trackboard db upgrade` converts a row-per-point store (schema 0004) into chunks and
`db downgrade 0004` takes it back, exactly.

- The fixture tests/fixtures/store_0004.db was written by trackboard at e19e970, the
  last row-per-point layout; store_0004.json holds every series as that code read it
  back (tests/fixtures/make_store_0004.py). After the upgrade every series, the SQL
  view `points`, the summaries and roll-ups are what they were; downgraded, the
  `points` table holds the same rows again; upgraded again, the same series (the CLI
  in this process, through click's runner).
  PostgreSQL gets the fixture's rows copied into a 0004 schema.
- A conversion killed (kill -9) while it seals leaves a complete, readable store;
  the next `db upgrade` finishes it, and a training writer that logs into the store
  meanwhile loses nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alembic import command
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from trackboard.storage import Store
from trackboard.storage.db.chunk_codec import CHUNK_POINTS
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import _config
from trackboard.storage.db.schema import BUCKET_SHIFTS

from tests.support.reference import check_rollups
from tests.test_point_chunks import _bits, check_layout

FIXTURES = Path(__file__).parent / "fixtures"
# Tables of the 0004 fixture a points conversion reads or must leave as they were.
TABLES = ("projects", "runs", "metric_keys", "points", "metric_summaries", "point_buckets",
          "params", "tags")


def _cli(*args: str) -> str:
    """A `trackboard` command in this process (click's runner); its output."""
    from click.testing import CliRunner
    from trackboard.dashboard.cli import cli

    done = CliRunner().invoke(cli, list(args))
    assert done.exit_code == 0, done.output
    return done.output


def _from_json() -> list[tuple]:
    """store_0004.json as sorted (run, key, step, wall bits, value bits)."""
    rows = []
    for series, cols in json.loads((FIXTURES / "store_0004.json").read_text()).items():
        run, key = series.split("/", 1)
        for s, w, v in zip(cols["step"], cols["wall_time"], cols["value"]):
            rows.append((run, key, s, _bits(float.fromhex(w)), _bits(float.fromhex(v))))
    return sorted(rows)


def _history(url: str) -> list[tuple]:
    store = Store(url)
    try:
        hist = store.history(sorted(store.runs()["id"]))
    finally:
        store.engine.dispose()
    return sorted(zip(hist["run_id"], hist["key"], hist["step"].astype(int).tolist(),
                      map(_bits, hist["wall_time"].tolist()), map(_bits, hist["value"].tolist())))


def _rows(engine: Engine, sql: str) -> list[tuple]:
    """Rows with floats as bit patterns (NULL, SQLite's NaN, as NaN)."""
    def norm(x: Any) -> Any:
        return "nan" if x is None else _bits(float(x)) if isinstance(x, float) else x
    with engine.connect() as conn:
        return sorted(tuple(norm(x) for x in row) for row in conn.execute(text(sql)))


def _view(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, key, step, wall_time, value FROM points")).all()
    return sorted((u, k, int(s), _bits(float(w)), _bits(math.nan if v is None else float(v)))
                  for u, k, s, w, v in rows)


_OLD_POINTS = ("SELECT r.uid, k.name, p.step, p.wall_time, p.value "
               "FROM points p JOIN runs r ON r.id = p.run_id JOIN metric_keys k "
               "ON k.id = p.key_id")
_VIEW = "SELECT run_id, key, step, wall_time, value FROM points"
_SUMMARIES = ("SELECT r.uid, k.name, s.count, s.first_step, s.last_step, s.last_wall, "
              "s.last_value, s.min_step, s.min_value, s.max_step, s.max_value FROM "
              "metric_summaries s JOIN runs r ON r.id = s.run_id JOIN metric_keys k "
              "ON k.id = s.key_id")
_BUCKETS = ("SELECT r.uid, k.name, b.level, b.bucket, b.count, b.min_step, b.min_value, "
            "b.max_step, b.max_value FROM point_buckets b JOIN runs r ON r.id = b.run_id "
            "JOIN metric_keys k ON k.id = b.key_id")


def _old_points(engine: Engine) -> list[tuple]:
    return _rows(engine, _OLD_POINTS)


def _copy_fixture_to_postgres(url: str, tmp: Path) -> None:
    """The fixture's rows in a PostgreSQL database at schema 0004 (NaN as PostgreSQL
    stores it, not as SQLite's NULL)."""
    shutil.copy(FIXTURES / "store_0004.db", Path(tmp) / "old.db")
    src = build_engine(f"sqlite:///{Path(tmp) / 'old.db'}")
    dst = build_engine(url)
    with dst.begin() as conn:
        command.upgrade(_config(conn), "0004")
    with src.connect() as s, dst.begin() as d:
        for table in TABLES:
            result = s.execute(text(f"SELECT * FROM {table}"))
            cols = list(result.keys())
            rows = [dict(zip(cols, r)) for r in result]
            if table == "points":
                for r in rows:
                    r["value"] = math.nan if r["value"] is None else r["value"]
            if rows:
                d.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                               f"({', '.join(':' + c for c in cols)})"), rows)
        for table in ("projects", "runs", "metric_keys"):
            d.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT max(id) FROM {table}))"))
    src.dispose()
    dst.dispose()


@pytest.fixture
def old_store(store_url: str, tmp_path: Path) -> str:
    """A store at schema 0004 holding the fixture's rows, as the old code wrote them."""
    if store_url.startswith("sqlite"):
        shutil.copy(FIXTURES / "store_0004.db", tmp_path / "trackboard.db")
    else:
        _copy_fixture_to_postgres(store_url, tmp_path)
    return store_url


def test_the_fixture_was_written_by_the_old_layout(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "store_0004.db", tmp_path / "old.db")
    engine = build_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
        assert _old_points(engine) == _from_json()
    finally:
        engine.dispose()


def test_upgrade_downgrade_and_upgrade_again_keep_every_point(old_store: str) -> None:
    engine = build_engine(old_store)
    want = _from_json()
    assert _old_points(engine) == want
    summaries, buckets = _rows(engine, _SUMMARIES), _rows(engine, _BUCKETS)

    out = _cli("db", "upgrade", "--store", old_store)
    assert "from schema 0004 to 0005" in out and f"sealed {3000:,} points" in out, out
    assert _history(old_store) == want
    assert _view(engine) == want
    # Every series of a chunk or more is sealed: loss (2600 points) as two chunks and
    # a head of 600, the resumed run's loss (1300) as one chunk and 300.
    layout = check_layout(engine)
    assert layout == {"chunks": 3, "head": len(want) - 3 * CHUNK_POINTS}, layout
    assert _rows(engine, _SUMMARIES) == summaries and _rows(engine, _BUCKETS) == buckets
    assert check_rollups(engine) == 5
    # The runs table shows the summaries the old code stored.
    store = Store(old_store)
    runs = store.runs().set_index("id")
    for uid, key, count, first, last, _w, last_v, _ms, min_v, _xs, max_v in summaries:
        for col, v in (("last", last_v), ("min", min_v), ("max", max_v)):
            assert _bits(runs.loc[uid, f"metrics.{key}.{col}"]) == v, (uid, key, col)
        assert store.metric_summaries([uid], keys=[key])[uid][key]["count"] == count
    store.engine.dispose()

    assert "from schema 0005 to 0004" in _cli("db", "downgrade", "0004", "--store", old_store)
    assert _old_points(engine) == want  # a `points` table again, the same rows
    with engine.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn))
    assert "points" in tables and not {"points_head", "point_chunks"} & tables
    assert _rows(engine, _SUMMARIES) == summaries

    _cli("db", "upgrade", "--store", old_store)
    assert _history(old_store) == want
    assert check_layout(engine)["chunks"] == 3
    engine.dispose()


# -- kill -9 while sealing ---------------------------------------------------------------

# 800k points on SQLite, 400k on PostgreSQL (which seals more slowly): seconds to seal.
BULK_RUNS = {"sqlite": 50, "postgresql": 25}
BULK_KEYS, BULK_STEPS = 4, 4000

_BULK_SQLITE = f"""
WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < {BULK_STEPS - 1})
INSERT INTO points (run_id, key_id, step, wall_time, value)
SELECT r.id, k.id, x, 1.7e9 + x * 0.01 + r.id, ((x * 7919 + r.id * 31 + k.id) % 1000) / 997.0
FROM runs r, metric_keys k, s WHERE r.uid LIKE 'bulk%' AND k.name LIKE 'bulk/%'
ORDER BY 1, 2, 3"""
_BULK_POSTGRES = f"""
INSERT INTO points (run_id, key_id, step, wall_time, value)
SELECT r.id, k.id, x, 1.7e9::float8 + x * 0.01::float8 + r.id,
       ((x * 7919 + r.id * 31 + k.id) % 1000)::float8 / 997.0::float8
FROM runs r, metric_keys k, generate_series(0, {BULK_STEPS - 1}) x
WHERE r.uid LIKE 'bulk%' AND k.name LIKE 'bulk/%'"""


def _add_bulk(engine: Engine) -> None:
    """Many series of BULK_STEPS points each, with their summaries and roll-ups, in the
    0004 layout."""
    with engine.begin() as conn:
        pid = conn.execute(text("SELECT id FROM projects")).scalars().first()
        conn.execute(text("INSERT INTO runs (uid, project_id, name, status, created_at, "
                          "ended_at, heartbeat_at) VALUES (:u, :p, :u, 'finished', 0, 0, 0)"),
                     [{"u": f"bulk{i:03d}", "p": pid}
                      for i in range(BULK_RUNS[engine.dialect.name])])
        conn.execute(text("INSERT INTO metric_keys (name) VALUES (:n)"),
                     [{"n": f"bulk/{j}"} for j in range(BULK_KEYS)])
        conn.execute(text(_BULK_POSTGRES if engine.dialect.name == "postgresql"
                          else _BULK_SQLITE))
        rows = conn.execute(text(
            "SELECT run_id, key_id, step, wall_time, value FROM points WHERE run_id IN "
            "(SELECT id FROM runs WHERE uid LIKE 'bulk%') ORDER BY run_id, key_id, step")).all()
        r, k, s, w, v = (np.array(c) for c in zip(*rows))
        n = BULK_STEPS  # every series holds steps 0 .. n - 1, in order
        series = len(r) // n
        vals = v.reshape(series, n)
        lo, hi = vals.argmin(1), vals.argmax(1)  # first occurrence: the earliest step
        at = np.arange(series) * n
        conn.execute(text(
            "INSERT INTO metric_summaries (run_id, key_id, count, first_step, last_step, "
            "last_wall, last_value, min_step, min_value, max_step, max_value) VALUES "
            "(:r, :k, :c, 0, :l, :w, :lv, :ms, :mv, :xs, :xv)"),
            [{"r": int(r[i]), "k": int(k[i]), "c": n, "l": n - 1, "w": float(w[i + n - 1]),
              "lv": float(v[i + n - 1]), "ms": int(a), "mv": float(v[i + a]), "xs": int(b),
              "xv": float(v[i + b])} for i, a, b in zip(at.tolist(), lo.tolist(), hi.tolist())])
        buckets = []
        for i in at.tolist():
            for level, shift in enumerate(BUCKET_SHIFTS, start=1):
                for first in range(0, n, 1 << shift):
                    part = slice(i + first, i + min(n, first + (1 << shift)))
                    a, b = int(v[part].argmin()), int(v[part].argmax())
                    buckets.append({
                        "r": int(r[i]), "k": int(k[i]), "l": level, "b": first >> shift,
                        "c": part.stop - part.start, "ms": first + a,
                        "mw": float(w[part][a]), "mv": float(v[part][a]), "xs": first + b,
                        "xw": float(w[part][b]), "xv": float(v[part][b])})
        conn.execute(text(
            "INSERT INTO point_buckets (run_id, key_id, level, bucket, count, min_step, "
            "min_wall, min_value, max_step, max_wall, max_value) VALUES (:r, :k, :l, :b, :c, "
            ":ms, :mw, :mv, :xs, :xw, :xv)"), buckets)


# The bulk test compares about a million points: as columns (floats as their bit
# patterns, NaN as one pattern), sorted by run, key and step.
def _frame(run: Any, key: Any, step: Any, wall: Any, value: Any) -> pd.DataFrame:
    value = np.asarray(value, np.float64)
    value = np.where(np.isnan(value), np.nan, value)  # one NaN pattern
    run, key = (pd.Categorical(np.asarray(x, object)) for x in (run, key))
    step = np.asarray(step, np.int64)
    order = np.lexsort((step, key.codes, run.codes))  # categories are sorted
    return pd.DataFrame({"run": np.asarray(run, object)[order],
                         "key": np.asarray(key, object)[order], "step": step[order],
                         "wall": np.asarray(wall, np.float64).view(np.int64)[order],
                         "value": value.view(np.int64)[order]})


def _sql_frame(engine: Engine, sql: str, params: dict | None = None) -> pd.DataFrame:
    with engine.connect() as conn:
        stmt = text(sql)
        if params:
            stmt = stmt.bindparams(*(bindparam(k, expanding=True) for k in params))
        rows = conn.execute(stmt, params or {}).fetchall()
    cols = list(zip(*rows))
    return _frame(cols[0], cols[1], cols[2], np.array(cols[3], np.float64),
                  np.array(cols[4], np.float64))  # None (SQLite's NaN) -> NaN


def _history_frame(url: str) -> pd.DataFrame:
    store = Store(url)
    try:
        h = store.history(sorted(store.runs()["id"]))
    finally:
        store.engine.dispose()
    return _frame(h["run_id"], h["key"], h["step"], h["wall_time"], h["value"])


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want)
    pd.testing.assert_frame_equal(got, want)


# The view is checked on a few runs (on SQLite it decodes sealed chunks through JSON:
# a million points take ten seconds and more).
_SOME = {"u": ["bulk000", "bulk017", "bulk024", "fresh", "fixturelong"]}
_VIEW_SOME = _VIEW + " WHERE run_id IN :u"


def _unsealed(engine: Engine) -> int:
    """Series whose head holds a chunk or more."""
    with engine.connect() as conn:
        return len(conn.execute(text("SELECT run_id, key_id FROM points_head GROUP BY run_id, "
                                     "key_id HAVING count(*) >= :n"), {"n": CHUNK_POINTS}).all())


def _kill_while_sealing(url: str, engine: Engine) -> None:
    """Start `db upgrade`, SIGKILL it once it has sealed some chunks."""
    child = subprocess.Popen([sys.executable, "-m", "trackboard.dashboard.cli", "db", "upgrade",
                              "--store", url], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with engine.connect() as conn:
                    if conn.execute(text("SELECT count(*) FROM point_chunks")).scalar():
                        break
            except Exception:  # not created yet (the migration's transaction is open)
                pass
            time.sleep(0.005)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL, "db upgrade ended before it was killed"


@pytest.mark.slow
def test_a_conversion_killed_while_sealing_resumes_and_a_writer_loses_nothing(
        old_store: str) -> None:
    from trackboard.loggers import Run

    engine = build_engine(old_store)
    runs = BULK_RUNS[engine.dialect.name]
    last = f"bulk{runs - 1:03d}"
    _add_bulk(engine)
    want = _sql_frame(engine, _OLD_POINTS)
    summaries, buckets = _rows(engine, _SUMMARIES), _rows(engine, _BUCKETS)
    assert len(want) > runs * BULK_KEYS * BULK_STEPS

    _kill_while_sealing(old_store, engine)
    # Killed mid-way: some series sealed, most still rows in the head.
    sealed = check_layout(engine, converting=True)["chunks"]
    assert 0 < sealed and _unsealed(engine) > runs * BULK_KEYS // 4, sealed
    _same(_history_frame(old_store), want)  # readable and complete, half converted
    _same(_sql_frame(engine, _VIEW_SOME, _SOME),
          want[want["run"].isin(_SOME["u"])].reset_index(drop=True))

    # `db upgrade` again, while a training process logs into the store: a converted
    # series, one still unsealed (appended past its end and rewritten back into it),
    # and a new run.
    child = subprocess.Popen([sys.executable, "-m", "trackboard.dashboard.cli", "db", "upgrade",
                              "--store", old_store], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    logged: list[tuple[str, str, int, float, float]] = []
    for uid in ("bulk000", last):
        run = Run(id=uid, store=old_store, resume="must", system_metrics=False)
        for step in [*range(BULK_STEPS, BULK_STEPS + 1500), *range(100, 200)]:
            run.log({"bulk/0": step / 7}, step=step, wall_time=2e9 + step)
            logged.append((uid, "bulk/0", step, 2e9 + step, step / 7))
        run.finish()
    with Run(project="new", id="fresh", store=old_store, system_metrics=False) as run:
        for step in range(2500):
            run.log({"loss": step * 0.5}, step=step, wall_time=2e9 + step)
            logged.append(("fresh", "loss", step, 2e9 + step, step * 0.5))
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, out + err
    assert "up to date (schema 0005)" in out, out

    assert _unsealed(engine) == 0  # everything sealed
    check_layout(engine)
    new = _frame(*zip(*logged))
    expected = pd.concat([want, new]).drop_duplicates(["run", "key", "step"], keep="last")
    expected = expected.sort_values(["run", "key", "step"]).reset_index(drop=True)
    assert len(expected) == len(want) + 1500 * 2 + 2500
    _same(_history_frame(old_store), expected)
    _same(_sql_frame(engine, _VIEW_SOME, _SOME),
          expected[expected["run"].isin(_SOME["u"])].reset_index(drop=True))
    # Summaries and roll-ups of series the writer did not touch are what the old code
    # stored.
    for table, rows in ((_SUMMARIES, summaries), (_BUCKETS, buckets)):
        untouched = {r for r in rows if not (r[0] in ("bulk000", last) and r[1] == "bulk/0")}
        assert untouched <= set(_rows(engine, table))
    store = Store(old_store)
    for uid in ("bulk000", last):  # and those it did are exact
        got = store.metric_summaries([uid], keys=["bulk/0"])[uid]["bulk/0"]
        assert (got["count"], got["last_step"], got["last"]) == (
            BULK_STEPS + 1500, BULK_STEPS + 1499, (BULK_STEPS + 1499) / 7), got
    store.engine.dispose()
    engine.dispose()
