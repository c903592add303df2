"""A SQLite file's write lock held elsewhere (what a slow or stuck writer looks like), and
waiting for what the writer thread does meanwhile."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


@contextmanager
def write_lock_held(db: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """Hold BEGIN IMMEDIATE on `db` in a child process for up to `seconds`; on exit,
    wait for the child to release it (kill it first to release early)."""
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(db), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.wait(timeout=seconds + 30)


@contextmanager
def write_lock_here(db: Path) -> Iterator[None]:
    """Another connection of this process holds the write lock of `db` until the block ends."""
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        lock.execute("ROLLBACK")
        lock.close()


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether `condition()` came true within `seconds` (polled every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
