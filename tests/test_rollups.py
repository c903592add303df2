"""Roll-up buckets and per-series summaries stay exact under any write pattern:
appends, rewrites of old steps, steps going backwards, NaN, and replays."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from trackboard.storage.db import rollup
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import check_schema
from trackboard.storage.db.schema import BUCKET_SHIFTS
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import POINTS, Batch

from tests.support.reference import check_rollups

RUN = {"uid": "r1", "project": "p", "name": "n", "created_at": 0.0, "status": "running"}

values = st.one_of(st.floats(-1e6, 1e6, allow_nan=False, width=64), st.just(math.nan),
                   st.just(math.inf), st.just(-math.inf), st.integers(-3, 3).map(float))
steps = st.one_of(st.integers(0, 300), st.integers(0, 2**22))
log_calls = st.lists(st.tuples(steps, st.dictionaries(st.sampled_from(["a", "b", "c"]), values,
                                                       min_size=1)), min_size=1, max_size=60)
batches = st.lists(log_calls, min_size=1, max_size=6)


def _apply(ingestor: Ingestor, calls_per_batch: list, clock: list[float]) -> dict:
    expected: dict[tuple[str, int], float] = {}
    for calls in calls_per_batch:
        batch = Batch(runs={"r1": RUN})
        for step, metrics in calls:
            clock[0] += 1.0
            batch.points.append((POINTS, "r1", step, clock[0], dict(metrics)))
            for k, v in metrics.items():
                expected[(k, step)] = v
        ingestor.apply(batch)
    return expected


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
@example([[(0, {"a": 0.0, "b": math.nan, "c": math.inf})],   # found by hypothesis: a tie
          [(0, {"a": 0.0}), (1, {"c": math.inf})]])           # keeps the earlier step
def test_rollups_match_brute_force(calls_per_batch: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(f"sqlite:///{Path(tmp) / 'r.db'}")
        check_schema(engine)
        expected = _apply(Ingestor(engine), calls_per_batch, [time.time()])
        assert check_rollups(engine) >= 1
        # Later value wins, whatever the batch boundaries.
        from trackboard.storage import Store

        hist = Store(engine=engine, store=str(engine.url)).history(["r1"])
        got = {(k, s): v for k, s, v in zip(hist["key"], hist["step"], hist["value"])}
        assert got.keys() == expected.keys()
        for key, v in expected.items():
            assert (math.isnan(v) and math.isnan(got[key])) or got[key] == v, key
        engine.dispose()


def test_rollups_exact_across_batches(store_url: str) -> None:
    # The core suite's check of summaries and roll-ups (the brute-force fuzz above is
    # slow): several batches of one series, appended, rewritten and going backwards.
    engine = build_engine(store_url)
    check_schema(engine)
    rng = np.random.default_rng(0)
    calls = [[(int(s), {"a": float(rng.normal()), "b": float(s)}) for s in range(i, i + n)]
             for i, n in ((0, 150), (100, 150), (5000, 150), (50, 150),
                          (9000, 20_000), (12_000, 500))]
    # overlaps, steps going backwards, and a batch big enough (hundreds of roll-up
    # rows) to take the COPY-and-upsert path instead of executemany
    calls.append([(7, {"a": math.nan}), (70000, {"a": 1e9})])
    # appended buckets with no value (all NaN), or with infinities: the rows the binary
    # roll-up COPY cannot hold (NULL), and ones it can
    calls.append([(s, {"a": math.nan, "b": math.inf if s % 2 else -math.inf})
                  for s in range(80_000, 80_400)])
    _apply(Ingestor(engine), calls, [time.time()])
    assert check_rollups(engine) == 2
    with engine.connect() as conn:  # "no value" is NULL on both backends, never a NaN
        nan, null = conn.execute(text(
            "SELECT SUM(CASE WHEN min_value = 'NaN' OR max_value = 'NaN' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN min_value IS NULL THEN 1 ELSE 0 END) FROM point_buckets")).one()
    assert nan == 0 and null >= len(BUCKET_SHIFTS)
    engine.dispose()


def test_replaying_older_data_does_not_overwrite_newer() -> None:
    """From a spool file the store cannot know the order of calls: the newer wall time
    stays. Delivered live, in call order, the later call replaces it."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_engine(f"sqlite:///{Path(tmp) / 'r.db'}")
        check_schema(engine)
        ing = Ingestor(engine)
        newer = Batch(runs={"r1": RUN}, points=[(POINTS, "r1", 5, 200.0, {"a": 2.0})])
        older = Batch(runs={"r1": RUN}, points=[(POINTS, "r1", 5, 100.0, {"a": 1.0})])
        ing.apply(newer)
        ing.apply(older, replay=True)  # a spool file delivered late
        from trackboard.storage import Store

        store = Store(engine=engine, store=str(engine.url))
        assert store.history(["r1"])["value"].tolist() == [2.0]
        check_rollups(engine)
        # In call order (live delivery) the later call wins, whatever its wall time.
        ing.apply(older)
        assert store.history(["r1"])["value"].tolist() == [1.0]
        check_rollups(engine)
        engine.dispose()


def test_aggregate_keeps_spikes_and_counts() -> None:
    step = np.arange(1000)
    value = np.zeros(1000)
    value[537] = 99.0
    value[12] = -5.0
    pts = rollup.Buckets.of_points(np.zeros(1000, np.int64), step, np.zeros(1000), value)
    b = rollup.aggregate(pts, step >> 6)
    assert b.count.sum() == 1000 and len(b) == 16
    assert 99.0 in b.max_value and 537 in b.max_step and -5.0 in b.min_value
