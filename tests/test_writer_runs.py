"""Runs register with their writer explicitly (Writer.register_run / run_ended): a
registered run heads every spool file, so each file can be delivered alone, and gets
heartbeats while it lives; submit itself never looks at what it queues."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text
from trackboard.loggers import Run
from trackboard.storage.db.engine import build_engine
from trackboard.storage.write.records import RUN
from trackboard.storage.write.spool import SpoolReader, pending_files
from trackboard.storage.write.writer import Writer

from tests.support.ports import free_port


def test_a_registered_run_heads_every_spool_file(tmp_path: Path) -> None:
    dead = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"  # nothing listens
    writer = Writer(dead, spool_directory=tmp_path / "spool", max_backoff=60)
    run = Run(name="offline", store=dead, writer=writer, system_metrics=False)
    for step in range(200):
        run.log({"x": float(step)}, step=step)
    run.finish(timeout=5)
    writer.close(timeout=5)
    files = pending_files(tmp_path / "spool")
    assert files
    for path in files:
        header = next(iter(SpoolReader(path)))  # the run records, before any record
        assert [rec[1]["uid"] for rec in header if rec[0] == RUN] == [run.id], path.name


def _heartbeat(url: str, uid: str) -> float:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            return float(conn.execute(text("SELECT heartbeat_at FROM runs WHERE uid = :u"),
                                      {"u": uid}).scalar_one())
    finally:
        engine.dispose()


def test_a_registered_run_gets_heartbeats_until_it_ends(sqlite_url: str) -> None:
    writer = Writer(sqlite_url, flush_interval=0.05, heartbeat_interval=0.2)
    uid = "quiet"
    writer.register_run({"uid": uid, "project": "p", "name": uid, "framework": None,
                         "host": "h", "git_commit": None, "command": "c",
                         "created_at": time.time(), "status": "running"})
    assert writer.flush()
    first = _heartbeat(sqlite_url, uid)
    time.sleep(1.0)  # the run logs nothing: only heartbeats move heartbeat_at
    beating = _heartbeat(sqlite_url, uid)
    assert beating > first
    writer.run_ended(uid)
    time.sleep(0.5)  # a heartbeat already under way lands
    ended = _heartbeat(sqlite_url, uid)
    time.sleep(1.0)
    assert _heartbeat(sqlite_url, uid) == ended
    writer.close()
