"""Trouble is reported once per episode: a store that flaps (available for a moment,
then gone again, many times) gives one "unavailable" and one "back" message, not one
per retry, and every point still arrives."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.write.writer import Writer

pytestmark = pytest.mark.slow  # a flapping store in another process

FLAPPER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
end = time.time() + float(sys.argv[2])
print("flapping", flush=True)
while time.time() < end:
    con.execute("BEGIN IMMEDIATE")  # the store is gone...
    time.sleep(0.5)
    con.execute("COMMIT")           # ...and back for a moment
    time.sleep(0.15)
"""


def _impatient_run(db: Path, name: str, max_backoff: float,
                   settle_s: float) -> tuple[str, Writer, Run]:
    """A new store at `db` and a Run on it whose writer waits only 20 ms for a lock and
    retries quickly, so an outage episode lasts seconds; (url, writer, run)."""
    url = f"sqlite:///{db}"
    Store(url).close()
    writer = Writer(url, flush_interval=0.05, busy_timeout_ms=20, max_backoff=max_backoff,
                    settle_s=settle_s)
    return url, writer, Run(name=name, store=url, writer=writer, system_metrics=False)


@pytest.mark.slow
def test_a_flapping_store_is_reported_once_per_episode(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "flap.db"
    url, writer, run = _impatient_run(db, "flappy", max_backoff=0.3, settle_s=2.0)
    messages = lambda: [r.getMessage() for r in caplog.records]  # noqa: E731
    with caplog.at_level(logging.INFO, logger="trackboard"):
        flapper = subprocess.Popen([sys.executable, "-c", FLAPPER, str(db), "10"],
                                   stdout=subprocess.PIPE, text=True)
        assert flapper.stdout is not None and flapper.stdout.readline().strip() == "flapping"
        step = 0
        t0 = time.monotonic()
        while flapper.poll() is None:
            run.log({"x": float(step)}, step=step)
            step += 1
            time.sleep(0.002)
        flapping_s = time.monotonic() - t0
        during = messages()
        # The store has been back for good: once it stayed healthy for settle_s, "back"
        # is said once.
        deadline = time.monotonic() + 30
        while not any("is back (" in m for m in messages()) and time.monotonic() < deadline:
            run.log({"x": float(step)}, step=step)
            step += 1
            time.sleep(0.01)
        run.finish()
        writer.close()
    assert flapping_s > 8
    unavailable = [m for m in during if "is unavailable" in m]
    assert len(unavailable) == 1, during
    assert not [m for m in during if "is back (" in m], during
    after = messages()
    assert len([m for m in after if "is unavailable" in m]) == 1, after
    assert len([m for m in after if "is back (" in m]) == 1, after
    assert len(after) <= 3, after  # unavailable, back, and nothing per retry
    assert len(Store(url).history([run.id])) == step


def test_the_next_episode_is_reported_again(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.sqlite_lock import write_lock_held

    db = tmp_path / "twice.db"
    url, writer, run = _impatient_run(db, "twice", max_backoff=0.2, settle_s=0.5)
    with caplog.at_level(logging.WARNING, logger="trackboard"):
        for episode in range(2):
            with write_lock_held(db, 1.0):
                for step in range(episode * 100, episode * 100 + 100):
                    run.log({"x": float(step)}, step=step)
                    time.sleep(0.005)
            deadline = time.monotonic() + 20
            while (sum("is back (" in r.getMessage() for r in caplog.records) <= episode
                   and time.monotonic() < deadline):
                time.sleep(0.05)
        run.finish()
        writer.close()
    text = [r.getMessage() for r in caplog.records]
    assert sum("is unavailable" in m for m in text) == 2, text
    assert sum("is back (" in m for m in text) == 2, text
    assert len(Store(url).history([run.id])) == 200
