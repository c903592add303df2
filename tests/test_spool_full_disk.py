"""A full disk under the spool: a write that fails part-way leaves no partial frame,
what could not be spooled waits in memory (or is counted and said), and everything
logged after space came back is delivered (issue 18, item 1).

The disk is really full: a small tmpfs where the tests may mount one (root, as in CI),
else RLIMIT_FSIZE in the writing process (see tests/support/full_disk.py)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from array import array
from pathlib import Path

import pytest
from trackboard.storage import Store
from trackboard.storage.write.records import POINTS, RUN
from trackboard.storage.write.spool import SpoolReader, SpoolWriter
from trackboard.storage.write.sync import deliver_spool

from tests.support.full_disk import CHILD, spool_on_a_full_disk
from tests.support.ports import free_port


def _records(uid: str, steps: range) -> list[tuple]:
    return [(POINTS, uid, s, 1e9 + s, ("a", "b"), array("d", [float(s), 1.0])) for s in steps]


def _run(uid: str) -> tuple:
    return (RUN, {"uid": uid, "project": "full", "name": uid, "framework": None, "host": "h",
                  "git_commit": None, "command": "c", "created_at": 1e9, "status": "running"})


class _Refusing:
    """Makes the folder's disk full now (tmpfs: the filler is there already; rlimit:
    this process's file size limit drops to the folder's limit) and frees it again."""

    def __init__(self, disk) -> None:
        self.disk = disk
        self.saved = None

    def __enter__(self) -> None:
        if self.disk.mode == "rlimit":
            self.saved = (signal.signal(signal.SIGXFSZ, signal.SIG_IGN),
                          resource.getrlimit(resource.RLIMIT_FSIZE))
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.disk.limit, self.saved[1][1]))

    def __exit__(self, *exc: object) -> None:
        if self.disk.mode == "rlimit":
            resource.setrlimit(resource.RLIMIT_FSIZE, self.saved[1])
            signal.signal(signal.SIGXFSZ, self.saved[0])
        else:
            self.disk.filler.unlink()


def test_a_write_refused_part_way_leaves_no_partial_frame(tmp_path: Path) -> None:
    """The kernel refuses an append in the middle of a frame (ENOSPC on a full tmpfs,
    or EFBIG past RLIMIT_FSIZE): the file is cut back to where that append began, so
    every later append reads back and nothing is taken for damage."""
    with spool_on_a_full_disk(tmp_path) as disk:
        writer = SpoolWriter(disk.folder, lambda: [_run("u")])
        refused = []
        written: list[int] = []
        with _Refusing(disk):
            for i in range(40):  # 40 appends of ~12 KiB: far more than the free 96 KiB
                part = range(i * 500, (i + 1) * 500)
                try:
                    writer.append(_records("u", part))
                    written.extend(part)
                except OSError as exc:
                    refused.append(exc.errno)
                    assert writer.path is not None
                    # Cut back: the file ends where a whole frame ended.
                    assert sum(1 for _ in SpoolReader(writer.path)) >= 1
                    reader = SpoolReader(writer.path)
                    list(reader)
                    assert not reader.torn and reader.damage is None
        assert refused, "the disk never filled up"
        more = range(100_000, 100_500)
        writer.append(_records("u", more))  # space is back
        written.extend(more)
        path = writer.close()
        assert path is not None
        reader = SpoolReader(path)
        steps = [r[2] for chunk in reader for r in chunk if r[0] == POINTS]
        assert steps == written
        assert not reader.torn and reader.damage is None


def _child(tmp_path: Path, steps_a: int, steps_b: int, max_pending: int) -> tuple[dict, str, str]:
    """Run the logging child against a full disk; returns its counters, its stderr and
    the SQLite store the spool was then delivered to (by deliver_spool)."""
    dead = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"  # nothing listens
    with spool_on_a_full_disk(tmp_path) as disk:
        args = [dead, *disk.child_args(), str(steps_a), str(steps_b), str(max_pending)]
        done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True,
                              text=True, timeout=240, env={**os.environ})
        assert done.returncode == 0, done.stderr
        counters = json.loads(done.stdout.strip().splitlines()[-1])
        assert counters["refused"] and ("No space left" in counters["refused"]
                                        or "File too large" in counters["refused"]), counters
        url = f"sqlite:///{tmp_path / 'target.db'}"
        Store(url).close()
        result = deliver_spool(url, spool_directory=disk.folder)
        assert not result.rejected and not result.waiting, result.summary()
    return counters, done.stderr, url


def _stored_steps(url: str, uid: str) -> set[int]:
    hist = Store(url).history([uid], keys=["a"], max_points=10**9)
    return set(hist["step"].tolist())


def test_everything_logged_after_space_returns_is_delivered(tmp_path: Path) -> None:
    """Full for a while, then freed: what waited in memory meanwhile is spooled once
    space is back, nothing is set aside, every point arrives."""
    counters, stderr, url = _child(tmp_path, 40_000, 40_000, 1_000_000)
    assert counters["lost"] == 0
    assert _stored_steps(url, counters["id"]) == set(range(80_000))
    assert "cannot write the spool file" in stderr  # said once, while it lasted
    assert stderr.count("cannot write the spool file") == 1


def test_what_memory_cannot_hold_while_the_disk_is_full_is_counted_and_said(
        tmp_path: Path) -> None:
    """With the store away and the disk full, memory keeps at most max_pending_points;
    older points beyond that are lost, but counted and said, and everything after space
    came back is stored."""
    counters, stderr, url = _child(tmp_path, 40_000, 40_000, 30_000)
    stored = _stored_steps(url, counters["id"])
    assert set(range(40_000, 80_000)) <= stored  # after space came back: all of it
    lost_steps = 40_000 - len(stored & set(range(40_000)))
    assert counters["lost"] == 3 * lost_steps > 0
    assert f"{counters['lost']} points were lost" in stderr


def test_a_store_that_is_only_behind_loses_nothing_while_the_disk_is_full(
        tmp_path: Path) -> None:
    """A burst into a reachable store with the spool's disk full: the backlog passes
    max_pending_points and cannot be spooled, but the store takes it soon, so nothing
    is dropped. (Needs the tmpfs: a file size limit would refuse the store's file too.)"""
    with spool_on_a_full_disk(tmp_path) as disk:
        if disk.mode != "tmpfs":
            pytest.skip("needs a mountable tmpfs (RLIMIT_FSIZE would also refuse the store)")
        url = f"sqlite:///{tmp_path / 'live.db'}"
        Store(url).close()
        args = [url, *disk.child_args(), "100000", "0", "30000"]
        done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True,
                              text=True, timeout=240, env={**os.environ})
        assert done.returncode == 0, done.stderr
        counters = json.loads(done.stdout.strip().splitlines()[-1])
    assert counters["lost"] == 0, done.stderr
    assert _stored_steps(url, counters["id"]) == set(range(100_000))
