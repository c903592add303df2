"""System metrics: sampled on their own thread, on their own step sequence."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.loggers import series
from trackboard.loggers import Run

KEYS = {"system/cpu_percent", "system/memory_percent", "system/memory_used_gib",
        "system/process_cpu_percent", "system/process_memory_gib"}


def test_samples_arrive_under_system_keys_without_moving_training_steps(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url, system_metrics=0.05) as run:
        for _ in range(5):
            run.log({"loss": 1.0})   # auto-increment: 0, 1, 2, ...
            time.sleep(0.08)
        assert run.step == 5         # the sampler's steps did not touch the counter
    points = series(sqlite_url, run.id, system=True)
    assert [s for s, _ in points["loss"]] == [0, 1, 2, 3, 4]
    assert KEYS <= set(points)
    cpu = points["system/cpu_percent"]
    assert len(cpu) >= 2 and [s for s, _ in cpu] == list(range(len(cpu)))  # sample index
    assert all(0.0 <= v <= 100.0 for _, v in cpu)
    assert all(v > 0 for _, v in points["system/process_memory_gib"])
    assert not any(t.name == "trackboard-system" and t.is_alive()
                   for t in threading.enumerate())  # finish() stopped the thread


def test_the_default_is_on_every_ten_seconds(sqlite_url: str) -> None:
    run = Run(project="sys", store=sqlite_url)
    assert run._sampler is not None and run._sampler.interval == 10.0
    assert any(t.name == "trackboard-system" and t.is_alive() for t in threading.enumerate())
    run.log({"loss": 1.0})
    run.finish()  # well within the first 10 s: no sample yet, and the thread is gone
    assert series(sqlite_url, run.id, system=True) == {"loss": [(0, 1.0)]}
    assert not any(t.name == "trackboard-system" and t.is_alive()
                   for t in threading.enumerate())


def test_system_metrics_can_be_switched_off(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url, system_metrics=False) as run:
        run.log({"loss": 0.5})
    assert series(sqlite_url, run.id, system=True) == {"loss": [(0, 0.5)]}


@pytest.mark.parametrize("bad", [0, -1.0, "fast"])
def test_a_bad_interval_is_refused(sqlite_url: str, bad: object) -> None:
    with pytest.raises(ValueError, match="system metrics interval .* True for the default"):
        Run(project="sys", store=sqlite_url, system_metrics=bad)  # type: ignore[arg-type]
