"""Resuming a run (`Run(id=..., resume=...)`, $TRACKBOARD_RUN_ID) and `run.purge(step)`:
the same run in the store, steps that continue, and points past a checkpoint that
go away exactly as TensorBoard's purge_step drops them (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store
from trackboard.storage.db.engine import build_engine
from trackboard.storage.write.writer import Writer

from tests.support.children import killed_while_spooling
from tests.support.reference import check_rollups
from tests.support.sqlite_lock import write_lock_held


def _series(store: Store, run_id: str, key: str) -> dict[int, float]:
    hist = store.history([run_id], keys=[key])
    return dict(zip(hist["step"].tolist(), hist["value"].tolist()))


def _assert_rollups_exact(url: str) -> None:
    engine = build_engine(url)
    try:
        assert check_rollups(engine) >= 1
    finally:
        engine.dispose()


def test_resume_continues_the_same_run(store_url: str) -> None:
    first = Run(project="vision", name="resnet", id="resnet-seed3", config={"lr": 0.1},
                tags={"team": "a"}, store=store_url, system_metrics=False)
    assert first.id == "resnet-seed3" and not first.resumed
    for step in range(10):
        first.log({"loss": 10.0 - step})
    first.finish()
    created = Store(store_url).runs().loc[0, "created_at"]

    again = Run(project="elsewhere", id="resnet-seed3", config={"epochs": 5}, store=store_url,
                system_metrics=False)
    assert again.resumed and again.step == 10
    assert again.project == "vision" and again.name == "resnet"  # stored ones kept
    again.log({"loss": 0.5})
    again.log({"loss": 0.25})
    assert again.flush()
    runs = Store(store_url).runs()
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["id"] == "resnet-seed3" and row["status"] == "running"
    assert pd_isna(row["ended_at"]) and row["created_at"] == created
    assert row["params.lr"] == 0.1 and row["params.epochs"] == 5 and row["tags.team"] == "a"
    again.finish()
    store = Store(store_url)
    row = store.runs().iloc[0]
    assert row["status"] == "finished" and row["ended_at"] >= created
    assert row["project"] == "vision" and row["name"] == "resnet"
    assert list(_series(store, "resnet-seed3", "loss")) == list(range(12))
    assert row["metrics.loss.last"] == 0.25 and row["metrics.loss.max"] == 10.0


def pd_isna(value: object) -> bool:
    return value is None or value != value


def test_resume_renames_only_when_a_name_is_given(sqlite_url: str) -> None:
    Run(name="old", id="r1", store=sqlite_url, system_metrics=False).finish()
    Run(id="r1", store=sqlite_url, system_metrics=False).finish()
    assert Store(sqlite_url).runs().loc[0, "name"] == "old"
    renamed = Run(name="new", id="r1", store=sqlite_url, system_metrics=False)
    assert renamed.name == "new"
    renamed.finish()
    assert Store(sqlite_url).runs()["name"].tolist() == ["new"]


def test_must_and_never_refuse_at_the_call(store_url: str) -> None:
    with pytest.raises(ValueError, match="no run with id 'ghost'.*resume='allow'"):
        Run(id="ghost", resume="must", store=store_url, system_metrics=False)
    made = Run(id="ghost", resume="never", store=store_url, system_metrics=False)
    assert not made.resumed
    made.log({"x": 1.0})
    made.finish()
    with pytest.raises(ValueError, match="run 'ghost' already exists"):
        Run(id="ghost", resume="never", store=store_url, system_metrics=False)
    must = Run(id="ghost", resume="must", store=store_url, system_metrics=False)
    assert must.resumed and must.step == 1
    must.finish()
    assert len(Store(store_url).runs()) == 1  # the refused calls stored nothing


@pytest.mark.parametrize("bad", ["", "a" * 33, "has space", "semi;colon", "ünï"])
def test_invalid_ids_raise_value_error(sqlite_url: str, bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid run id"):
        Run(id=bad, store=sqlite_url, system_metrics=False)


def test_unknown_mode_and_must_without_id(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="use 'allow', 'must' or 'never'"):
        Run(id="x", resume="yes", store=sqlite_url, system_metrics=False)
    with pytest.raises(ValueError, match="needs the id of the run"):
        Run(resume="must", store=sqlite_url, system_metrics=False)


def test_run_id_from_the_environment(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKBOARD_RUN_ID", "job-4711")
    first = Run(store=sqlite_url, system_metrics=False)
    assert first.id == "job-4711" and not first.resumed
    first.log({"x": 1.0})
    first.finish()
    second = Run(store=sqlite_url, system_metrics=False)  # the scheduler restarted the job
    assert second.id == "job-4711" and second.resumed and second.step == 1
    second.finish()
    explicit = Run(id="other", store=sqlite_url, system_metrics=False)  # the argument wins
    assert explicit.id == "other"
    explicit.finish()
    monkeypatch.setenv("TRACKBOARD_RUN_ID", "bad id!")
    with pytest.raises(ValueError, match=r"\$TRACKBOARD_RUN_ID 'bad id!' is not a valid run id"):
        Run(store=sqlite_url, system_metrics=False)


def test_purge_drops_earlier_points_past_the_step(store_url: str) -> None:
    run = Run(id="ckpt", store=store_url, system_metrics=False)
    for step in range(3000):
        run.log({"loss": float(step), "acc": -float(step)})
    run.log_aside({"system/cpu": 50.0}, step=2500)
    run.log({"loss": 1e6}, step=200_000)  # far away: several roll-up levels touched
    assert run.flush()
    # Resumed from the checkpoint of step 1500: the crashed attempt logged past it.
    resumed = Run(id="ckpt", store=store_url, system_metrics=False)
    assert resumed.step == 200_001
    resumed.purge(1500)
    assert resumed.step == 1500  # the next log() goes on at the checkpoint
    for step in range(1500, 1600):
        resumed.log({"loss": 0.5})
    resumed.finish()
    store = Store(store_url)
    loss = _series(store, "ckpt", "loss")
    assert sorted(loss) == list(range(1600))
    assert all(loss[s] == float(s) for s in range(1500)) and loss[1599] == 0.5
    assert sorted(_series(store, "ckpt", "acc")) == list(range(1500))
    assert _series(store, "ckpt", "system/cpu") == {2500: 50.0}  # system keys stay
    metrics = store.run("ckpt")["metrics"]
    assert metrics["loss"]["max"] == 1499.0 and metrics["loss"]["last"] == 0.5
    assert metrics["loss"]["last_step"] == 1599 and metrics["loss"]["count"] == 1600
    assert metrics["acc"]["min"] == -1499.0 and metrics["acc"]["last_step"] == 1499
    _assert_rollups_exact(store_url)
    # the downsampled history (read from roll-ups) agrees too
    coarse = store.history(["ckpt"], keys=["loss"], max_points=50)
    assert coarse["value"].max() == 1499.0 and 1500 <= coarse["step"].max() <= 1599


def test_purge_within_one_batch_keeps_what_was_logged_after_it(store_url: str) -> None:
    # One writer batch (nothing is written before flush()): order inside it decides.
    writer = Writer(store_url, flush_interval=3600)
    try:
        run = Run(id="one-batch", store=store_url, writer=writer, system_metrics=False)
        for step in range(100):
            run.log({"loss": 1.0, "lr": 0.1})
        run.purge(50)
        for step in range(50, 60):
            run.log({"loss": 2.0})
        run.purge(55)  # a second purge: drops 55..59 of the second attempt
        run.log({"loss": 3.0})
        run.finish()
        assert writer.points_lost == 0
    finally:
        writer.close()
    store = Store(store_url)
    loss = _series(store, "one-batch", "loss")
    assert loss == {**{s: 1.0 for s in range(50)}, **{s: 2.0 for s in range(50, 55)}, 55: 3.0}
    assert sorted(_series(store, "one-batch", "lr")) == list(range(50))
    metrics = store.run("one-batch")["metrics"]
    assert (metrics["loss"]["count"], metrics["loss"]["max"], metrics["loss"]["last"]) == (56, 3.0, 3.0)
    _assert_rollups_exact(store_url)


def test_purge_everything_and_log_again(store_url: str) -> None:
    run = Run(id="again", store=store_url, system_metrics=False)
    for step in range(10):
        run.log({"a": float(step)})
    assert run.flush()
    run.purge(0)
    assert run.flush()
    store = Store(store_url)
    assert _series(store, "again", "a") == {}
    assert "a" not in store.run("again")["metrics"]
    run.log({"a": 7.0})
    run.finish()
    assert _series(Store(store_url), "again", "a") == {0: 7.0}
    _assert_rollups_exact(store_url)


def test_purge_validates_and_refuses_after_finish(sqlite_url: str) -> None:
    run = Run(store=sqlite_url, system_metrics=False)
    with pytest.raises(ValueError, match="negative"):
        run.purge(-1)
    run.finish()
    with pytest.raises(ValueError, match="finished"):
        run.purge(3)


def test_spool_delivered_late_purge_never_deletes_newer_points(tmp_path: Path) -> None:
    db = tmp_path / "late.db"
    url = f"sqlite:///{db}"
    first = Run(id="late", store=url, system_metrics=False)
    for step in range(200):
        first.log({"loss": 1.0})
    first.finish()
    # A resumed attempt purges and logs while the store is locked: all into its spool.
    spool = tmp_path / "spool-late"
    with write_lock_held(db, 60) as holder:
        offline = Writer(url, flush_interval=0.1, busy_timeout_ms=200, spool_directory=spool)
        attempt = Run(id="late", store=url, writer=offline, system_metrics=False)
        attempt.purge(100)
        for step in range(100, 150):
            attempt.log({"loss": 2.0})
        attempt.finish(timeout=5)
        offline.close(timeout=5)
        assert offline.points_spooled >= 50 and offline.points_written == 0
        holder.kill()
    # Later, another process logs newer points at steps the purge covers.
    time.sleep(0.01)
    newer = Run(id="late", store=url, system_metrics=False)
    newer.log({"loss": 3.0}, step=120)
    for step in range(150, 160):
        newer.log({"loss": 3.0}, step=step)
    newer.finish()
    # Now the spool arrives: its purge drops only what was logged before it.
    delivery = Writer(url, flush_interval=0.05, spool_directory=spool)
    delivery.flush(60)
    delivery.close()
    assert delivery.points_written >= 50
    loss = _series(Store(url), "late", "loss")
    expected = {**{s: 1.0 for s in range(100)}, **{s: 2.0 for s in range(100, 150)},
                120: 3.0, **{s: 3.0 for s in range(150, 160)}}
    assert loss == expected
    assert Store(url).runs().loc[0, "status"] == "finished"
    _assert_rollups_exact(url)


@pytest.mark.slow
def test_resume_a_finished_run_from_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    child = """
import sys
from trackboard.loggers import Run
run = Run(project="proc", name=sys.argv[2], store=sys.argv[1], system_metrics=False)
print(run.id, run.resumed, run.step, flush=True)
for _ in range(5):
    run.log({"loss": float(run.step)})
run.finish()
"""
    env = {**os.environ, "TRACKBOARD_RUN_ID": "job-7"}

    def start(name: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", child, url, name], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert start("first") == ["job-7", "False", "0"]
    assert Store(url).runs().loc[0, "status"] == "finished"
    assert start("second") == ["job-7", "True", "5"]
    here = Run(id="job-7", resume="must", store=url, system_metrics=False)
    assert here.resumed and here.step == 10 and here.name == "second"
    here.finish()
    store = Store(url)
    runs = store.runs()
    assert len(runs) == 1 and runs.loc[0, "status"] == "finished"
    assert runs.loc[0, "name"] == "second"
    assert _series(store, "job-7", "loss") == {s: float(s) for s in range(10)}


@pytest.mark.postgres
def test_unreachable_store_allow_goes_on_must_and_never_raise(pg_url: str,
                                                             tmp_path: Path) -> None:
    port = pg_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    dead = pg_url.replace(f":{port}/", ":9/")  # nothing listens on port 9
    writer = Writer(dead, max_backoff=0.5, spool_directory=tmp_path / "spool-dead")
    try:
        for mode in ("must", "never"):
            with pytest.raises(ValueError, match=f"cannot check whether run 'exp' exists.*"
                                                 f"resume='{mode}' needs the store"):
                Run(id="exp", resume=mode, store=dead, writer=writer, system_metrics=False)
        with pytest.warns(RuntimeWarning, match="cannot check whether run 'exp' exists"):
            run = Run(id="exp", store=dead, writer=writer, system_metrics=False)
        assert run.id == "exp" and not run.resumed and run.step == 0
        run.log({"x": 1.0})
        run.finish(timeout=5)
    finally:
        writer.close(timeout=5)
    assert writer.points_spooled == 1


def test_points_logged_before_a_purge_are_dropped_when_they_arrive_after_it(
        store_url: str) -> None:
    # A batch split up on a retry, or a spool frame read in another order, can bring
    # points logged before a purge to the store after it.
    from trackboard.storage.db.migrate import check_schema
    from trackboard.storage.write.ingest import Ingestor
    from trackboard.storage.write.records import POINTS, PURGE, Batch

    engine = build_engine(store_url)
    check_schema(engine)
    run = {"uid": "split", "project": "p", "name": "n", "created_at": 0.0, "status": "running"}
    ingestor = Ingestor(engine)
    ingestor.apply(Batch(runs={"split": run}, points=[
        (POINTS, "split", s, 1.0 + s, {"a": 1.0, "system/gpu": 5.0}) for s in range(100)]))
    ingestor.apply(Batch(runs={"split": run}, purges=[(PURGE, "split", 50, 200.0)]))
    ingestor.apply(Batch(runs={"split": run}, points=[
        (POINTS, "split", 60, 150.0, {"a": 2.0, "system/gpu": 6.0}),  # logged before: dropped
        (POINTS, "split", 70, 250.0, {"a": 3.0})]))                   # after: kept
    engine.dispose()
    store = Store(store_url)
    assert _series(store, "split", "a") == {**{s: 1.0 for s in range(50)}, 70: 3.0}
    gpu = _series(store, "split", "system/gpu")
    assert len(gpu) == 100 and gpu[60] == 6.0  # system keys are never purged
    _assert_rollups_exact(store_url)


@pytest.mark.slow
def test_a_late_spool_never_reopens_a_run_that_ended_after_it(tmp_path: Path) -> None:
    """A resumed attempt killed while the store was locked leaves its records in its
    spool; the run is resumed and finished again elsewhere; the old spool arriving
    last adds its points but leaves the run finished."""
    db = tmp_path / "k.db"
    url = f"sqlite:///{db}"
    Run(id="job", store=url, system_metrics=False).finish()
    spool = tmp_path / "spool-killed"
    killed_while_spooling(db, {"id": "job"}, spool)
    later = Run(id="job", store=url, system_metrics=False)
    later.log({"y": 1.0}, step=0)
    later.finish()
    delivery = Writer(url, flush_interval=0.05, spool_directory=spool)
    delivery.flush(60)
    delivery.close()
    store = Store(url)
    assert len(_series(store, "job", "x")) == 300  # the killed attempt's points arrived
    runs = store.runs()
    assert len(runs) == 1 and runs.loc[0, "status"] == "finished"


def test_start_run_passes_id_and_resume_on(sqlite_url: str) -> None:
    from trackboard.loggers.distributed import NullRun, start_run

    first = start_run(framework="torch", id="dist-1", store=sqlite_url, system_metrics=False)
    first.log({"loss": 1.0})
    first.finish()
    again = start_run(framework="torch", id="dist-1", resume="must", store=sqlite_url,
                      system_metrics=False)
    assert isinstance(again, Run) and again.resumed and again.step == 1
    again.finish()
    null = NullRun()
    null.purge(3)
    assert null.resumed is False


def test_resume_step_ignores_system_samples(sqlite_url: str) -> None:
    # Many more system samples (their own step sequence) than training steps: the
    # resumed run's next step follows its last training step, not its last sample.
    first = Run(id="few-steps", store=sqlite_url, system_metrics=False)
    for step in range(5):
        first.log({"loss": 1.0 / (step + 1)})
    for sample in range(50):
        first.log_aside({"system/cpu_percent": 10.0}, step=sample)
    first.finish()
    again = Run(id="few-steps", store=sqlite_url, system_metrics=False)
    assert again.resumed and again.step == 5
    again.log({"loss": 0.1})
    again.finish()
    assert list(_series(Store(sqlite_url), "few-steps", "loss")) == list(range(6))


def test_resumed_system_samples_go_on_after_the_stored_ones(sqlite_url: str) -> None:
    # System metrics count their own steps (the sample index): a resumed run must not
    # start that count again at 0 and overwrite the samples its first attempt stored.
    def sampled_run() -> None:
        run = Run(id="sys-resume", store=sqlite_url, system_metrics=0.05)
        assert run._sampler is not None
        wanted = run._sampler.samples + 3
        deadline = time.time() + 5
        while run._sampler.samples < wanted and time.time() < deadline:
            time.sleep(0.02)
        run.finish()

    sampled_run()
    first = _series(Store(sqlite_url), "sys-resume", "system/cpu_percent")
    sampled_run()
    both = _series(Store(sqlite_url), "sys-resume", "system/cpu_percent")
    assert len(first) >= 3
    assert sorted(both) == list(range(len(both))), "one sample sequence, no gaps, no reuse"
    assert len(both) >= len(first) + 3
    assert all(both[step] == value for step, value in first.items()), "first samples kept"
