"""trackboard.loggers.torch.SummaryWriter: a real PyTorch loop, the store, and the tee's
event files read back with TensorBoard's own reader."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.support.loggers import run_info, series, tiny_classification
from trackboard.loggers.torch import SummaryWriter
from trackboard.storage import Store


def _train(writer: SummaryWriter, epochs: int = 2) -> dict[str, list[tuple[int, float]]]:
    """A tiny MLP; returns every add_scalar call as {tag: [(step, value)]}."""
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in tiny_classification())
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls: dict[str, list[tuple[int, float]]] = {}
    step = 0
    for epoch in range(epochs):
        for i in range(0, 64, 16):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(x[i:i + 16]).squeeze(-1), y[i:i + 16])
            opt.zero_grad()
            loss.backward()
            opt.step()
            writer.add_scalar("loss", loss, global_step=step)  # a tensor, as users pass it
            calls.setdefault("loss", []).append((step, loss.item()))
            step += 1
        with torch.no_grad():
            acc = ((model(x).squeeze(-1) > 0).float() == y).float().mean().item()
        writer.add_scalar("accuracy", acc, step - 1)
        writer.add_scalar("epoch", epoch, step - 1)
        calls.setdefault("accuracy", []).append((step - 1, acc))
        calls.setdefault("epoch", []).append((step - 1, float(epoch)))
    return calls


def test_store_holds_exactly_the_summary_writer_calls(sqlite_url: str, tmp_path: Path) -> None:
    log_dir = tmp_path / "runs" / "mlp_lr0.1"
    with pytest.warns(UserWarning, match=r"add_histogram\(\) is written to TensorBoard only"):
        with SummaryWriter(str(log_dir), project="torch-test", store=sqlite_url,
                           tensorboard=True) as writer:
            calls = _train(writer)
            writer.add_scalars("lr", {"head": 0.1, "body": 0.01}, global_step=7,
                               walltime=1_600_000_000.5)
            writer.add_hparams({"lr": 0.1, "optimizer": "sgd"}, {"hparam/accuracy": 0.9})
            writer.add_text("note", "tiny mlp", 0)
            writer.add_histogram("weights", torch.randn(10), 0)
            writer.add_histogram("weights", torch.randn(10), 1)  # warned once only
            assert writer.log_dir == str(log_dir) and writer.get_logdir() == str(log_dir)
            run_id = writer.run.id

    stored = series(sqlite_url, run_id)
    assert {k: stored[k] for k in calls} == calls
    assert stored["lr/head"] == [(7, 0.1)] and stored["lr/body"] == [(7, 0.01)]
    assert stored["hparam/accuracy"] == [(0, 0.9)]
    info = run_info(sqlite_url, run_id)
    assert info["name"] == "mlp_lr0.1" and info["framework"] == "torch"
    assert info["status"] == "finished"
    assert info["params"] == {"lr": 0.1, "optimizer": "sgd"}
    assert info["tags"] == {"note": "tiny mlp"}
    with Store(sqlite_url) as store:
        walls = store.history([run_id], keys=["lr/head"])["wall_time"].tolist()
    assert walls == [1_600_000_000.5]  # the user's walltime, not the time of the call

    # The tee wrote real event files with the same scalars (and the histogram).
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0}).Reload()
    assert [(e.step, pytest.approx(e.value)) for e in events.Scalars("loss")] == calls["loss"]
    assert "weights" in events.Tags()["histograms"]


def test_unsupported_methods_warn_once_and_do_nothing(sqlite_url: str) -> None:
    with SummaryWriter(project="torch-test", store=sqlite_url) as writer:
        with pytest.warns(UserWarning, match=r"add_image\(\) is ignored; pass tensorboard=True"):
            writer.add_image("img", torch.zeros(3, 4, 4), 0)
        with pytest.warns(UserWarning, match=r"add_graph\(\) is ignored"):
            writer.add_graph(torch.nn.Linear(2, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # second calls: silent
            writer.add_image("img", torch.zeros(3, 4, 4), 1)
            writer.add_graph(torch.nn.Linear(2, 2))
        run_id = writer.run.id
    assert series(sqlite_url, run_id) == {}
    assert not Path(writer.log_dir).exists()  # no tee: nothing written to disk


def test_steps_without_global_step_count_per_tag_and_flush_stores(sqlite_url: str) -> None:
    writer = SummaryWriter(project="torch-test", store=sqlite_url, comment="_auto")
    for v in (0.5, 0.4, 0.3):
        writer.add_scalar("a", v)
    writer.add_scalar("b", 1.0)
    writer.flush()
    with Store(sqlite_url) as store:  # visible before close: flush() waited for the store
        assert store.run(writer.run.id)["status"] == "running"
    assert series(sqlite_url, writer.run.id) == {"a": [(0, 0.5), (1, 0.4), (2, 0.3)],
                                                 "b": [(0, 1.0)]}
    assert writer.log_dir.startswith("runs") and writer.log_dir.endswith("_auto")
    writer.close()
    writer.close()  # idempotent, like torch's
    assert run_info(sqlite_url, writer.run.id)["status"] == "finished"


def test_bad_input_is_refused_with_a_clear_message(sqlite_url: str) -> None:
    with SummaryWriter(project="torch-test", store=sqlite_url) as writer:
        with pytest.raises(ValueError, match="wall_time 'yesterday' is not a number"):
            writer.add_scalar("loss", 0.1, 0, walltime="yesterday")
        with pytest.raises(ValueError, match="step -1 is negative"):
            writer.add_scalar("loss", 0.1, -1)
        with pytest.raises(ValueError, match="add_hparams\\(\\) takes two dicts"):
            writer.add_hparams([("lr", 0.1)], {})


def test_a_training_loop_that_raises_ends_the_run_failed(sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match="diverged"):
        with SummaryWriter(project="torch-test", store=sqlite_url) as writer:
            writer.add_scalar("loss", 1.0, 0)
            raise RuntimeError("diverged")
    info = run_info(sqlite_url, writer.run.id)
    assert info["status"] == "failed" and info["metrics"]["loss"]["last"] == 1.0
    assert time.time() - info["ended_at"].timestamp() < 60
