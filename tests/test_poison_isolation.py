"""A record the store refuses costs only itself: the writer splits the rejected batch
(by run, then in halves) until only the offending records are left, sets them aside in
rejected/, and stores every other run's points."""

from __future__ import annotations

import logging
import socket
import time
from array import array
from collections.abc import Callable

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.write.records import POINTS, RUN, TAGS
from trackboard.storage.write.spool import REJECTED, SpoolReader
from trackboard.storage.write.writer import Writer

STEPS = 200


def _ten_runs_with(url: str, poison: Callable[[list[Run]], list[tuple]],
                   caplog: pytest.LogCaptureFixture) -> tuple[Writer, list[Run], list[tuple]]:
    """Ten runs log into one writer; `poison(runs)` is planted, behind validation, in
    the middle of the same batch as everybody's points. Returns what was planted too."""
    writer = Writer(url, flush_interval=60.0)  # one big batch: written at flush only
    runs = [Run(name=f"run-{i}", store=url, writer=writer, system_metrics=False)
            for i in range(10)]
    planted: list[tuple] = []
    with caplog.at_level(logging.WARNING, logger="trackboard"):
        for step in range(STEPS):
            for run in runs:
                run.log({"loss": 1.0 / (step + 1), "acc": step / STEPS}, step=step)
            if step == STEPS // 2:
                planted = poison(runs)
                for rec in planted:
                    if rec[0] == RUN:
                        writer.register_run(rec[1])  # as Run does
                    else:
                        writer.submit(rec, len(rec[4]) if rec[0] == POINTS else 0)
        for run in runs:
            run.finish()
        writer.close()
    return writer, runs, planted


def _for_the_fourth_run(bad: tuple) -> Callable[[list[Run]], list[tuple]]:
    """A bad record planted for a real run (the fourth), so only it is at fault."""
    return lambda runs: [(bad[0], runs[3].id, *bad[2:])]


def _assert_all_stored(url: str, runs: list[Run]) -> None:
    store = Store(url)
    for run in runs:
        hist = store.history([run.id])
        assert len(hist) == 2 * STEPS, run.name
        assert not hist.duplicated(["key", "step"]).any()
    assert set(store.runs()["status"]) == {"finished"}


def _rejected(writer: Writer) -> list[tuple]:
    files = list((writer.spool_directory / REJECTED).glob("*.spool"))
    assert len(files) == 1
    return [r for chunk in SpoolReader(files[0]) for r in chunk if r[0] != RUN]


def _reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]


def test_a_key_the_store_refuses_costs_only_its_record(
        store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    bad = (POINTS, "", 7, time.time(), ("loss", "bad\ud800key"), array("d", [1.0, 2.0]))
    writer, runs, planted = _ten_runs_with(store_url, _for_the_fourth_run(bad), caplog)
    _assert_all_stored(store_url, runs)
    assert writer.points_rejected == 2 and writer.points_lost == 0
    assert _rejected(writer) == [planted[0]]
    assert len(_reports(caplog)) == 1  # said once


def test_a_run_the_store_refuses_costs_only_its_own_records(
        store_url: str, caplog: pytest.LogCaptureFixture) -> None:
    uid = "badrun"
    poison = [(RUN, {"uid": uid, "project": "p", "name": "bad\ud800name", "framework": None,
                     "host": socket.gethostname(), "git_commit": None, "command": "c",
                     "created_at": time.time(), "status": "running"})]
    poison += [(POINTS, uid, s, time.time(), ("x",), array("d", [float(s)])) for s in range(50)]
    writer, runs, _ = _ten_runs_with(store_url, lambda runs: poison, caplog)
    _assert_all_stored(store_url, runs)
    assert writer.points_rejected == 50 and writer.points_lost == 0
    assert len(_reports(caplog)) == 1
    assert "badrun" not in Store(store_url).runs()["id"].tolist()


@pytest.mark.postgres
def test_a_nul_in_a_tag_costs_only_its_record_on_postgresql(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    writer, runs, planted = _ten_runs_with(
        pg_url, _for_the_fourth_run((TAGS, "", {"note": "a\x00b"})), caplog)
    _assert_all_stored(pg_url, runs)
    assert writer.points_rejected == 0 and writer.points_lost == 0
    assert _rejected(writer) == [planted[0]]
    assert len(_reports(caplog)) == 1
