"""What the shared base (loggers/run_owner.py) gives torch's and clu's writers alike,
where the per-framework tests do not reach: a run the user passed in.

Such a run is the user's: the writer's close() only flushes it, the writer keeps
logging into it after close(), and only the user's finish() ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from trackboard.loggers import Run

from tests.support.loggers import run_info, series, texts

Log = Callable[[str, float, int], None]
Text = Callable[[str, str], None]


def _torch(run: Run) -> tuple[Any, Log, Text]:
    from trackboard.loggers.torch import SummaryWriter

    writer = SummaryWriter(run=run)
    return (writer, lambda key, value, step: writer.add_scalar(key, value, step),
            lambda key, text: writer.add_text(key, text))


def _jax(run: Run) -> tuple[Any, Log, Text]:
    pytest.importorskip("jax")
    from trackboard.loggers.jax import MetricWriter

    writer = MetricWriter(run)
    return (writer, lambda key, value, step: writer.write_scalars(step, {key: value}),
            lambda key, text: writer.write_texts(0, {key: text}))


@pytest.mark.slow  # imports torch / JAX
@pytest.mark.parametrize("make", [_torch, _jax], ids=["torch", "jax"])
def test_a_run_passed_in_is_the_users_to_finish(make: Any, sqlite_url: str, tmp_path: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # torch's default log_dir (runs/...) lands here
    run = Run(project="owner-test", store=sqlite_url, system_metrics=False)
    writer, log, text = make(run)
    log("loss", 1.0, 0)
    writer.close()
    writer.close()  # idempotent
    assert run_info(sqlite_url, run.id)["status"] == "running"
    text("after", "close")  # after close: still into the user's run
    with writer:
        log("loss", 0.5, 1)
    # Leaving `with` closed the writer again: flushed, not finished.
    info = run_info(sqlite_url, run.id)
    assert info["status"] == "running" and texts(sqlite_url, run.id) == {"after": [(0, "close")]}
    assert series(sqlite_url, run.id) == {"loss": [(0, 1.0), (1, 0.5)]}
    run.finish()
    assert run_info(sqlite_url, run.id)["status"] == "finished"
