"""System metrics: sampled on their own thread, on their own step sequence."""

from __future__ import annotations

import time

import pytest
from trackboard.loggers import Run

from tests.support.loggers import series

KEYS = {"system/cpu_percent", "system/memory_percent", "system/memory_used_gib",
        "system/process_cpu_percent", "system/process_memory_gib"}


def test_samples_arrive_under_system_keys_without_moving_training_steps(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url, system_metrics=0.05) as run:
        for _ in range(5):
            run.log({"loss": 1.0})   # auto-increment: 0, 1, 2, ...
            time.sleep(0.08)
        assert run.step == 5         # the sampler's steps did not touch the counter
        sampler = run._sampler
        assert sampler is not None
    points = series(sqlite_url, run.id, system=True)
    assert [s for s, _ in points["loss"]] == [0, 1, 2, 3, 4]
    assert KEYS <= set(points)
    cpu = points["system/cpu_percent"]
    assert len(cpu) >= 2 and [s for s, _ in cpu] == list(range(len(cpu)))  # sample index
    assert all(0.0 <= v <= 100.0 for _, v in cpu)
    assert all(v > 0 for _, v in points["system/process_memory_gib"])
    assert not sampler._thread.is_alive()  # finish() stopped this run's sampler thread


def test_the_default_is_on_every_ten_seconds(sqlite_url: str) -> None:
    run = Run(project="sys", store=sqlite_url)
    sampler = run._sampler
    assert sampler is not None and sampler.interval == 10.0
    assert sampler._thread.is_alive() and sampler._thread.name == "trackboard-system"
    run.log({"loss": 1.0})
    run.finish()  # well within the first 10 s: no sample yet, and the thread is gone
    assert series(sqlite_url, run.id, system=True) == {"loss": [(0, 1.0)]}
    assert not sampler._thread.is_alive()


def test_system_metrics_can_be_switched_off(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url, system_metrics=False) as run:
        run.log({"loss": 0.5})
    assert series(sqlite_url, run.id, system=True) == {"loss": [(0, 0.5)]}


@pytest.mark.parametrize("bad", [0, -1.0, "fast"])
def test_a_bad_interval_is_refused(sqlite_url: str, bad: object) -> None:
    with pytest.raises(ValueError, match="system metrics interval .* True for the default"):
        Run(project="sys", store=sqlite_url, system_metrics=bad)  # type: ignore[arg-type]
