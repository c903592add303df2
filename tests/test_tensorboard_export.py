"""Runs logged through the Run API -> TensorBoard event files -> a real TensorBoard server."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.interchange.tensorboard import (
    export_tensorboard,
    import_tensorboard,
)

from tests.support.servers import tensorboard_server

# Tests that start TensorBoard or read with TensorFlow's reader are marked slow one by
# one; the rest (our own exporter and importer, protobuf) run in the core suite.

PARAMS = [{"lr": 0.1, "opt": "adam", "layers": 2, "dropout": True},
          {"lr": 0.01, "opt": "sgd", "layers": 3, "dropout": False}]


def _log_runs(url: str) -> list[Run]:
    runs = []
    for i, params in enumerate(PARAMS):
        with Run(project="tbx", name=f"mlp {i}", config=params, tags={"seed": i},
                 notes=f"run *{i}*", store=url, system_metrics=False) as run:
            for step in range(30):
                # 1/3 + 1e-12 differs from its float32 rounding: float64 must survive.
                run.log({"loss": 1 / (step + 3) + 1e-12 * (i + 1), "acc": step / 30})
                if step % 5 == 0:
                    run.log({"val/loss": 0.5 / (step + 1)}, step=step)
        runs.append(run)
    return runs


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _post(url: str, body: dict) -> object:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-XSRF-Protected": "1"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _poll(url: str, count: int, timeout: float = 60.0) -> list:
    """TensorBoard answers before it has read every file: wait for `count` rows."""
    deadline = time.time() + timeout
    rows: list = []
    while time.time() < deadline:
        rows = _get(url)  # type: ignore[assignment]
        if len(rows) >= count:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"{url} returned {len(rows)} rows, not {count}, in {timeout} s")


def _f32(value: float) -> float:
    """What TensorBoard shows for a value: its float32 rounding, as a JSON double."""
    return float(np.float32(value))


def _tensors(run_dir: Path) -> dict[str, list[tuple[int, float, float]]]:
    """tag -> (step, wall time, value) as TensorBoard's own Python reader decodes them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0}).Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            out[tag] = [(e.step, e.wall_time, tensor_util.make_ndarray(e.tensor_proto).item())
                        for e in acc.Tensors(tag)]
    return out


def _check_server(base: str, runs: list[Run], manifest: dict[str, str], store: Store) -> None:
    """Scalars (float32 of every value), HParams with final metrics and Text, via the JSON API."""
    hist = store.history([r.id for r in runs])
    assert sorted(_get(f"{base}/data/runs")) == sorted(manifest.values())  # type: ignore[arg-type]
    for run in runs:
        rel = manifest[run.id]
        for key in ("loss", "acc", "val/loss"):
            q = urllib.parse.urlencode({"run": rel, "tag": key})
            want = hist[(hist.run_id == run.id) & (hist.key == key)]
            rows = _poll(f"{base}/data/plugin/scalars/scalars?{q}", len(want))
            assert [r[1] for r in rows] == want["step"].tolist()  # type: ignore[union-attr]
            values = [_f32(v) for v in want["value"]]
            assert [r[2] for r in rows] == values  # type: ignore[union-attr]
            # Wall times are float64 on disk and in both loaders.
            assert [r[0] for r in rows] == want["wall_time"].tolist()  # type: ignore[union-attr]
    experiment = _post(f"{base}/data/plugin/hparams/experiment",
                       {"experimentName": "", "includeMetrics": True})
    names = {h["name"] for h in experiment["hparamInfos"]}  # type: ignore[index]
    assert names == {"lr", "opt", "layers", "dropout"}
    metric_tags = {m["name"]["tag"] for m in experiment["metricInfos"]}  # type: ignore[index]
    assert {"loss", "acc", "val/loss"} <= metric_tags
    groups = _post(f"{base}/data/plugin/hparams/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 100,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                            "STATUS_RUNNING"],
        "colParams": [{"hparam": n} for n in sorted(names)]
        + [{"metric": {"tag": "loss", "group": ""}}]})
    by_name = {g["name"]: g for g in groups["sessionGroups"]}  # type: ignore[index]
    for run, params in zip(runs, PARAMS):
        group = by_name[manifest[run.id]]
        assert group["hparams"] == params
        loss = [m for m in group["metricValues"] if m["name"]["tag"] == "loss"]
        assert loss[0]["value"] == _f32(store.run(run.id)["metrics"]["loss"]["last"])
        assert group["sessions"][0]["status"] == "STATUS_SUCCESS"
    for i, run in enumerate(runs):
        text = _get(f"{base}/data/plugin/text/text?" + urllib.parse.urlencode(
            {"run": manifest[run.id], "tag": "trackboard/notes"}))
        assert text[0]["text"] == f"<p>run <em>{i}</em></p>"  # type: ignore[index]


@pytest.mark.slow
def test_round_trip_through_a_real_tensorboard(sqlite_url: str, tmp_path: Path) -> None:
    runs = _log_runs(sqlite_url)
    out = tmp_path / "tb"
    # The CLI in its own process: the export must not import TensorFlow.
    code = ("import sys; from trackboard.dashboard.cli import main; sys.argv = ['trackboard', "
            f"'export', 'tensorboard', {str(out)!r}, '--store', {sqlite_url!r}, '--project', "
            "'tbx']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TF', 'tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert "exported 2 run(s), 132 points" in proc.stdout, proc.stdout + proc.stderr
    assert "TF False" in proc.stdout

    store = Store(sqlite_url)
    manifest = json.loads((out / ".trackboard-export.json").read_text())["runs"]
    assert sorted(manifest) == sorted(r.id for r in runs)
    assert manifest[runs[0].id] == f"tbx/mlp_0-{runs[0].id[:8]}"
    hist = store.history([r.id for r in runs])

    # TensorBoard's own reader sees every point: float32 values, float64 wall times.
    for run in runs:
        got = _tensors(out / manifest[run.id])
        assert sorted(got) == ["acc", "loss", "val/loss"]
        for key, points in got.items():
            want = hist[(hist.run_id == run.id) & (hist.key == key)]
            assert [p[0] for p in points] == want["step"].tolist()
            assert [p[1] for p in points] == want["wall_time"].tolist()
            assert [p[2] for p in points] == [_f32(v) for v in want["value"]]

    log = tmp_path / "tensorboard.log"
    with tensorboard_server(out, log) as base:
        _check_server(base, runs, manifest, store)
    # Default flags mean the Rust data server; TensorBoard says so when it uses it.
    assert "Using experimental fast data loading logic" in log.read_text()


@pytest.mark.slow
def test_python_loader_shows_the_same(sqlite_url: str, tmp_path: Path) -> None:
    """`--load_fast=false` (TensorBoard's Python loader) shows the same data and precision."""
    runs = _log_runs(sqlite_url)
    res = export_tensorboard(sqlite_url, tmp_path / "tb")
    log = tmp_path / "tensorboard.log"
    with tensorboard_server(tmp_path / "tb", log, load_fast=False) as base:
        _check_server(base, runs, res.runs, Store(sqlite_url))
    assert "fast data loading" not in log.read_text()


@pytest.mark.slow
def test_export_then_import_keeps_float64_exactly(sqlite_url: str, tmp_path: Path) -> None:
    """TensorBoard shows float32, but the exported files carry every float64 for re-import."""
    runs = _log_runs(sqlite_url)
    with Run(project="tbx", name="extremes", store=sqlite_url) as run:
        # Beyond float32's range and precision: TensorBoard shows inf / rounded values.
        run.log({"big": 1e300, "tiny": 1e-300, "third": 1 / 3, "nan": float("nan")})
        # 20 keys in one event: a record over 256 bytes, which the importer peeks at.
        run.log({f"layer_{i:02d}/grad_norm": i / 7 for i in range(20)})
    res = export_tensorboard(sqlite_url, tmp_path / "tb")
    assert _tensors(tmp_path / "tb" / res.runs[run.id])["big"][0][2] == float("inf")
    dst = f"sqlite:///{tmp_path / 'back.db'}"
    imported = import_tensorboard(tmp_path / "tb", dst, progress=False)
    back = Store(dst)
    src_hist = Store(sqlite_url).history([r.id for r in [*runs, run]])
    names = {f"tbx/mlp_{i}-{r.id[:8]}": r.id for i, r in enumerate(runs)}
    names[f"tbx/extremes-{run.id[:8]}"] = run.id
    assert sorted(imported.runs.values()) == sorted(names)
    for uid, name in imported.runs.items():
        got = back.history([uid]).sort_values(["key", "step"])
        want = src_hist[src_hist.run_id == names[name]].sort_values(["key", "step"])
        assert got["key"].tolist() == want["key"].tolist()
        assert got["step"].tolist() == want["step"].tolist()
        assert got["wall_time"].tolist() == want["wall_time"].tolist()
        np.testing.assert_array_equal(got["value"].to_numpy(), want["value"].to_numpy())
    assert any(v != _f32(v) for v in src_hist["value"].dropna()), "no value needs float64"


def _records(path: Path) -> list[bytes]:
    """The records of a TFRecord file (u64 length, u32 CRC, data, u32 CRC), read without
    TensorFlow: what TensorBoard's reader gets before it parses each Event."""
    data, out, at = path.read_bytes(), [], 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        out.append(data[at + 12:at + 12 + length])
        at += 12 + length + 4
    return out


def test_exported_scalars_carry_every_float64(sqlite_url: str, tmp_path: Path) -> None:
    """The core suite's check of the exporter, parsed with protobuf alone (no TensorFlow):
    each value as float32 (what TensorBoard shows) and as the exact float64 (what the
    importer reads back), NaN and infinities included, at the step and time logged."""
    from tensorboard.compat.proto import event_pb2

    values = [1 / 3 + 1e-12, 1e300, 1e-300, -0.1, float("nan"), float("inf"), -float("inf")]
    with Run(project="tbx", name="exact", store=sqlite_url, system_metrics=False) as run:
        for step in range(40):  # a tag's first event is built by protobuf, the rest in bulk
            run.log({"v": values[step % len(values)] * (step + 1), "w": step / 7})
    res = export_tensorboard(sqlite_url, tmp_path / "tb")
    (events,) = (tmp_path / "tb" / res.runs[run.id]).glob("*tfevents*")
    got: dict[str, list[tuple[int, float, float, float]]] = {}
    for record in _records(events):
        event = event_pb2.Event.FromString(record)
        for v in event.summary.value:
            if v.tensor.double_val:
                got.setdefault(v.tag, []).append((event.step, event.wall_time,
                                                  v.tensor.float_val[0], v.tensor.double_val[0]))
    want = Store(sqlite_url).history([run.id])
    assert sorted(got) == ["v", "w"]
    for key, rows in got.items():
        mine = want[want.key == key].sort_values("step")
        assert [r[0] for r in rows] == mine["step"].tolist()
        assert [r[1] for r in rows] == mine["wall_time"].tolist()
        np.testing.assert_array_equal([r[3] for r in rows], mine["value"].to_numpy())
        with np.errstate(over="ignore"):  # 1e300 is inf in float32, as TensorBoard shows
            shown = mine["value"].to_numpy().astype(np.float32)
        np.testing.assert_array_equal([r[2] for r in rows], shown)
    assert any(v != _f32(v) for v in want["value"].dropna()), "no value needs float64"


@pytest.mark.slow  # TensorBoard's reader
def test_reexport_replaces_instead_of_duplicating(sqlite_url: str, tmp_path: Path) -> None:
    runs = _log_runs(sqlite_url)
    out = tmp_path / "tb"
    first = export_tensorboard(sqlite_url, out)
    export_tensorboard(sqlite_url, out)
    for rel in first.runs.values():
        assert len(list((out / rel).glob("*tfevents*"))) == 1
        assert len(_tensors(out / rel)["loss"]) == 30

    store = Store(sqlite_url)
    store.rename_run(runs[0].id, "renamed")
    again = export_tensorboard(sqlite_url, out, run_ids=[runs[0].id[:6]])
    assert again.runs == {runs[0].id: f"tbx/renamed-{runs[0].id[:8]}"}
    assert not (out / first.runs[runs[0].id]).exists()
    dirs = sorted(p.parent.relative_to(out).as_posix() for p in out.rglob("*tfevents*"))
    assert dirs == sorted([again.runs[runs[0].id], first.runs[runs[1].id]])


@pytest.mark.slow
@pytest.mark.parametrize("fast", [True, False])
def test_both_record_writers_write_what_tensorboard_reads(sqlite_url: str, tmp_path: Path,
                                                          fast: bool) -> None:
    """tensorboardX's writer (C crc32c) and TensorBoard's own write the same records."""
    runs = _log_runs(sqlite_url)
    res = export_tensorboard(sqlite_url, tmp_path / str(fast), fast=fast)
    hist = Store(sqlite_url).history([runs[1].id], keys=["val/loss"])
    got = _tensors(tmp_path / str(fast) / res.runs[runs[1].id])["val/loss"]
    assert [v for _, _, v in got] == [_f32(v) for v in hist["value"]]


def test_cli_rejects_an_empty_selection(sqlite_url: str, tmp_path: Path) -> None:
    _log_runs(sqlite_url)
    result = CliRunner().invoke(cli, ["export", "tensorboard", str(tmp_path / "o"),
                                      "--store", sqlite_url, "--project", "nope"])
    assert result.exit_code == 1
    assert "no runs in project 'nope'" in result.output


def test_bulk_encoder_writes_what_protobuf_writes() -> None:
    """Scalar events are encoded in bulk with numpy; protobuf must serialize them identically."""
    from tensorboard.compat.proto import event_pb2
    from trackboard.storage.interchange.tensorboard.scalar_events import (
        _encode_events,
        _fill,
        _template,
    )

    tags = ["loss", "val/acc", "é/ü" * 50]  # a tag over 127 bytes: two-byte length
    steps = np.array([0, 1, 127, 128, 16383, 16384, 2**40, -1, -2**63, 2**63 - 1], np.int64)
    walls = np.linspace(0.0, 2e9, len(steps))  # wall 0.0 and step 0: fields left out
    walls[1] = -0.0  # kept: only +0.0 is protobuf's default
    vals = np.random.default_rng(0).normal(size=(len(steps), len(tags)))
    vals[0, 0], vals[1, 1], vals[2, 2], vals[3, 0] = np.nan, 1e300, -np.inf, 1e-320
    encoded = _encode_events([t.encode() for t in tags], steps, walls, vals)
    for i, data in enumerate(encoded):
        event, slots = _template(tags, set())
        _fill(event, slots, int(steps[i]), float(walls[i]), vals[i].tolist())
        assert data == event.SerializeToString()
        parsed = event_pb2.Event.FromString(data)
        assert parsed.step == steps[i] and parsed.wall_time == walls[i]
        assert [v.tensor.double_val[0] for v in parsed.summary.value][1] == vals[i, 1]


HUGE_STEP = 2**31 + 5  # beyond the int32 TensorBoard's HParams plugin reports steps in


@pytest.mark.slow
def test_hparams_tab_shows_every_run_it_can_when_one_run_has_huge_steps(
        sqlite_url: str, tmp_path: Path) -> None:
    """One run at step 2**31 + 5 and others normal, through a real TensorBoard: the
    HParams tab lists the runs with params (not the run without params, whose empty
    session would be a row of blanks), the huge run's points are all in its scalars,
    and the export says why that run's params are not in the HParams tab."""
    normal = []
    for i, lr in enumerate((0.1, 0.01)):
        with Run(project="steps", name=f"ok{i}", config={"lr": lr}, store=sqlite_url,
                 system_metrics=False) as run:
            for step in range(10):
                run.log({"loss": 1.0 / (step + 1 + i)}, step=step)
        normal.append(run)
    with Run(project="steps", name="bare", store=sqlite_url, system_metrics=False) as bare:
        for step in range(10):
            bare.log({"loss": 0.5}, step=step)
    with Run(project="steps", name="huge", config={"lr": 0.5}, store=sqlite_url,
             system_metrics=False) as huge:
        for step in (0, 1, HUGE_STEP):
            huge.log({"loss": 2.0}, step=step)
    out = tmp_path / "tb"
    result = export_tensorboard(sqlite_url, out, project="steps")
    assert list(result.notes) == [result.runs[huge.id]]
    assert "2147483653" in result.notes[result.runs[huge.id]]
    assert f"note: {result.runs[huge.id]}: its steps reach 2147483653" in result.summary()

    with tensorboard_server(out, tmp_path / "tensorboard.log") as base:
        # Wait until TensorBoard has read the huge run (its step is all there).
        q = urllib.parse.urlencode({"run": result.runs[huge.id], "tag": "loss"})
        rows = _poll(f"{base}/data/plugin/scalars/scalars?{q}", 3)
        assert [r[1] for r in rows] == [0, 1, HUGE_STEP]  # type: ignore[index]
        for run in (*normal, bare):
            q = urllib.parse.urlencode({"run": result.runs[run.id], "tag": "loss"})
            _poll(f"{base}/data/plugin/scalars/scalars?{q}", 10)
        experiment = _post(f"{base}/data/plugin/hparams/experiment",
                           {"experimentName": "", "includeMetrics": True})
        assert [h["name"] for h in experiment["hparamInfos"]] == ["lr"]  # type: ignore[index]
        groups = _post(f"{base}/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 100,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                "STATUS_RUNNING"],
            "colParams": [{"hparam": "lr"}, {"metric": {"tag": "loss", "group": ""}}]})
    by_name = {g["name"]: g for g in groups["sessionGroups"]}  # type: ignore[index]
    assert sorted(by_name) == sorted(result.runs[r.id] for r in normal)
    for run in normal:
        group = by_name[result.runs[run.id]]
        assert group["hparams"] == {"lr": run_lr(run, sqlite_url)}
        loss = [m for m in group["metricValues"] if m["name"]["tag"] == "loss"]
        assert loss[0]["trainingStep"] == 9
        assert loss[0]["value"] == _f32(Store(sqlite_url).run(run.id)["metrics"]["loss"]["last"])


def run_lr(run: Run, url: str) -> float:
    return Store(url).run(run.id)["params"]["lr"]
