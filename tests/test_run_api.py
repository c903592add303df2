"""The Run contract users write against (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from trackboard.loggers import Run
from trackboard.storage import Store


def test_run_records_everything_and_finishes(store_url: str) -> None:
    run = Run(project="churn", name="mlp-lr3", config={"lr": 1e-3, "layers": [64, 64],
                                                       "opt": {"name": "adam", "beta": 0.9}},
              tags={"team": "pricing"}, store=store_url, framework="keras", notes="first try")
    assert isinstance(run.id, str) and len(run.id) == 16
    run.log({"loss": 0.41, "val/acc": 0.9}, step=12)
    run.log({"loss": 0.30})                      # auto step: 13
    run.log_params({"dropout": 0.1})
    run.set_tags({"seed": 3})
    run.finish()
    store = Store(store_url)
    row = store.runs(project="churn").iloc[0]
    assert row["id"] == run.id and row["name"] == "mlp-lr3" and row["status"] == "finished"
    assert row["framework"] == "keras" and row["notes"] == "first try"
    assert row["params.lr"] == 1e-3 and row["params.layers"] == [64, 64]
    assert row["params.opt.name"] == "adam" and row["params.dropout"] == 0.1
    assert row["tags.team"] == "pricing" and row["tags.seed"] == "3"
    assert row["metrics.loss.last"] == 0.30 and row["metrics.loss.max"] == 0.41
    assert row["metrics.val/acc.last"] == 0.9
    assert row["ended_at"] >= row["created_at"]
    hist = store.history([run.id], keys=["loss"])
    assert hist["step"].tolist() == [12, 13]


def test_ids_are_unique_and_auto_steps_count_up(sqlite_url: str) -> None:
    runs = [Run(store=sqlite_url, system_metrics=False) for _ in range(20)]
    assert len({r.id for r in runs}) == 20
    r = runs[0]
    for _ in range(3):
        r.log({"x": 1.0})
    r.log({"x": 2.0}, step=10)
    r.log({"x": 3.0})
    for other in runs:
        other.finish()
    steps = Store(sqlite_url).history([r.id])["step"].tolist()
    assert steps == [0, 1, 2, 10, 11]


def test_finish_waits_until_everything_is_stored(sqlite_url: str, tmp_path) -> None:
    import sqlite3
    import threading

    run = Run(store=sqlite_url, system_metrics=False)
    assert run.flush()
    # Another connection holds the write lock for a while: the writer waits for it, and
    # so must finish(), or the caller would read a store without its last points.
    lock = sqlite3.connect(tmp_path / "trackboard.db", isolation_level=None,
                           check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.5, lambda: (lock.execute("ROLLBACK"), lock.close()))
    release.start()
    for step in range(100):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    row = Store(sqlite_url).runs().iloc[0]
    assert row["status"] == "finished" and row["metrics.loss.last"] == 0.01
    assert len(Store(sqlite_url).history([run.id])) == 100
    release.join()


def test_context_manager_marks_failures(sqlite_url: str) -> None:
    with pytest.raises(RuntimeError):
        with Run(project="p", name="boom", store=sqlite_url) as run:
            run.log({"loss": 1.0})
            raise RuntimeError("diverged")
    with pytest.raises(KeyboardInterrupt):
        with Run(project="p", name="stopped", store=sqlite_url):
            raise KeyboardInterrupt
    with Run(project="p", name="ok", store=sqlite_url):
        pass
    status = Store(sqlite_url).runs().set_index("name")["status"].to_dict()
    assert status == {"boom": "failed", "stopped": "killed", "ok": "finished"}


def test_finish_is_idempotent_and_logging_after_it_is_an_error(sqlite_url: str) -> None:
    run = Run(store=sqlite_url)
    run.finish()
    run.finish("failed")  # no effect: already finished
    with pytest.raises(ValueError, match="finished"):
        run.log({"loss": 1.0})
    assert Store(sqlite_url).runs()["status"].tolist() == ["finished"]


@pytest.mark.slow
def test_unfinished_run_is_finished_at_exit(tmp_path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'exit.db'}"
    code = ("from trackboard.loggers import Run\n"
            f"r = Run(name='ok', store={url!r}); r.log({{'a': 1.0}})\n"
            f"r2 = Run(name='second', store={url!r}); r2.log({{'a': 2.0}})\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    crash = ("from trackboard.loggers import Run\n"
             f"r = Run(name='raised', store={url!r}); r.log({{'a': 1.0}})\n"
             "raise ValueError('boom')\n")
    assert subprocess.run([sys.executable, "-c", crash], capture_output=True).returncode == 1
    runs = Store(url).runs().set_index("name")
    assert runs.loc["ok", "status"] == "finished" and runs.loc["second", "status"] == "finished"
    assert runs.loc["raised", "status"] == "failed"
    assert runs.loc["raised", "metrics.a.last"] == 1.0


def test_large_config_values_are_stored(store_url: str) -> None:
    # e.g. a class-weight table or a vocabulary: kilobytes of JSON in one param
    big = {"weights": [i * 0.5 for i in range(5000)], "note": "x" * 10_000}
    with Run(config=big, store=store_url, system_metrics=False) as run:
        run.log({"loss": 1.0})
    row = Store(store_url).runs().iloc[0]
    assert row["params.weights"] == big["weights"] and row["params.note"] == big["note"]


@pytest.mark.parametrize("variable", ["RANK", "LOCAL_RANK"])
def test_only_rank_zero_opens_a_run(variable: str, sqlite_url: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # What every adapter asks before it opens a run (the adapters themselves, with their
    # frameworks, are in test_loggers_distributed.py).
    from trackboard.loggers.distributed import NullRun, start_run

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv(variable, "1")
    with start_run(framework="torch", project="ddp", store=sqlite_url) as other:
        other.log({"loss": 0.5})
    assert isinstance(other, NullRun)
    assert Store(sqlite_url).runs().empty
    monkeypatch.setenv(variable, "0")
    with start_run(framework="torch", project="ddp", store=sqlite_url,
                   system_metrics=False) as first:
        first.log({"loss": 0.5})
    assert isinstance(first, Run)
    runs = Store(sqlite_url).runs()
    assert runs["id"].tolist() == [first.id] and runs["framework"].tolist() == ["torch"]


def test_the_store_comes_from_the_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # store= first, else $TRACKBOARD_STORE, else ./trackboard.db in the working directory.
    monkeypatch.chdir(tmp_path)
    env_url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("TRACKBOARD_STORE", env_url)
    with Run(name="env", system_metrics=False) as run:
        run.log({"loss": 1.0})
    assert run.store_url == env_url
    with Store() as store:
        assert store.runs()["name"].tolist() == ["env"]
    explicit = f"sqlite:///{tmp_path / 'explicit.db'}"
    with Run(name="explicit", store=explicit, system_metrics=False):
        pass
    assert Store(explicit).runs()["name"].tolist() == ["explicit"]
    monkeypatch.delenv("TRACKBOARD_STORE")
    with Run(name="default", system_metrics=False) as default:
        pass
    # The shared writer of the relative default URL writes into this tmp_path: close it,
    # so that no later test in this process reuses it.
    default._writer.close()  # type: ignore[attr-defined]
    assert (tmp_path / "trackboard.db").exists()
    assert Store(f"sqlite:///{tmp_path / 'trackboard.db'}").runs()["name"].tolist() == ["default"]
    assert Store(env_url).runs()["name"].tolist() == ["env"]
