"""The order of calls decides; wall time is data (issue 18, item 6). A later log() of
the same step wins over an earlier one that passed a future `wall_time=`, a point
logged after purge() survives it whatever its `wall_time`, one logged before it goes
whatever its `wall_time`; and the wall time stored is the one the caller passed."""

from __future__ import annotations

import time

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.write.writer import Writer

FUTURE = time.time() + 10 * 365 * 86400  # ten years from now
PAST = 1_000_000_000.0  # 2001


def _series(url: str, run_id: str, key: str = "x") -> dict[int, tuple[float, float]]:
    hist = Store(url).history([run_id], keys=[key], max_points=10**6)
    return {int(s): (v, w) for s, v, w in zip(hist["step"], hist["value"], hist["wall_time"])}


@pytest.fixture(params=["one batch", "a batch per call"])
def flush_between(request: pytest.FixtureRequest) -> bool:
    return request.param == "a batch per call"


def _run(url: str) -> tuple[Run, Writer]:
    writer = Writer(url, flush_interval=60.0)  # batches are cut by flush() only
    return Run(name="order", store=url, writer=writer, system_metrics=False), writer


def test_a_later_log_of_a_step_wins_over_an_earlier_future_wall_time(
        store_url: str, flush_between: bool) -> None:
    run, writer = _run(store_url)
    run.log({"x": 1.0}, step=5, wall_time=FUTURE)
    if flush_between:
        assert run.flush()
    before = time.time()
    run.log({"x": 2.0}, step=5)
    run.log({"x": 3.0}, step=6, wall_time=PAST)
    run.log({"x": 4.0}, step=6)
    run.finish()
    writer.close()
    got = _series(store_url, run.id)
    assert got[5][0] == 2.0 and before <= got[5][1] <= time.time()
    assert got[6][0] == 4.0
    s = Store(store_url).metric_summaries([run.id], keys=["x"])[run.id]["x"]
    assert (s["count"], s["last"]) == (2, 4.0)


def test_wall_time_is_stored_as_given(store_url: str) -> None:
    run, writer = _run(store_url)
    run.log({"x": 1.0}, step=0, wall_time=PAST)
    run.log({"x": 2.0}, step=1, wall_time=FUTURE)
    run.finish()
    writer.close()
    got = _series(store_url, run.id)
    assert got[0] == (1.0, PAST) and got[1] == (2.0, FUTURE)


def test_a_point_logged_after_purge_survives_it_whatever_its_wall_time(
        store_url: str, flush_between: bool) -> None:
    run, writer = _run(store_url)
    for step in range(10):
        run.log({"x": float(step)}, step=step)
    run.log({"x": 99.0}, step=20, wall_time=FUTURE)  # logged before the purge
    if flush_between:
        assert run.flush()
    run.purge(5)
    if flush_between:
        assert run.flush()
    run.log({"x": -1.0}, step=7, wall_time=PAST)  # after the purge, with an old time
    run.log({"x": -2.0}, step=8)
    run.finish()
    writer.close()
    got = _series(store_url, run.id)
    assert sorted(got) == [0, 1, 2, 3, 4, 7, 8]  # step 20 went with the purge
    assert got[7] == (-1.0, PAST) and got[8][0] == -2.0
    s = Store(store_url).metric_summaries([run.id], keys=["x"])[run.id]["x"]
    assert (s["count"], s["max"]) == (7, 4.0)  # summaries follow what is stored
