"""kill -9 mid-logging: the run shows as crashed once its heartbeat is stale, at most
the last second of points is lost, and the SQLite file stays intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from trackboard.storage import Store

CHILD = """
import sys, time
from trackboard.loggers import Run
run = Run(project="crash", name="victim", store=sys.argv[1])
print(run.id, flush=True)
step = 0
while True:
    run.log({"loss": 1.0 / (step + 1), "step_time": time.time()})
    step += 1
    time.sleep(0.001)
"""


def test_kill_9_loses_at_most_the_last_second(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    Store(url)
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    time.sleep(3.0)  # logging at full speed for a while
    killed_at = time.time()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    store = Store(url, crash_after=2.0)
    assert store.runs().loc[0, "status"] == "running"  # heartbeat still fresh
    hist = store.history([run_id], keys=["loss"])
    assert len(hist) > 100
    last_logged = hist["wall_time"].max()
    assert killed_at - last_logged <= 1.0, f"lost {killed_at - last_logged:.2f} s of points"
    assert hist["step"].tolist() == list(range(len(hist)))  # a prefix, no holes

    time.sleep(2.5)
    row = store.runs().iloc[0]
    assert row["status"] == "crashed"
    assert row["duration"] > 2.5  # measured up to the last heartbeat, not "now"
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
