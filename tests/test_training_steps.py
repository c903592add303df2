"""The one resume-then-purge policy every framework adapter uses
(loggers/training_steps.py), on real runs in a SQLite store, without a framework:
where a training's steps go when the framework's count starts again, when a
training resumes from a checkpoint in a new process or this one, and when a
continued run trains from 0."""

from __future__ import annotations

from trackboard.loggers import Run
from trackboard.loggers.distributed import NullRun
from trackboard.loggers.training_steps import RunSteps, lightning_updates

from tests.support.loggers import series


def train(run: Run, steps: RunSteps, start: int, updates: int, value: float) -> None:
    """A training of `updates` updates from the framework's count `start`, logging
    after each update."""
    steps.training_starts(run, start)
    for count in range(start + 1, start + updates + 1):
        step = steps.step(count)
        run.log({"loss": value}, step=step)
        steps.stored(step)


def test_a_count_that_starts_again_continues_after_what_was_stored(sqlite_url: str) -> None:
    steps = RunSteps()
    with Run(id="again", store=sqlite_url, system_metrics=False) as run:
        train(run, steps, 0, 4, 1.0)
        train(run, steps, 0, 4, 2.0)    # recompiled / a second train(): the count is 0 again
        assert steps.step(0) == 4       # an evaluation now lands where training stands
    assert series(sqlite_url, "again")["loss"] == [(s, 1.0) for s in range(1, 5)] + \
        [(s, 2.0) for s in range(5, 9)]


def test_a_resume_in_a_new_process_replaces_what_followed_the_checkpoint(
        sqlite_url: str) -> None:
    with Run(id="resumed", store=sqlite_url, system_metrics=False) as first:
        train(first, RunSteps(), 0, 16, 1.0)       # the attempt that crashed at 16
    with Run(id="resumed", store=sqlite_url, system_metrics=False) as again:
        assert again.resumed
        train(again, RunSteps(), 8, 2, 2.0)        # from the checkpoint of update 8
    # 1-8 kept (8 was logged before the checkpoint was saved), 9-10 new, 11-16 gone.
    assert series(sqlite_url, "resumed")["loss"] == [(s, 1.0) for s in range(1, 9)] + \
        [(9, 2.0), (10, 2.0)]


def test_a_checkpoint_restored_within_the_process_replaces_too(sqlite_url: str) -> None:
    steps = RunSteps()
    with Run(id="inproc", store=sqlite_url, system_metrics=False) as run:
        train(run, steps, 0, 12, 1.0)
        train(run, steps, 4, 2, 2.0)               # BackupAndRestore, a reloaded model
    assert series(sqlite_url, "inproc")["loss"] == [(s, 1.0) for s in range(1, 5)] + \
        [(5, 2.0), (6, 2.0)]


def test_a_continued_run_trained_from_zero_is_written_over_step_by_step(
        sqlite_url: str) -> None:
    with Run(id="rerun", store=sqlite_url, system_metrics=False) as first:
        train(first, RunSteps(), 0, 6, 1.0)
    with Run(id="rerun", store=sqlite_url, system_metrics=False) as again:
        train(again, RunSteps(), 0, 3, 2.0)        # a fresh start on an existing id
    assert series(sqlite_url, "rerun")["loss"] == [(s, 2.0) for s in range(1, 4)] + \
        [(s, 1.0) for s in range(4, 7)]


def test_a_resume_with_nothing_stored_after_it_and_a_null_run_purge_nothing(
        sqlite_url: str) -> None:
    with Run(id="short", store=sqlite_url, system_metrics=False) as first:
        train(first, RunSteps(), 0, 4, 1.0)
    with Run(id="short", store=sqlite_url, system_metrics=False) as again:
        assert RunSteps().training_starts(again, 4) == 4   # the store ends at 4: no purge
        again.log({"loss": 2.0}, step=5)
    assert series(sqlite_url, "short")["loss"] == [(s, 1.0) for s in range(1, 5)] + [(5, 2.0)]
    assert RunSteps().training_starts(NullRun(), 8) == 8   # a rank that does not log


def test_only_lightnings_own_step_becomes_the_count_of_updates() -> None:
    assert lightning_updates(5, 5, 6) == 6            # the 6th update's metrics
    assert lightning_updates(12, 12, 12) == 12        # test() after fit: the same number
    assert lightning_updates(10, 5, 6) is None        # the user's `self.log("step", 10)`
    assert lightning_updates(None, 5, 6) is None
    assert lightning_updates(5, 5, None) is None      # no trainer seen
