"""Only rank 0 logs: the RANK / LOCAL_RANK environment path, through real adapters."""

from __future__ import annotations

import pytest
from trackboard.loggers.distributed import NullRun, process_rank, start_run
from trackboard.loggers.jax import MetricWriter
from trackboard.loggers.torch import SummaryWriter
from trackboard.storage import Store

pytestmark = pytest.mark.slow  # needs a framework


@pytest.mark.parametrize("variable", ["RANK", "LOCAL_RANK"])
def test_non_zero_ranks_log_nothing(variable: str, sqlite_url: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv(variable, "1")
    assert process_rank() == 1
    with SummaryWriter(project="ddp", store=sqlite_url) as writer:
        writer.add_scalar("loss", 0.5, 0)
        writer.add_hparams({"lr": 0.1}, {"acc": 0.9})
    with MetricWriter(project="ddp", store=sqlite_url) as jax_writer:
        jax_writer.write_scalars(0, {"loss": 0.5})
    assert isinstance(writer.run, NullRun) and isinstance(jax_writer.run, NullRun)
    with Store(sqlite_url) as store:
        assert store.runs().empty

    # Rank 0 of the same job logs, and a user can opt every rank in.
    monkeypatch.setenv(variable, "0")
    with SummaryWriter(project="ddp", store=sqlite_url) as writer:
        writer.add_scalar("loss", 0.5, 0)
    monkeypatch.setenv(variable, "3")
    with start_run(framework="torch", rank_zero_only=False, project="ddp",
                   store=sqlite_url, system_metrics=False) as run:
        run.log({"loss": 0.25})
    with Store(sqlite_url) as store:
        assert sorted(store.runs()["id"]) == sorted([writer.run.id, run.id])


def test_null_run_accepts_every_call() -> None:
    run = NullRun()
    with run as same:
        same.log({"loss": 1.0}, step=3)
        same.log_params({"lr": 0.1})
        same.set_tags({"a": "b"})
        same.some_future_method(1, x=2)
        assert same.flush() is True
        same.finish("failed")
    assert run.id == "" and not run.finished


def test_a_rank_that_is_not_a_number_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ValueError, match="RANK='zero' is not an integer rank"):
        process_rank()
