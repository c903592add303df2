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
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from trackboard.dashboard.cli import cli
from trackboard.storage import Store
from trackboard.storage.interchange.tensorboard import import_tensorboard
from trackboard.storage.interchange.tensorboard.importer import (
    EventFileWarning,
    find_runs,
    run_uid,
)

pytestmark = pytest.mark.slow  # TensorBoard's own reader (and TensorFlow) checks every file


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
                          "point_buckets", "metric_summaries", "media_series", "histograms",
                          "images", "texts", "blobs")}


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


@pytest.mark.slow
def test_torch_summary_writer(tmp_path: Path, sqlite_url: str) -> None:
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "torch"
    with SummaryWriter(str(logdir / "exp1")) as w:
        for step in range(40):
            w.add_scalar("loss", 1.0 / (step + 1), step)
            w.add_scalar("lr", 0.1 * 0.9 ** step, step, new_style=True)
            w.add_scalars("acc", {"train": step / 40, "val": step / 50}, step)
        # Records over 256 bytes are peeked at before decoding: these must be kept.
        w.add_text("notes", "a *torch* run " + "with a long description " * 20, 0)
        w.add_hparams({"lr": 0.1, "opt": "adam", "bn": True,
                       **{f"extra_param_{i}": i for i in range(20)}}, {"hparam/best": 0.25})
    store = _import_and_compare(logdir, sqlite_url)
    runs = store.runs(project="imported")
    names = set(runs["name"])
    # add_scalars and add_hparams write nested runs, which TensorBoard shows as runs too.
    assert {"exp1", "exp1/acc_train", "exp1/acc_val"} <= names
    hp = runs[runs["name"].str.match(r"exp1/\d")].iloc[0]
    assert (hp["params.lr"], hp["params.opt"], hp["params.bn"]) == (0.1, "adam", True)
    assert hp["params.extra_param_19"] == 19
    assert hp["metrics.hparam/best.last"] == 0.25
    main = store.run(runs.loc[runs["name"] == "exp1", "id"].iloc[0])
    assert main["status"] == "finished"
    texts = store.texts(main["id"])  # per step, as TensorBoard's Text tab shows them
    assert texts[["key", "step"]].values.tolist() == [["notes/text_summary", 0]]
    assert texts["text"].iloc[0] == "a *torch* run " + "with a long description " * 20
    assert main["metrics"]["loss"]["count"] == 40


@pytest.mark.slow
def test_tensorboardx_writer(tmp_path: Path, sqlite_url: str) -> None:
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "tbx"
    opened = time.time()
    for name in ("a", "b/nested"):
        with SummaryWriter(str(logdir / name)) as w:
            # Scalars stamped in 2033: after any clock here, so no import-time stamp can
            # pass for them.
            for step in range(0, 60, 3):
                w.add_scalar("train/loss", 2.0 / (step + 1), step, walltime=2e9 + step)
    closed = time.time()
    store = _import_and_compare(logdir, sqlite_url)
    runs = store.runs(project="imported").set_index("name")
    assert set(runs.index) == {"a", "b/nested"}
    # The run's times are the events' own, not the import's: created at the writer's first
    # event (tensorboardX stamps its file-version event with the real clock), ended at the
    # last scalar's wall time.
    assert opened - 1e-3 <= runs.loc["a", "created_at"].timestamp() <= closed + 1e-3
    assert runs.loc["a", "ended_at"].timestamp() == pytest.approx(2e9 + 57)


KERAS_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["KERAS_BACKEND"] = "torch"
    import numpy as np, keras
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir=sys.argv[1], update_freq=2,
                                                     histogram_freq=1, write_images=True)])
    print("backend", keras.backend.backend())
""")


@pytest.mark.slow
def test_keras_tensorboard_callback_on_torch_backend(tmp_path: Path, sqlite_url: str) -> None:
    logdir = tmp_path / "keras"
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    proc = subprocess.run([sys.executable, "-c", KERAS_SCRIPT, str(logdir)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "backend torch" in proc.stdout, proc.stderr[-3000:]
    store = _import_and_compare(logdir, sqlite_url)
    # TF2-style images and histograms: tensors, the plugin named in the first value's
    # metadata only, which the peek must pass on to the importer.
    assert {"images", "histograms"} <= _peek_matches_parser(logdir)
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


def _restarted_logdirs(logdir: Path) -> None:
    """Two runs that crash after step 11 and resume from step 5, as torch writes them.

    "purged" resumes with SummaryWriter(purge_step=5) (torch writes a SessionLog START
    at step 5) and logs only loss again; "restarted" resumes without purge_step.
    """
    import time

    from torch.utils.tensorboard import SummaryWriter

    for name in ("purged", "restarted"):
        with SummaryWriter(str(logdir / name)) as w:
            for step in range(12):
                w.add_scalar("loss", 100.0 + step, step)
                w.add_scalar("acc", 200.0 + step, step)
    time.sleep(1.1)  # torch names event files by the second: the resumed file sorts last
    for name, purge in (("purged", 5), ("restarted", None)):
        with SummaryWriter(str(logdir / name), purge_step=purge) as w:
            for step in range(5, 9):
                w.add_scalar("loss", 300.0 + step, step)


@pytest.mark.slow
def test_purge_step_restart_drops_what_it_supersedes(tmp_path: Path, sqlite_url: str) -> None:
    logdir = tmp_path / "logs"
    _restarted_logdirs(logdir)
    result = import_tensorboard(logdir, sqlite_url, progress=False)
    assert result.warnings == []
    got = _store_scalars(Store(sqlite_url), logdir)
    old = {s: 100.0 + s for s in range(5)}
    new = {s: 300.0 + s for s in range(5, 9)}
    # purge_step=5: every tag's points at steps >= 5 from before the restart go.
    assert got[("purged", "loss")] == {**old, **new}
    assert got[("purged", "acc")] == {s: 200.0 + s for s in range(5)}
    # No purge_step: a tag that goes back replaces its own points from that step on.
    assert got[("restarted", "loss")] == {**old, **new}
    assert got[("restarted", "acc")] == {s: 200.0 + s for s in range(12)}
    # EventAccumulator shows the purge_step run the same way.
    assert {k: v for k, v in _reader_scalars(logdir).items() if k[0] == "purged"} == {
        k: v for k, v in got.items() if k[0] == "purged"}
    # Importing again changes nothing.
    before = _dump(Store(sqlite_url))
    import_tensorboard(logdir, sqlite_url, progress=False)
    assert _dump(Store(sqlite_url)) == before


@pytest.mark.slow
def test_restarts_match_tensorboard_with_default_flags(tmp_path: Path, sqlite_url: str) -> None:
    """The default loader shows each re-logged series exactly as the import stores it."""
    import json
    import time
    import urllib.parse
    import urllib.request

    from tests.support.servers import tensorboard_server

    logdir = tmp_path / "logs"
    _restarted_logdirs(logdir)
    import_tensorboard(logdir, sqlite_url, progress=False)
    got = _store_scalars(Store(sqlite_url), logdir)

    def shown(base: str, run: str, tag: str, count: int) -> dict[int, float]:
        q = urllib.parse.urlencode({"run": run, "tag": tag})
        deadline = time.time() + 60
        while True:
            with urllib.request.urlopen(f"{base}/data/plugin/scalars/scalars?{q}") as resp:
                rows = json.loads(resp.read())
            if len(rows) >= count or time.time() > deadline:
                return {r[1]: r[2] for r in rows}
            time.sleep(0.5)

    with tensorboard_server(logdir, tmp_path / "tb.log") as base:
        for run in ("purged", "restarted"):
            assert shown(base, run, "loss", 9) == got[(run, "loss")]
        assert shown(base, "restarted", "acc", 12) == got[("restarted", "acc")]
        # The default loader ignores the START event: it still shows acc's old steps
        # 5-11 that torch's purge_step hides (README: "Restarts").
        assert shown(base, "purged", "acc", 12) == {s: 200.0 + s for s in range(12)}


@pytest.mark.slow
@pytest.mark.parametrize("backend",
                         ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_restarts_past_the_held_points(tmp_path: Path, backend: str,
                                       request: pytest.FixtureRequest) -> None:
    """Runs longer than what is held in memory: a START still purges exactly (in the
    store), a tag going back past written points warns and keeps them."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    logdir = tmp_path / "logs"
    _restarted_logdirs(logdir)
    result = import_tensorboard(logdir / "purged", url, progress=False, batch_points=6,
                                hold_points=6)
    assert result.warnings == []
    store = Store(url)
    hist = store.history(list(result.runs))
    assert dict(zip(hist[hist.key == "acc"]["step"], hist[hist.key == "acc"]["value"])) == {
        s: 200.0 + s for s in range(5)}
    assert dict(zip(hist[hist.key == "loss"]["step"], hist[hist.key == "loss"]["value"])) == {
        **{s: 100.0 + s for s in range(5)}, **{s: 300.0 + s for s in range(5, 9)}}
    info = store.run(next(iter(result.runs)))
    assert info["metrics"]["acc"]["count"] == 5 and info["metrics"]["acc"]["last"] == 204.0

    with pytest.warns(EventFileWarning, match="'restarted': tag 'loss' goes back to step 5"):
        result = import_tensorboard(logdir / "restarted", url, progress=False,
                                    batch_points=6, hold_points=6)
    assert len(result.warnings) == 1
    hist = Store(url).history(list(result.runs))
    # Nothing is lost silently: loss's old points 9-11 were already written and stay.
    assert sorted(hist[hist.key == "loss"]["step"]) == list(range(12))


@pytest.mark.slow
def test_peek_agrees_with_the_protobuf_parser(tmp_path: Path) -> None:
    """The wire-format peek the importer uses to skip what it leaves out (audio, other
    plugins' tensors) undecoded."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "mixed"
    rng = np.random.default_rng(0)
    with SummaryWriter(str(logdir)) as w:
        for step in range(3):
            w.add_scalar("loss", 1.0 / (step + 1), step)
            w.add_scalar("lr", 0.1, step, new_style=True)
            w.add_scalars("acc", {"train": 0.5, "val": 0.4}, step)
            w.add_image("img", rng.random((3, 8, 8)), step)
            w.add_histogram("w", rng.normal(size=100), step)
            w.add_text("note", "hello", step)
        w.add_hparams({"lr": 0.1}, {"hp/m": 1.0})
    kinds = _peek_matches_parser(logdir)
    assert {2, 4, 5, 8} <= kinds  # simple_value, image, histo, tensor


def _peek_matches_parser(logdir: Path) -> set:
    """Every record's peek equals protobuf's parse; returns the value kinds and plugins."""
    from tensorboard.compat.proto import event_pb2
    from trackboard.storage.interchange.tensorboard.run_reader import _records
    from trackboard.storage.interchange.tensorboard.wire import peek_summary

    seen: set = set()
    for path in sorted(logdir.rglob("*tfevents*")):
        for raw in _records(path):
            event = event_pb2.Event.FromString(raw)
            want = None
            if event.HasField("summary"):
                want = [(v.tag, v.DESCRIPTOR.fields_by_name[v.WhichOneof("value")].number
                         if v.WhichOneof("value") else 0,
                         v.metadata.plugin_data.plugin_name if v.HasField("metadata") else None)
                        for v in event.summary.value]
                seen.update(k for _, k, p in want)
                seen.update(p for _, k, p in want if p)
            assert peek_summary(raw) == (event.wall_time, want)
    return seen
