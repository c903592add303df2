"""A Run used in a forked child (a DataLoader worker, multiprocessing with fork or
forkserver) stores the child's points (issue 18, item 4): the child gets writer threads
of its own on its first record and delivers at its exit; the parent goes on, its
pending records are delivered once (by itself), its spool file stays its own (locked,
unwritten by the child), and only the parent ends the run."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.write.records import POINTS
from trackboard.storage.write.spool import SpoolReader, pending_files
from trackboard.storage.write.writer import Writer


def _child_logs(run: Run, name: str, flush: bool, report: multiprocessing.Queue) -> None:
    for step in range(5):
        run.log({f"{name}/x": float(step)}, step=step)
    if flush:
        assert run.flush(30)
        report.put((name, run._writer.points_written))
    # else: nothing more; the child ends (os._exit) with its points still in memory


def _spooled(directory: Path) -> int:
    """Points records in the spool files of `directory` so far."""
    return sum(1 for path in pending_files(directory) for chunk in SpoolReader(path)
               for rec in chunk if rec[0] == POINTS)


def _series(url: str, run_id: str) -> dict[str, list[int]]:
    hist = Store(url).history([run_id], max_points=10**6)
    return {str(k): sorted(p["step"].tolist()) for k, p in hist.groupby("key")}


def test_forked_children_store_their_points_and_the_parent_keeps_its_own(
        tmp_path: Path, sqlite_url: str) -> None:
    spool = tmp_path / "parent-spool"
    # Records wait in memory (no batch before a flush) and in the parent's spool file
    # (spooled after 50 ms) at the moment of the fork.
    writer = Writer(sqlite_url, flush_interval=60.0, spill_age=0.05, spool_directory=spool)
    run = Run(name="forked", store=sqlite_url, writer=writer, system_metrics=False)
    assert run.flush()  # the writer thread now sleeps until the next flush
    for step in range(10):
        run.log({"parent": float(step)}, step=step)
    deadline = time.time() + 10
    while _spooled(spool) < 10 and time.time() < deadline:
        time.sleep(0.05)
    (journal,) = pending_files(spool)
    size = journal.stat().st_size

    ctx = multiprocessing.get_context("fork")
    report = ctx.Queue()
    children = [ctx.Process(target=_child_logs, args=(run, name, flush, report))
                for name, flush in (("flushed", True), ("silent", False))]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    # The child that flushed stored exactly its own 5 points, none of the 10 the parent
    # had waiting in memory when it forked.
    assert report.get(timeout=5) == ("flushed", 5)
    # The parent's spool file: still locked by the parent, and not written by a child.
    with open(journal, "rb") as fh:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert journal.stat().st_size == size
    assert Store(sqlite_url).run(run.id)["status"] == "running"  # children never end it

    for step in range(10, 15):  # the parent goes on
        run.log({"parent": float(step)}, step=step)
    run.finish()
    writer.close()
    assert _series(sqlite_url, run.id) == {
        "parent": list(range(15)), "flushed/x": list(range(5)), "silent/x": list(range(5))}
    assert Store(sqlite_url).run(run.id)["status"] == "finished"


def _child_opens_the_run(url: str, run_id: str) -> None:
    run = Run(id=run_id, store=url, system_metrics=False)  # forkserver: nothing inherited
    for step in range(5):
        run.log({"server/x": float(step)}, step=step)
    # ends without flush or finish: multiprocessing's exit finalizers deliver


def test_a_forkserver_child_delivers_what_it_logs_at_its_exit(sqlite_url: str) -> None:
    run = Run(name="server", store=sqlite_url, system_metrics=False)
    run.log({"parent": 1.0}, step=0)
    assert run.flush()
    child = multiprocessing.get_context("forkserver").Process(
        target=_child_opens_the_run, args=(sqlite_url, run.id))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    run.finish()
    assert _series(sqlite_url, run.id) == {"parent": [0], "server/x": list(range(5))}
    assert Store(sqlite_url).run(run.id)["status"] == "finished"


def test_a_plain_fork_child_that_flushes_stores_its_points(sqlite_url: str) -> None:
    run = Run(name="os-fork", store=sqlite_url, system_metrics=False)
    run.log({"parent": 1.0}, step=0)
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            run.log({"child": 2.0}, step=0)
            run.finish()  # in a child: flushes, does not end the run
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert Store(sqlite_url).run(run.id)["status"] == "running"
    run.finish()
    assert _series(sqlite_url, run.id) == {"child": [0], "parent": [0]}


class _LoggingDataset:
    """A torch Dataset whose items are logged from the DataLoader's workers, as W&B and
    tensorboardX users do (the writer reaches the workers by fork, or pickled)."""

    def __init__(self, writer: object) -> None:
        self.writer = writer

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> float:
        import torch

        worker = torch.utils.data.get_worker_info()
        self.writer.add_scalar(f"worker{worker.id}/item", float(i), i)  # type: ignore[attr-defined]
        return float(i)


@pytest.mark.slow  # imports torch
@pytest.mark.parametrize("start", ["fork", "forkserver"])
def test_a_dataloader_with_two_workers_stores_what_its_workers_log(
        tmp_path: Path, sqlite_url: str, start: str) -> None:
    import torch
    from trackboard.loggers.torch import SummaryWriter

    writer = SummaryWriter(tmp_path / "tb", project="fork", store=sqlite_url)
    writer.add_scalar("parent/loss", 1.0, 0)
    loader = torch.utils.data.DataLoader(
        _LoggingDataset(writer), batch_size=4, num_workers=2,
        multiprocessing_context=multiprocessing.get_context(start))
    assert sorted(float(x) for batch in loader for x in batch) == [float(i) for i in range(16)]
    del loader  # its workers exit (and deliver) now
    writer.add_scalar("parent/loss", 0.5, 1)
    writer.close()
    got = _series(sqlite_url, writer.run.id)
    items = sorted(s for key, steps in got.items() if key.startswith("worker") for s in steps)
    assert items == list(range(16)), got
    assert {k for k in got if k.startswith("worker")} == {"worker0/item", "worker1/item"}
    assert got["parent/loss"] == [0, 1]
    assert Store(sqlite_url).run(writer.run.id)["status"] == "finished"
