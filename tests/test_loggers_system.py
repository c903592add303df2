"""System metrics: sampled on their own thread, on their own step sequence."""

from __future__ import annotations

import time

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store

from tests.support.loggers import run_info, series

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
    run.finish()
    assert series(sqlite_url, run.id) == {"loss": [(0, 1.0)]}
    assert not sampler._thread.is_alive()


def test_a_one_second_run_has_a_start_and_a_finish_sample(sqlite_url: str) -> None:
    # The demo's runs last 1-6 s, far below the 10 s interval: without these two
    # samples they had no system metrics at all.
    with Run(project="sys", store=sqlite_url) as run:
        built = time.time()  # the first Run of a store may take a while (schema)
        time.sleep(0.8)
        logged = time.time()
        run.log({"loss": 1.0})
        time.sleep(0.2)
        finishing = time.time()
    points = series(sqlite_url, run.id, system=True)
    assert KEYS <= set(points)
    for key in KEYS:
        assert [s for s, _ in points[key]] == [0, 1], key  # start, finish
    with Store(sqlite_url) as store:
        frame = store.history([run.id], ["system/memory_percent"])
    start, finish = sorted(frame["wall_time"])
    assert built - 0.1 <= start < logged             # on the sampler's thread, after Run()
    assert finish >= finishing                        # taken in finish()
    assert run_info(sqlite_url, run.id)["status"] == "finished"


def test_a_run_finished_at_once_still_gets_its_finish_sample(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url) as run:
        run.log({"loss": 1.0})
    cpu = series(sqlite_url, run.id, system=True)["system/cpu_percent"]
    assert [s for s, _ in cpu][-1:] == [len(cpu) - 1] and 1 <= len(cpu) <= 2


def test_a_resumed_run_continues_the_sample_index(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url, id="sys-resume") as first:
        time.sleep(0.3)
    with Run(project="sys", store=sqlite_url, id="sys-resume") as again:
        time.sleep(0.3)
    assert again.id == first.id
    steps = [s for s, _ in series(sqlite_url, again.id, system=True)["system/cpu_percent"]]
    assert steps == [0, 1, 2, 3]


def test_system_metrics_can_be_switched_off(sqlite_url: str) -> None:
    with Run(project="sys", store=sqlite_url, system_metrics=False) as run:
        run.log({"loss": 0.5})
    assert series(sqlite_url, run.id, system=True) == {"loss": [(0, 0.5)]}


@pytest.mark.parametrize("bad", [0, -1.0, "fast"])
def test_a_bad_interval_is_refused(sqlite_url: str, bad: object) -> None:
    with pytest.raises(ValueError, match="system metrics interval .* True for the default"):
        Run(project="sys", store=sqlite_url, system_metrics=bad)  # type: ignore[arg-type]
