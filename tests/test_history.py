"""Store.history: full resolution, min/max downsampling, step ranges (both backends)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import check_schema
from trackboard.storage.write.ingest import Ingestor
from trackboard.storage.write.records import POINTS, Batch


def _seed(url: str, steps: int, spike_at: int) -> None:
    """Two runs x two keys written straight through the ingestor (fast)."""
    engine = build_engine(url)
    check_schema(engine)
    ing = Ingestor(engine)
    t0 = time.time()
    for uid in ("run-a", "run-b"):
        rec = {"uid": uid, "project": "big", "name": uid, "created_at": t0, "status": "finished"}
        for lo in range(0, steps, 50_000):
            batch = Batch(runs={uid: rec})
            for s in range(lo, min(lo + 50_000, steps)):
                batch.points.append((POINTS, uid, s, t0 + s * 0.01,
                                     {"loss": 100.0 if s == spike_at else 1.0 / (1 + s),
                                      "lr": 0.1}))
            ing.apply(batch)
    engine.dispose()


STEPS = 40_000


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def big_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hist') / 'h.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    _seed(url, STEPS, spike_at=27_777)
    return Store(url)


def test_full_resolution_history(big_store: Store) -> None:
    h = big_store.history(["run-a"], keys=["loss"])
    assert len(h) == STEPS and h["step"].is_monotonic_increasing
    assert list(h.columns) == ["run_id", "key", "step", "wall_time", "value"]
    assert h["value"].iloc[10] == 1.0 / 11


@pytest.mark.parametrize("max_points", [500, 2000])  # served from roll-ups / reduced in numpy
def test_downsampled_history_keeps_spikes_and_bounds(big_store: Store, max_points: int) -> None:
    h = big_store.history(["run-a", "run-b"], keys=["loss", "lr"], max_points=max_points)
    sizes = h.groupby(["run_id", "key"]).size()
    assert len(sizes) == 4 and (sizes <= max_points).all()
    loss = h[(h.run_id == "run-a") & (h.key == "loss")]
    assert len(loss) >= max_points // 4
    assert loss["value"].max() == 100.0 and 27_777 in loss["step"].tolist()
    assert np.all(np.diff(loss["step"].to_numpy()) > 0)
    assert loss["step"].iloc[0] == 0 and loss["value"].min() == 1.0 / STEPS


@pytest.mark.parametrize("max_points", [500, 2000])  # served from roll-ups / reduced in numpy
def test_envelope_gives_one_row_per_stretch_with_its_low_and_high(big_store: Store,
                                                                 max_points: int) -> None:
    points = big_store.history(["run-a"], keys=["loss"], max_points=max_points)
    env = big_store.history(["run-a"], keys=["loss"], max_points=max_points, envelope=True)
    assert list(env.columns) == ["run_id", "key", "step", "wall_time", "value", "low", "high"]
    # The same stretches: their min and max points, now one row each.
    assert len(env) <= max_points // 2 and len(points) >= len(env) >= len(points) // 2
    assert sorted(env["low"].tolist() + env["high"].tolist()) == pytest.approx(
        sorted(points["value"].tolist() + env.loc[env["low"] == env["high"], "low"].tolist()))
    assert (env["value"] == (env["low"] + env["high"]) / 2).all()
    assert np.all(np.diff(env["step"].to_numpy()) > 0)
    # Runs of the same steps line up stretch by stretch (a group's mean is taken there).
    both = big_store.history(["run-a", "run-b"], keys=["lr"], max_points=max_points,
                             envelope=True)
    a, b = (both[both["run_id"] == r]["step"].tolist() for r in ("run-a", "run-b"))
    assert a == b and a[-1] > STEPS - STEPS / (max_points / 2)
    # Each row sits in the middle of its stretch, wherever the min and max fell (the
    # spike at 27,777 too): evenly spaced but for the partial stretches at the ends.
    assert len(set(np.diff(env["step"].to_numpy())[1:-1])) <= 2
    spike = env[env["high"] == 100.0]  # the spike survives as its stretch's high
    assert len(spike) == 1 and abs(int(spike["step"].iloc[0]) - 27_777) < STEPS / (max_points / 2)
    # A series read whole (a narrow range) has low = high = value.
    whole = big_store.history(["run-a"], keys=["loss"], max_points=2000,
                              step_range=(100, 200), envelope=True)
    assert whole["step"].tolist() == list(range(100, 201))
    assert (whole["low"] == whole["value"]).all() and (whole["high"] == whole["value"]).all()
    assert big_store.history(["nope"], envelope=True).columns.tolist()[-2:] == ["low", "high"]


def test_narrow_step_range_is_full_resolution(big_store: Store) -> None:
    h = big_store.history(["run-a"], keys=["loss"], max_points=2000, step_range=(27_000, 28_000))
    assert h["step"].tolist() == list(range(27_000, 28_001))
    mid = big_store.history(["run-a"], keys=["loss"], max_points=1000,
                            step_range=(10_000, 30_000))
    assert len(mid) <= 1000 and mid["step"].min() >= 10_000 and mid["step"].max() <= 30_000
    tail = big_store.history(["run-a"], keys=["loss"], step_range=(STEPS - 10, None))
    assert tail["step"].tolist() == list(range(STEPS - 10, STEPS))


def test_history_of_unknown_things_is_empty(big_store: Store) -> None:
    assert big_store.history(["nope"]).empty
    assert big_store.history(["run-a"], keys=["nope"]).empty
    with pytest.raises(ValueError, match="max_points"):
        big_store.history(["run-a"], max_points=1)
