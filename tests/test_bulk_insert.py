"""The writer's bulk paths: records -> columns, multi-row INSERTs, wake-ups."""

from __future__ import annotations

import math
import sqlite3
import time
from array import array
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.write.columns import KeySets, point_columns
from trackboard.storage.write.multirow import MultiRowInsert
from trackboard.storage.write.records import POINTS
from trackboard.storage.write.writer import Writer

KEY_NAMES = ["loss", "acc", "lr", "val/loss"]
COLS = ("run_id", "key_id", "step", "wall_time", "value")

records = st.lists(st.tuples(
    st.sampled_from(["run-a", "run-b"]),
    st.integers(0, 10**6),
    st.dictionaries(st.sampled_from(KEY_NAMES), st.floats(allow_nan=False), min_size=1),
    st.booleans(),  # Run's (keys, array) form, or the importers' dict form
), max_size=60)


@settings(max_examples=60, deadline=None)
@given(records)
def test_point_columns_match_a_plain_loop(recs: list) -> None:
    run_ids = {"run-a": 1, "run-b": 2}
    ids = {k: 10 + i for i, k in enumerate(KEY_NAMES)}
    batch = [(POINTS, uid, step, 1e9 + step, tuple(m), array("d", m.values())) if as_tuple
             else (POINTS, uid, step, 1e9 + step, m) for uid, step, m, as_tuple in recs]
    want = [(run_ids[uid], ids[k], step, 1e9 + step, v)
            for uid, step, m, _ in recs for k, v in m.items()]
    asked: list[list[str]] = []

    def resolve(names: list[str]) -> dict[str, int]:
        asked.append(names)
        return ids

    cols = point_columns(batch, run_ids, KeySets(), resolve)
    assert list(zip(*(c.tolist() for c in cols))) == want
    assert len(asked) <= 1  # every new key tuple resolved in one call


def test_key_sets_start_over_past_their_limit() -> None:
    sets = KeySets()
    sets.MAX_SETS = 3
    ids = {f"k{i}": i for i in range(10)}
    for i in range(8):  # a different key set at every step
        groups = sets.groups([(f"k{i}", f"k{i + 1}")], lambda names: ids)
        assert sets.key_ids(groups).tolist() == [i, i + 1]
    assert len(sets._ids) <= 4


def test_mismatched_record_is_refused() -> None:
    bad = [(POINTS, "r", 0, 0.0, ("a", "b"), array("d", [1.0]))]
    with pytest.raises(ValueError, match="different number of keys and values"):
        point_columns(bad, {"r": 1}, KeySets(), lambda names: {"a": 1, "b": 2})


@pytest.mark.parametrize("n", [0, 1, 3, 1999, 2000, 2001, 6150])
def test_multirow_insert_stores_every_row_exactly(tmp_path: Path, n: int) -> None:
    con = sqlite3.connect(tmp_path / "bulk.db", isolation_level=None)
    con.execute("CREATE TABLE points (run_id INTEGER, key_id INTEGER, step INTEGER, "
                "wall_time REAL, value REAL, PRIMARY KEY (run_id, key_id, step)) WITHOUT ROWID")
    rng = np.random.default_rng(n)
    value = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    specials = [math.nan, math.inf, -math.inf, 5e-324, -5e-324]
    value[:min(n, len(specials))] = specials[:n]
    cols = (np.full(n, 7), rng.integers(1, 4, n), np.arange(n) * 3, rng.random(n) * 1e9, value)
    MultiRowInsert("points", COLS).write_columns(con.cursor(), cols)
    rows = con.execute("SELECT run_id, key_id, step, wall_time, value FROM points "
                       "ORDER BY step").fetchall()
    assert len(rows) == n
    got = np.array(rows, dtype=np.float64).T if rows else np.empty((5, 0))
    for c, g in zip(cols, got):
        np.testing.assert_array_equal(np.asarray(c, np.float64), g)  # NaN == NaN here


def test_statements_fit_the_sqlite_variable_limit() -> None:
    con = sqlite3.connect(":memory:")
    if not hasattr(con, "setlimit"):
        pytest.fail("needs Python 3.11+ (Connection.setlimit) to lower the limit")
    con.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    con.execute("CREATE TABLE points (run_id, key_id, step, wall_time, value)")
    MultiRowInsert("points", COLS).write_columns(con.cursor(), [np.arange(500)] * 5)
    assert con.execute("SELECT count(*) FROM points").fetchone()[0] == 500


def test_a_full_batch_is_written_without_waiting_for_the_tick(sqlite_url: str) -> None:
    writer = Writer(sqlite_url, flush_interval=60.0, batch_points=1_000)
    run = Run(store=sqlite_url, writer=writer, system_metrics=False)
    run.log({"a": -1.0}, step=0)
    assert run.flush()  # connected, and now asleep until the next tick, 60 s away
    time.sleep(0.2)
    for step in range(1, 301):
        run.log({"a": step, "b": 1.0, "c": 2.0, "d": 3.0}, step=step)  # 1,200 points
    deadline = time.monotonic() + 20
    while writer.points_written < 1_001 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer.points_written >= 1_001  # long before the tick
    run.finish()
    writer.close()
    assert len(Store(sqlite_url).history([run.id])) == 1_201


def test_many_new_keys_in_one_batch(store_url: str) -> None:
    with Run(store=store_url, system_metrics=False) as run:
        run.log({f"layer{i}/grad_norm": float(i) for i in range(1_234)}, step=0)
        run.log({f"layer{i}/grad_norm": float(-i) for i in range(0, 1_234, 2)}, step=1)
    hist = Store(store_url).history([run.id])
    assert len(hist) == 1_234 + 617
    last = hist[hist.step == 1].set_index("key")["value"]
    assert last["layer1232/grad_norm"] == -1232.0


def test_thousands_of_params_and_tags_in_one_call(store_url: str) -> None:
    config = {f"layer{i}": {"width": i, "act": "relu"} for i in range(2_500)}  # 5,000 params
    with Run(store=store_url, config=config, system_metrics=False) as run:
        run.set_tags({f"t{i}": i for i in range(3_000)})
        run.log_params({"layer7.width": 70})  # the later value wins
    stored = Store(store_url).run(run.id)
    assert len(stored["params"]) == 5_000 and stored["params"]["layer7.width"] == 70
    assert stored["params"]["layer2499.act"] == "relu"
    assert len(stored["tags"]) == 3_000 and stored["tags"]["t2999"] == "2999"
