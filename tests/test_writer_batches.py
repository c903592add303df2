"""Writer batches around a rejected one, at any batch size; a new Run waits
(briefly) for the writer's first connection."""

from __future__ import annotations

import time
from array import array

import pytest
from trackboard.loggers import Run
from trackboard.loggers.run import CONNECT_WAIT_S
from trackboard.storage import Store
from trackboard.storage.write.records import POINTS
from trackboard.storage.write.writer import Writer

from tests.support.ports import free_port


def test_a_rejected_batch_costs_only_itself(store_url: str) -> None:
    writer = Writer(store_url, flush_interval=60.0, batch_points=100)
    run = Run(store=store_url, writer=writer, system_metrics=False)
    run.log({"a": 0.0, "b": 0.0}, step=0)
    assert run.flush()
    for step in range(1, 301):
        run.log({"a": float(step), "b": -float(step)}, step=step)
    # A record no store can take (its run was never started) fails its batch.
    writer.submit((POINTS, "never-started", 0, time.time(), ("a",), array("d", [1.0])), 1)
    for step in range(301, 601):
        run.log({"a": float(step), "b": -float(step)}, step=step)
    run.finish()
    writer.close()

    hist = Store(store_url).history([run.id])
    # Only the bad record is set aside (dead letter) and counted; nothing else is lost,
    # nothing is written twice, and the batches around it are whole.
    assert writer.points_rejected == 1 and writer.points_lost == 0
    assert len(hist) == 601 * 2
    assert not hist.duplicated(["key", "step"]).any()
    for key, sign in (("a", 1.0), ("b", -1.0)):
        one = hist[hist.key == key]
        assert (one["value"] == sign * one["step"]).all()
    assert len(list((writer.spool_directory / "rejected").glob("*"))) == 1


def test_a_new_run_starts_connected(sqlite_url: str) -> None:
    writer = Writer(sqlite_url)  # a new file: connecting creates the schema first
    run = Run(store=sqlite_url, writer=writer, system_metrics=False)
    assert writer._ready.is_set() and writer._link.ingestor is not None
    run.finish()
    writer.close()


def test_an_unreachable_store_delays_a_new_run_by_at_most_the_connect_wait() -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"  # nothing listens
    t0 = time.monotonic()
    run = Run(store=url, system_metrics=False)  # the shared writer, as users get it
    try:
        assert time.monotonic() - t0 < CONNECT_WAIT_S + 0.5
        run.log({"a": 1.0})
        t0 = time.monotonic()
        run.log({"a": 2.0})
        assert time.monotonic() - t0 < 0.05  # logging goes on into the spool
        assert not run._writer.healthy
        run.finish(timeout=5)
    finally:
        # Closed here, not at the interpreter's exit: its "2 points could not reach"
        # report belongs to this test, not to the end of the test run.
        run._writer.close(timeout=5)


@pytest.mark.slow
@pytest.mark.parametrize("batch_points", [7, 100_000])
def test_every_point_arrives_whatever_the_batch_size(store_url: str, batch_points: int) -> None:
    writer = Writer(store_url, batch_points=batch_points)
    with Run(store=store_url, writer=writer, system_metrics=False) as run:
        for step in range(2_000):
            run.log({"x": float(step), "y": step * 0.5}, step=step)
    writer.close()
    hist = Store(store_url).history([run.id])
    assert len(hist) == 4_000
    assert Store(store_url).runs()["status"].tolist() == ["finished"]
