"""Logdirs written by torch, tensorboardX and Keras -> `trackboard import tensorboard`.

Every scalar must equal what TensorBoard's own reader (EventAccumulator) sees;
importing twice must leave the store exactly as it was; a truncated file is
reported by name and the rest imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from trackboard.dashboard.cli import cli
from trackboard.storage import Store
from trackboard.storage.tb_import import EventFileWarning, find_runs, run_uid
from trackboard.storage.tensorboard import import_tensorboard


def _reader_scalars(logdir: Path) -> dict[tuple[str, str], dict[int, float]]:
    """(run, tag) -> {step: value} as TensorBoard's EventAccumulator reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    out: dict[tuple[str, str], dict[int, float]] = {}
    for rel, _ in find_runs(logdir):
        acc = EventAccumulator(str(logdir / rel),
                               size_guidance={"scalars": 0, "tensors": 0}).Reload()
        for tag in acc.Tags()["scalars"]:
            out[(rel, tag)] = {e.step: e.value for e in acc.Scalars(tag)}
        for tag in acc.Tags()["tensors"]:
            if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
                out[(rel, tag)] = {e.step: tensor_util.make_ndarray(e.tensor_proto).item()
                                   for e in acc.Tensors(tag)}
    return out


def _store_scalars(store: Store, logdir: Path) -> dict[tuple[str, str], dict[int, float]]:
    out: dict[tuple[str, str], dict[int, float]] = {}
    for rel, _ in find_runs(logdir):
        hist = store.history([run_uid(logdir, rel)])
        for key, part in hist.groupby("key"):
            out[(rel, str(key))] = dict(zip(part["step"].tolist(), part["value"].tolist()))
    return out


def _dump(store: Store) -> dict[str, list]:
    with store.engine.connect() as conn:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr)
                for t in ("projects", "runs", "params", "tags", "metric_keys", "points",
                          "point_buckets", "metric_summaries")}


def _import_and_compare(logdir: Path, url: str) -> Store:
    result = CliRunner().invoke(cli, ["import", "tensorboard", str(logdir), "--store", url,
                                      "--project", "imported"])
    assert result.exit_code == 0, result.output
    store = Store(url)
    want = _reader_scalars(logdir)
    assert want, "the reader saw no scalars: the logdir writer did not work"
    assert _store_scalars(store, logdir) == want
    before = _dump(store)
    again = CliRunner().invoke(cli, ["import", "tensorboard", str(logdir), "--store", url,
                                     "--project", "imported"])
    assert again.exit_code == 0, again.output
    assert _dump(store) == before
    return store


def test_torch_summary_writer(tmp_path: Path, sqlite_url: str) -> None:
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "torch"
    with SummaryWriter(str(logdir / "exp1")) as w:
        for step in range(40):
            w.add_scalar("loss", 1.0 / (step + 1), step)
            w.add_scalar("lr", 0.1 * 0.9 ** step, step, new_style=True)
            w.add_scalars("acc", {"train": step / 40, "val": step / 50}, step)
        w.add_text("notes", "a *torch* run", 0)
        w.add_hparams({"lr": 0.1, "opt": "adam", "bn": True}, {"hparam/best": 0.25})
    store = _import_and_compare(logdir, sqlite_url)
    runs = store.runs(project="imported")
    names = set(runs["name"])
    # add_scalars and add_hparams write nested runs, which TensorBoard shows as runs too.
    assert {"exp1", "exp1/acc_train", "exp1/acc_val"} <= names
    hp = runs[runs["name"].str.match(r"exp1/\d")].iloc[0]
    assert (hp["params.lr"], hp["params.opt"], hp["params.bn"]) == (0.1, "adam", True)
    assert hp["metrics.hparam/best.last"] == 0.25
    main = store.run(runs.loc[runs["name"] == "exp1", "id"].iloc[0])
    assert main["status"] == "finished" and "a *torch* run" in main["notes"]
    assert main["metrics"]["loss"]["count"] == 40


def test_tensorboardx_writer(tmp_path: Path, sqlite_url: str) -> None:
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "tbx"
    for name in ("a", "b/nested"):
        with SummaryWriter(str(logdir / name)) as w:
            for step in range(0, 60, 3):
                w.add_scalar("train/loss", 2.0 / (step + 1), step, walltime=1.7e9 + step)
    store = _import_and_compare(logdir, sqlite_url)
    runs = store.runs(project="imported").set_index("name")
    assert set(runs.index) == {"a", "b/nested"}
    created = runs.loc["a", "created_at"].timestamp()
    assert created <= 1.7e9 + 1 or runs.loc["a", "ended_at"].timestamp() >= 1.7e9 + 57


KERAS_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    import numpy as np, keras
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=sys.argv[1], update_freq=2)])
    print("backend", keras.backend.backend())
""")


def test_keras_tensorboard_callback_on_torch_backend(tmp_path: Path, sqlite_url: str) -> None:
    logdir = tmp_path / "keras"
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, "-c", KERAS_SCRIPT, str(logdir)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "backend torch" in proc.stdout, proc.stderr[-3000:]
    store = _import_and_compare(logdir, sqlite_url)
    names = set(store.runs(project="imported")["name"])
    assert {"train", "validation"} <= names
    keys = store.keys()
    assert "epoch_loss" in keys and "epoch_mae" in keys


def test_truncated_file_is_reported_and_the_rest_imported(tmp_path: Path,
                                                           sqlite_url: str) -> None:
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "cut"
    for name in ("good", "cut"):
        with SummaryWriter(str(logdir / name)) as w:
            for step in range(50):
                w.add_scalar("loss", float(step), step)
    cut = next((logdir / "cut").glob("*tfevents*"))
    cut.write_bytes(cut.read_bytes()[:-7])  # the last record loses its checksum
    with pytest.warns(EventFileWarning, match=cut.name):
        result = import_tensorboard(logdir, sqlite_url, progress=False)
    assert len(result.warnings) == 1 and str(cut) in result.warnings[0]
    store = Store(sqlite_url)
    assert _store_scalars(store, logdir) == _reader_scalars(logdir)
    points = {rel: len(v) for (rel, _), v in _store_scalars(store, logdir).items()}
    assert points == {"good": 50, "cut": 49}
    cli_run = CliRunner().invoke(cli, ["import", "tensorboard", str(logdir), "--store",
                                       sqlite_url])
    assert cli_run.exit_code == 0 and f"warning: {cut}" in cli_run.output


def test_not_a_logdir(tmp_path: Path, sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["import", "tensorboard", str(tmp_path), "--store",
                                      sqlite_url])
    assert result.exit_code == 1 and "no event files" in result.output
