"""Chunked points on PostgreSQL (issue 21): the compact arrays a chunk is stored as
(steps NULL when regular, REAL[] values when float32-exact) come back bit for bit, the
plain SQL view `points` shows exactly Store.history's rows, a later value wins inside a
sealed chunk, and an old store converts with `trackboard db upgrade` and goes back
with `trackboard db downgrade`."""

from __future__ import annotations

import math
from contextlib import closing

import numpy as np
import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, text
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import _config
from trackboard.storage.db.point_chunks import PointLayout

from tests.support.old_layout import write_old_run

pytestmark = pytest.mark.postgres

SPECIAL = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1]


def _bits(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).view(np.int64)


def _view_rows(url: str) -> list[tuple]:
    engine = build_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, key, step, wall_time, value FROM points "
                                 "ORDER BY run_id, key, step")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _assert_view_is_history(url: str, run_ids: list[str]) -> int:
    with Store(url) as store:
        h = store.history(run_ids).sort_values(["run_id", "key", "step"])
    view = _view_rows(url)
    assert len(view) == len(h)
    assert [(r[0], r[1], r[2]) for r in view] == list(zip(h["run_id"], h["key"], h["step"]))
    assert np.array_equal(_bits([r[3] for r in view]), _bits(h["wall_time"]))
    assert np.array_equal(_bits([r[4] for r in view]), _bits(h["value"]))
    return len(view)


def test_points_view_is_history_bit_for_bit_with_a_rewrite_inside_a_chunk(pg_url: str) -> None:
    rng = np.random.default_rng(7)
    f32 = rng.standard_normal(2500).astype(np.float32).astype(np.float64)
    f64 = rng.standard_normal(2500)
    f64[::97] = np.resize(SPECIAL, len(f64[::97]))
    gappy_steps = np.cumsum(rng.integers(1, 5, 2500))
    with Run(project="p", name="r", store=pg_url, system_metrics=False) as run:
        for i in range(2500):
            run.log({"f32": f32[i], "f64": f64[i], "strided": float(i % 3)}, step=i * 10)
            run.log({"gappy": float(i)}, step=int(gappy_steps[i]))
    # A later call wins inside a sealed chunk, also one the view unnests.
    with Run(id=run.id, resume="allow", store=pg_url, system_metrics=False) as again:
        again.log({"f32": 0.25, "f64": -math.inf}, step=50)
    f32[5], f64[5] = 0.25, -math.inf
    with closing(build_engine(pg_url).raw_connection()) as raw:
        cur = raw.driver_connection.cursor()
        cur.execute("SELECT count(*), count(steps), count(vals), count(vals4) FROM point_chunks")
        chunks, with_steps, with_vals, with_vals4 = cur.fetchone()
    # Every kind of chunk is there: regular steps stored as NULL (f32, f64, strided)
    # and as an array (gappy); float32-exact values as REAL[] (f32, strided, gappy),
    # the others as DOUBLE PRECISION[] (f64).
    # (How many of each depends on how the writer's batches fell.)
    assert 0 < with_steps < chunks and 0 < with_vals < with_vals4
    assert with_vals + with_vals4 == chunks
    assert _assert_view_is_history(pg_url, [run.id]) == 4 * 2500
    with Store(pg_url) as store:
        h = store.history([run.id])
    for key, expected in (("f32", f32), ("f64", f64)):
        got = h[h["key"] == key]
        assert got["step"].tolist() == list(range(0, 25000, 10))
        assert np.array_equal(_bits(got["value"]), _bits(expected))
    assert h[h["key"] == "gappy"]["step"].tolist() == gappy_steps.tolist()


@pytest.mark.parametrize("steps", [
    np.array([-(2**53) + 1, 0, 2**53 - 1]),                   # irregular, the extremes
    np.arange(-5000, 5000, 10),                               # regular, stride 10
    np.array([2**53 - 1]),                                    # one point
    np.array([3, 4, 6, 7]),                                   # nearly regular
])
def test_chunk_arrays_come_back_exactly(pg_url: str, steps: np.ndarray) -> None:
    Store(pg_url).close()  # the schema
    n = len(steps)
    rng = np.random.default_rng(n)
    wall = 1.7e9 + np.cumsum(rng.random(n))
    for values in (rng.standard_normal(n),  # float64: DOUBLE PRECISION[]
                   np.resize([2.0**-149, -0.0, math.inf, math.nan, 3.5], n)):  # REAL[]
        layout = PointLayout("postgresql")
        with closing(build_engine(pg_url).raw_connection()) as raw:
            cur = raw.driver_connection.cursor()
            cur.execute("DELETE FROM point_chunks")
            layout.write_chunks(cur, [layout.chunk_row(1, 2, steps, wall, values)])
            step, w, v = layout.read(cur, 1, 2)
            raw.driver_connection.commit()
        assert step.tolist() == steps.tolist()
        assert np.array_equal(_bits(w), _bits(wall))
        assert np.array_equal(_bits(v), _bits(values))


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_old_store_converts_to_chunks_and_back_on_postgres(pg_url: str) -> None:
    engine = build_engine(pg_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0004")
    loss = [(s, 1.0 / (s + 1)) for s in range(2500)]
    loss[7] = (7, math.nan)
    loss[1200] = (1200, -math.inf)
    write_old_run(engine, "old-run", "legacy", "v1", {"loss": loss, "acc": [(3, 0.5)]})
    engine.dispose()

    _cli("db", "upgrade", "--store", pg_url)
    with closing(build_engine(pg_url).raw_connection()) as raw:
        cur = raw.driver_connection.cursor()
        cur.execute("SELECT count(*), sum(count) FROM point_chunks")
        assert cur.fetchone() == (2, 2000)  # whole chunks sealed, the rest stays head
        cur.execute("SELECT count(*) FROM points_head")
        assert cur.fetchone() == (501,)
    with Store(pg_url) as store:
        h = store.history(["old-run"], keys=["loss"])
        assert h["step"].tolist() == list(range(2500))
        assert np.array_equal(_bits(h["value"]), _bits([v for _, v in loss]))
    assert _assert_view_is_history(pg_url, ["old-run"]) == 2501

    _cli("db", "downgrade", "0004", "--store", pg_url)
    engine = build_engine(pg_url)
    with engine.connect() as conn:
        assert "point_chunks" not in inspect(conn).get_table_names()
        assert inspect(conn).get_pk_constraint("points")["name"] == "points_pkey"
        rows = conn.execute(text("SELECT step, value FROM points WHERE key_id = (SELECT id "
                                 "FROM metric_keys WHERE name = 'loss') ORDER BY step")).all()
    engine.dispose()
    assert [r[0] for r in rows] == list(range(2500))
    assert np.array_equal(_bits([r[1] for r in rows]), _bits([v for _, v in loss]))
