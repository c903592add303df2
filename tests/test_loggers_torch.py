"""trackboard.loggers.torch.SummaryWriter: a real PyTorch loop, the store, and the tee's
event files read back with TensorBoard's own reader; torch's whole life cycle (log_dir,
close and log again, purge_step, add_hparams trials, pickling into a spawned process)."""

from __future__ import annotations

import multiprocessing
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from trackboard.loggers import Run
from trackboard.loggers.torch import FileWriter, SummaryWriter
from trackboard.storage import Store
from trackboard.storage.write.writer import writer_for

from tests.support.loggers import (
    check_continued_after_close,
    run_info,
    series,
    texts,
    tiny_classification,
)

pytestmark = pytest.mark.slow  # needs a framework


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


def _runs(store_url: str, project: str) -> pd.DataFrame:
    with Store(store_url) as store:
        return store.runs(project)


def _tb_scalars(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    """What TensorBoard's reader shows for a tag (purge_step applied)."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0}).Reload()
    return [(e.step, pytest.approx(e.value)) for e in events.Scalars(tag)]


def test_store_holds_exactly_the_summary_writer_calls(sqlite_url: str, tmp_path: Path) -> None:
    log_dir = tmp_path / "runs" / "mlp_lr0.1"
    with pytest.warns(UserWarning, match=r"add_audio\(\) is written to TensorBoard only"):
        with SummaryWriter(str(log_dir), project="torch-test", store=sqlite_url,
                           tensorboard=True) as writer:
            calls = _train(writer)
            writer.add_scalars("lr", {"head": 0.1, "body": 0.01}, global_step=7,
                               walltime=1_600_000_000.5)
            writer.add_text("note", "tiny mlp", 0)
            writer.add_histogram("weights", torch.randn(10), 0)
            writer.add_histogram("weights", torch.randn(10), 1)
            writer.add_audio("sound", torch.zeros(100), 0, sample_rate=100)
            writer.add_audio("sound", torch.zeros(100), 1, sample_rate=100)  # warned once only
            assert writer.log_dir == str(log_dir) and writer.get_logdir() == str(log_dir)
            run_id = writer.run.id

    stored = series(sqlite_url, run_id)
    assert stored == {**calls, "lr/head": [(7, 0.1)], "lr/body": [(7, 0.01)]}
    info = run_info(sqlite_url, run_id)
    assert info["name"] == "mlp_lr0.1" and info["framework"] == "torch"
    assert info["status"] == "finished"
    assert info["tags"] == {} and texts(sqlite_url, run_id) == {"note": [(0, "tiny mlp")]}
    with Store(sqlite_url) as store:
        walls = store.history([run_id], keys=["lr/head"])["wall_time"].tolist()
        stored_histograms = store.histograms([run_id])
    assert walls == [1_600_000_000.5]  # the user's walltime, not the time of the call
    assert stored_histograms["step"].tolist() == [0, 1]
    assert stored_histograms["count"].tolist() == [10.0, 10.0]

    # The tee wrote real event files with the same scalars, histograms and audio.
    assert _tb_scalars(log_dir, "loss") == calls["loss"]
    events = EventAccumulator(str(log_dir)).Reload()
    assert {"weights", "sound"} <= {*events.Tags()["histograms"], *events.Tags()["audio"]}


def test_log_dir_exists_at_once_and_holds_checkpoints(sqlite_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(project="torch-test", store=sqlite_url, comment="_ckpt") as writer:
        assert Path(writer.log_dir).is_dir()  # before anything was logged, as in torch
        assert writer.log_dir.startswith("runs") and writer.log_dir.endswith("_ckpt")
        model = torch.nn.Linear(2, 1)
        torch.save(model.state_dict(), Path(writer.log_dir) / "model.pt")
    assert set(torch.load(Path(writer.log_dir) / "model.pt")) == {"weight", "bias"}


def test_unsupported_methods_warn_once_and_do_nothing(sqlite_url: str, tmp_path: Path) -> None:
    with SummaryWriter(tmp_path / "runs" / "x", project="torch-test",
                       store=sqlite_url) as writer:
        with pytest.warns(UserWarning, match=r"add_video\(\) is ignored; pass tensorboard=True"):
            writer.add_video("clip", torch.zeros(1, 2, 3, 4, 4), 0)
        with pytest.warns(UserWarning, match=r"add_graph\(\) is ignored"):
            writer.add_graph(torch.nn.Linear(2, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # second calls: silent
            writer.add_video("clip", torch.zeros(1, 2, 3, 4, 4), 1)
            writer.add_graph(torch.nn.Linear(2, 2))
        run_id = writer.run.id
    assert series(sqlite_url, run_id) == {}
    with Store(sqlite_url) as store:
        assert store.media_keys([run_id]).empty
    assert list(Path(writer.log_dir).iterdir()) == []  # no tee: no event file written


def test_steps_without_global_step_count_per_tag_and_flush_stores(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    writer = SummaryWriter(project="torch-test", store=sqlite_url, comment="_auto")
    for v in (0.5, 0.4, 0.3):
        writer.add_scalar("a", v)
    writer.add_scalar("b", 1.0)
    writer.flush()
    with Store(sqlite_url) as store:  # visible before close: flush() waited for the store
        assert store.run(writer.run.id)["status"] == "running"
    assert series(sqlite_url, writer.run.id) == {"a": [(0, 0.5), (1, 0.4), (2, 0.3)],
                                                 "b": [(0, 1.0)]}
    writer.close()
    writer.close()  # idempotent, like torch's
    assert run_info(sqlite_url, writer.run.id)["status"] == "finished"
    # Without a log_dir every writer is a run of its own (torch's default directory
    # is new each time).
    other = SummaryWriter(project="torch-test", store=sqlite_url, comment="_auto")
    other.close()
    assert other.run.id != writer.run.id


def test_close_then_log_again_continues_the_same_run(sqlite_url: str, tmp_path: Path) -> None:
    """The official TensorBoard tutorial closes the writer, then logs the model's
    predictions; torch reopens its event file."""
    writer = SummaryWriter(tmp_path / "tutorial", project="torch-test", store=sqlite_url)
    writer.add_scalar("training loss", 0.9, 0)
    writer.close()
    run_id = writer.run.id
    assert writer.file_writer is None and writer.all_writers is None  # torch's closed state
    assert run_info(sqlite_url, run_id)["status"] == "finished"

    writer.add_scalar("training loss", 0.5, 1)
    writer.add_text("after", "close")
    assert isinstance(writer.file_writer, FileWriter)
    assert writer.all_writers == {writer.log_dir: writer.file_writer}
    check_continued_after_close(sqlite_url, writer, run_id,
                                {"training loss": [(0, 0.9), (1, 0.5)]},
                                {"after": [(0, "close")]})
    assert len(_runs(sqlite_url, "torch-test")) == 1

    # _get_file_writer() reopens too, and hands back torch's FileWriter surface.
    file_writer = writer._get_file_writer()
    assert file_writer.get_logdir() == writer.log_dir and writer.file_writer is file_writer
    writer.close()


def test_purge_step_resumes_the_directory_run_as_tensorboard_shows_it(
        sqlite_url: str, tmp_path: Path) -> None:
    log_dir = tmp_path / "resumable"
    first = SummaryWriter(log_dir, project="torch-test", store=sqlite_url, tensorboard=True)
    for step in range(10):
        first.add_scalar("loss", 1.0 / (step + 1), step)
    first.close("failed")  # crashed after step 9; the last checkpoint was at step 5

    # A resumed program starts seconds later, in a new process. TensorBoard reads a
    # directory's event files in name order; torch names them by the second and a
    # per-process counter, so two files of one process in the same second can sort
    # "...pid.10" before "...pid.9" (it did, once the suite had made ten writers).
    time.sleep(1.1)
    second = SummaryWriter(log_dir, purge_step=5, project="torch-test", store=sqlite_url,
                           tensorboard=True)
    assert second.run.id == first.run.id and second.purge_step is None
    for step in range(5, 8):
        second.add_scalar("loss", 10.0 + step, step)
    second.close()

    expected = [(s, 1.0 / (s + 1)) for s in range(5)] + [(s, 10.0 + s) for s in range(5, 8)]
    assert series(sqlite_url, first.run.id) == {"loss": expected}
    assert _tb_scalars(log_dir, "loss") == expected  # TensorBoard's reader agrees
    assert run_info(sqlite_url, first.run.id)["status"] == "finished"
    assert len(_runs(sqlite_url, "torch-test")) == 1


def test_reopening_a_log_dir_without_purge_step_continues_it_and_says_so(
        sqlite_url: str, tmp_path: Path) -> None:
    with SummaryWriter(tmp_path / "exp", project="torch-test", store=sqlite_url) as writer:
        writer.add_scalar("loss", 1.0, 0)
    with pytest.warns(UserWarning, match="continuing it .*purge_step=N"):
        again = SummaryWriter(tmp_path / "exp", project="torch-test", store=sqlite_url)
    again.add_scalar("loss", 0.5, 1)
    again.close()
    assert again.run.id == writer.run.id
    assert series(sqlite_url, writer.run.id) == {"loss": [(0, 1.0), (1, 0.5)]}
    # Another project, or another directory, is another run.
    with SummaryWriter(tmp_path / "exp", project="other", store=sqlite_url) as other:
        pass
    with SummaryWriter(tmp_path / "exp2", project="torch-test", store=sqlite_url) as exp2:
        pass
    assert len({writer.run.id, other.run.id, exp2.run.id}) == 3


def test_add_hparams_trials_are_child_runs_and_leave_the_main_run_alone(
        sqlite_url: str, tmp_path: Path) -> None:
    log_dir = tmp_path / "sweep"
    with SummaryWriter(log_dir, project="torch-test", store=sqlite_url,
                       tensorboard=True) as writer:
        for step in range(3):
            writer.add_scalar("hparam/accuracy", 0.1 * step, step)
        for lr in (0.1, 0.01, 0.001):  # three trials, no run_name: all kept
            writer.add_hparams({"lr": lr, "bsize": 32, "opt": "sgd", "amsgrad": False},
                               {"hparam/accuracy": 1 - lr, "hparam/loss": lr})
        writer.add_hparams({"lr": 0.5}, {"hparam/accuracy": 0.2}, run_name="named",
                           global_step=3)
        writer.add_hparams({"lr": 0.6}, {"hparam/accuracy": 0.3}, run_name="named",
                           global_step=3)  # the same child, updated
        main_id = writer.run.id

    # The main run's series and params are untouched.
    assert series(sqlite_url, main_id) == {"hparam/accuracy": [(0, 0.0), (1, 0.1), (2, 0.2)]}
    assert run_info(sqlite_url, main_id)["params"] == {}

    runs = _runs(sqlite_url, "torch-test")
    children = runs[runs["tags.parent"] == main_id]
    assert len(children) == 4 and len(runs) == 5
    by_lr = {run_info(sqlite_url, cid)["params"]["lr"]: cid for cid in children["id"]}
    assert sorted(by_lr) == [0.001, 0.01, 0.1, 0.6]
    trial = run_info(sqlite_url, by_lr[0.01])
    assert trial["params"] == {"lr": 0.01, "bsize": 32, "opt": "sgd", "amsgrad": False}
    assert series(sqlite_url, by_lr[0.01]) == {"hparam/accuracy": [(0, 0.99)],
                                               "hparam/loss": [(0, 0.01)]}
    assert trial["status"] == "finished" and trial["name"].startswith("sweep/")
    named = run_info(sqlite_url, by_lr[0.6])
    assert named["name"] == "sweep/named"
    assert series(sqlite_url, by_lr[0.6]) == {"hparam/accuracy": [(3, 0.3)]}

    # torch wrote one sub-directory per trial; the tee shows the same four trials.
    sub_runs = {p.name for p in log_dir.iterdir() if p.is_dir()}
    assert len(sub_runs) == 4 and "named" in sub_runs


def test_add_hparams_stores_values_torch_would_refuse(sqlite_url: str, tmp_path: Path) -> None:
    with SummaryWriter(tmp_path / "any", project="torch-test", store=sqlite_url) as writer:
        writer.add_hparams({"nested": {"a": 1}, "layers": [64, 32], "none": None,
                            "complex": np.complex64(1 + 2j), "path": tmp_path / "data",
                            "t": torch.tensor(0.5)}, {})
        main_id = writer.run.id
    runs = _runs(sqlite_url, "torch-test")
    (child_id,) = runs.loc[runs["tags.parent"] == main_id, "id"]
    assert run_info(sqlite_url, child_id)["params"] == {
        "nested.a": 1, "layers": [64, 32], "none": None, "complex": "1+2j",
        "path": str(tmp_path / "data"), "t": 0.5}


def test_values_torch_accepts_are_stored_as_torch_stores_them(sqlite_url: str,
                                                             tmp_path: Path) -> None:
    log_dir = tmp_path / "values"
    calls: list[tuple[str, Any, Any]] = [
        ("bool", True, 0), ("bool", False, 1), ("text_number", "0.25", 0),
        ("float_step", 1.5, 2.0), ("float_step", 2.5, 3.9), ("string_step", 4.0, "4"),
        ("numpy", np.float32(0.5), np.int64(5)), ("numpy", np.bool_(True), 6),
        ("tensor", torch.tensor(3.5), torch.tensor(7)), ("tensor", torch.tensor([True]), 8),
        ("tensor", torch.tensor(2, dtype=torch.int32), 9), ("half", torch.tensor(0.5).half(), 0),
    ]
    with SummaryWriter(log_dir, project="torch-test", store=sqlite_url,
                       tensorboard=True) as writer:
        for tag, value, step in calls:
            writer.add_scalar(tag, value, step)
        writer.add_scalars("group", {"a": True, "b": "1e-3"}, 2.0)
        with pytest.raises(ValueError, match="metric 'bad' is the text 'high'"):
            writer.add_scalar("bad", "high", 0)
        with pytest.raises(ValueError, match="step 'ten' is not a whole number"):
            writer.add_scalar("bad", 1.0, "ten")
        run_id = writer.run.id
    stored = series(sqlite_url, run_id)
    for tag in ("bool", "text_number", "float_step", "string_step", "numpy", "tensor", "half"):
        assert stored[tag] == _tb_scalars(log_dir, tag), tag  # exactly what torch wrote
    assert stored["float_step"] == [(2, 1.5), (3, 2.5)]  # int(step), as torch
    assert stored["group/a"] == [(2, 1.0)] and stored["group/b"] == [(2, 0.001)]
    assert "bad" not in stored


def test_bad_input_is_refused_with_a_clear_message(sqlite_url: str, tmp_path: Path) -> None:
    with SummaryWriter(tmp_path / "bad", project="torch-test", store=sqlite_url) as writer:
        with pytest.raises(ValueError, match="wall_time 'yesterday' is not a number"):
            writer.add_scalar("loss", 0.1, 0, walltime="yesterday")
        with pytest.raises(ValueError, match="step -1 is negative"):
            writer.add_scalar("loss", 0.1, -1)
        with pytest.raises(ValueError, match="add_hparams\\(\\) takes two dicts"):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match="tensor of shape \\(3,\\)"):
            writer.add_scalar("loss", torch.ones(3), 0)


def test_a_training_loop_that_raises_ends_the_run_failed(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="diverged"):
        with SummaryWriter(tmp_path / "crash", project="torch-test", store=sqlite_url) as writer:
            writer.add_scalar("loss", 1.0, 0)
            raise RuntimeError("diverged")
    info = run_info(sqlite_url, writer.run.id)
    assert info["status"] == "failed" and info["metrics"]["loss"]["last"] == 1.0
    assert time.time() - info["ended_at"].timestamp() < 60


def test_file_writer_add_summary_stores_hparams_scalars_and_text_in_the_run(
        sqlite_url: str, tmp_path: Path) -> None:
    """Lightning's TensorBoardLogger and many scripts write hparams through the
    file writer so that they land in the run itself, not in a sub-directory."""
    from torch.utils.tensorboard import summary

    with SummaryWriter(tmp_path / "fw", project="torch-test", store=sqlite_url) as writer:
        exp, ssi, sei = summary.hparams({"lr": 0.1, "opt": "adam", "amsgrad": True},
                                        {"hp_metric": 0.0})
        file_writer = writer._get_file_writer()
        for proto in (exp, ssi, sei):
            file_writer.add_summary(proto)
        file_writer.add_summary(summary.scalar("loss", 0.25), global_step=4)
        file_writer.add_summary(summary.scalar("acc", 0.5, new_style=True).SerializeToString(),
                                global_step=4)
        file_writer.add_summary(summary.text("notes", "hello"), global_step=3)
        file_writer.add_summary(summary.histogram("w", np.arange(10.0), "auto"), global_step=4)
        with pytest.warns(UserWarning, match=r"file_writer.add_summary\(\) of audio data is ignored"):
            file_writer.add_summary(summary.audio("a", np.zeros(100), sample_rate=100))
        file_writer.flush()
        file_writer.close()  # flushes only: the run stays the SummaryWriter's
        writer.add_scalar("loss", 0.2, 5)
        run_id = writer.run.id
    info = run_info(sqlite_url, run_id)
    assert info["params"] == {"lr": 0.1, "opt": "adam", "amsgrad": True}
    assert texts(sqlite_url, run_id) == {"notes": [(3, "hello")]}
    assert series(sqlite_url, run_id) == {"loss": [(4, 0.25), (5, 0.2)], "acc": [(4, 0.5)]}
    with Store(sqlite_url) as store:
        (h,) = store.histograms([run_id]).itertuples()
    # The proto's buckets read as TensorBoard reads them: from min to max, all 10 values.
    assert (h.step, h.count, h.min, h.max, h.edges[0], h.edges[-1]) == (4, 10, 0, 9, 0, 9)
    assert h.counts.sum() == 10


def test_a_finished_run_passed_in_warns_instead_of_stopping_training(sqlite_url: str,
                                                                      tmp_path: Path) -> None:
    run = Run(project="torch-test", store=sqlite_url, system_metrics=False)
    writer = SummaryWriter(tmp_path / "mine", run=run)
    writer.add_scalar("loss", 1.0, 0)
    run.finish()
    with pytest.warns(RuntimeWarning, match="is finished; what this writer logs from now on "
                                            "is NOT stored"):
        writer.add_scalar("loss", 0.5, 1)
        writer.add_text("t", "x")
    writer.close()
    assert series(sqlite_url, run.id) == {"loss": [(0, 1.0)]}


def test_a_copy_with_the_tee_writes_the_same_run_and_directory(sqlite_url: str,
                                                               tmp_path: Path) -> None:
    log_dir = tmp_path / "tee-copy"
    writer = SummaryWriter(log_dir, project="torch-test", store=sqlite_url, tensorboard=True)
    writer.add_scalar("loss", 1.0, 0)
    copy = pickle.loads(pickle.dumps(writer))
    copy.add_scalar("loss", 0.5, 1)
    copy.close()  # flushes the copy's events; the run stays open
    assert run_info(sqlite_url, writer.run.id)["status"] == "running"
    writer.close()
    assert series(sqlite_url, writer.run.id) == {"loss": [(0, 1.0), (1, 0.5)]}
    assert _tb_scalars(log_dir, "loss") == [(0, 1.0), (1, 0.5)]


def _child_logs(writer: SummaryWriter, steps: list[int]) -> None:
    """Runs in a spawned process: log through the unpickled writer, then close it."""
    for step in steps:
        writer.add_scalar("worker/loss", 1.0 / (step + 1), step)
    writer.add_text("worker", "done")
    writer.close()  # a copy only flushes: the parent finishes the run


@pytest.mark.slow
def test_pickled_writer_logs_into_the_same_run_from_a_spawned_process(
        sqlite_url: str, tmp_path: Path) -> None:
    writer = SummaryWriter(tmp_path / "mp", project="torch-test", store=sqlite_url)
    writer.add_scalar("loss", 1.0, 0)
    copy = pickle.loads(pickle.dumps(writer))  # pickles mid-run, in this process too
    assert copy.run.id == writer.run.id and copy.log_dir == writer.log_dir

    process = multiprocessing.get_context("spawn").Process(target=_child_logs,
                                                           args=(writer, [0, 1, 2]))
    process.start()
    process.join(180)
    assert process.exitcode == 0
    # The copy's exit did not finish the run: the parent is still training.
    assert run_info(sqlite_url, writer.run.id)["status"] == "running"
    writer.add_scalar("loss", 0.5, 1)  # the parent goes on logging
    writer.close()

    info = run_info(sqlite_url, writer.run.id)
    assert info["status"] == "finished" and texts(sqlite_url, writer.run.id) == {
        "worker": [(0, "done")]}
    assert series(sqlite_url, writer.run.id) == {
        "loss": [(0, 1.0), (1, 0.5)], "worker/loss": [(0, 1.0), (1, 0.5), (2, 1 / 3)]}
    assert len(_runs(sqlite_url, "torch-test")) == 1


def test_an_unreachable_store_never_stops_the_training_loop(tmp_path: Path) -> None:
    """Store trouble is trackboard's, not the user's: values wait in the spool and
    every call, reopening after close() included, returns normally."""
    (tmp_path / "a-file").write_text("")
    store = f"sqlite:///{tmp_path / 'a-file' / 'x.db'}"  # a file where its folder should be
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        writer = SummaryWriter(tmp_path / "offline", project="torch-test", store=store)
        writer.add_scalar("loss", 1.0, 0)
        writer.add_hparams({"lr": 0.1}, {"acc": 0.5})
        writer.close()
        writer.add_scalar("loss", 0.5, 1)  # reopens: still no store
        writer.add_text("t", "x")
        writer.close()
    shared = writer_for(store)  # the process's writer for this store: closed here, not at exit
    shared.close(timeout=5)
    spooled = list((tmp_path / "spool").rglob("*.spool"))
    assert spooled and sum(p.stat().st_size for p in spooled) > 0
