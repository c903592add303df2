"""Child Python processes for the tests that need more than one process: writers
racing on one store, and a training process killed while its store is locked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.sqlite_lock import write_lock_held


def run_writers(code: str, url: str, count: int, steps: int, timeout: float) -> list[str]:
    """Run `count` copies of the script `code` at once, each with argv
    [url, its index, steps]; their standard outputs. Each must exit 0 and print no
    trackboard warning (an outage or a loss would)."""
    procs = [subprocess.Popen([sys.executable, "-c", code, url, str(i), str(steps)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(count)]
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0 and "trackboard:" not in err, err
        outputs.append(out)
    return outputs


# Logs 300 points while the store is locked, waits until its writer spooled them
# all, and dies as a killed training job does (SIGKILL: no atexit, no finish).
_KILLED_WHILE_SPOOLING = """
import json, os, sys, time
from pathlib import Path
from trackboard.loggers import Run
from trackboard.storage.write.writer import Writer
url, run_kwargs, spool = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] or None
writer = Writer(url, flush_interval=0.1, busy_timeout_ms=200,
                spool_directory=Path(spool) if spool else None)
run = Run(**run_kwargs, store=url, writer=writer, system_metrics=False)
for step in range(300):
    run.log({"x": float(step)})
deadline = time.time() + 30
while writer.points_spooled < 300 and time.time() < deadline:
    time.sleep(0.1)
time.sleep(0.5)  # the writer flushes the spool file at the end of its cycle
os.kill(os.getpid(), 9)
"""


def killed_while_spooling(db: Path, run_kwargs: dict[str, str],
                          spool: Path | None = None) -> None:
    """A child process logs 300 points to the SQLite store `db` through
    Run(**run_kwargs) while another process holds its write lock, and is killed once
    they are all in its spool (`spool`, or the store's default spool directory).
    Returns when the lock is released."""
    args = [f"sqlite:///{db}", json.dumps(run_kwargs), str(spool) if spool else ""]
    with write_lock_held(db, 120) as holder:
        p = subprocess.run([sys.executable, "-c", _KILLED_WHILE_SPOOLING, *args],
                           env={**os.environ}, capture_output=True, text=True, timeout=120)
        assert p.returncode == -9, p.stderr
        holder.kill()  # release the lock now
