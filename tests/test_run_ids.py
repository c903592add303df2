"""Run ids: a prefix finds exactly the runs whose id starts with it (on both backends),
a destructive call never guesses, and derived ids tell runs apart in a few characters."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run
from trackboard.loggers.reopen import directory_run_id
from trackboard.loggers.torch import SummaryWriter
from trackboard.storage import AmbiguousRunIdError, RunNotFoundError, Store

# `_` and `%` are LIKE wildcards and SQLite's LIKE ignores case: with a LIKE lookup,
# a prefix of one of these ids found another one.
LOOKALIKES = ("mlp_seed3", "mlp_seed31", "mlpseed30", "MLP_SEED3")


def _seed(url: str, ids: tuple[str, ...] = LOOKALIKES) -> None:
    for rid in ids:
        with Run(project="p", name=f"name-{rid}", id=rid, store=url,
                 system_metrics=False) as run:
            run.log({"loss": 1.0}, step=0)


def _ids(url: str) -> set[str]:
    with Store(url) as store:
        return set(store.runs(params=False, tags=False, metrics=False)["id"])


def test_a_prefix_matches_exactly_case_and_wildcards_included(store_url: str) -> None:
    _seed(store_url)
    with Store(store_url) as store:
        assert store.resolve_run_id("mlp_seed3") == "mlp_seed3"  # a whole id wins
        assert store.resolve_run_id("mlps") == "mlpseed30"       # not mlp_seed3
        assert store.resolve_run_id("MLP_") == "MLP_SEED3"       # not mlp_seed3
        assert store.run("mlpseed")["id"] == "mlpseed30"
        with pytest.raises(RunNotFoundError, match=r"ids are case-sensitive: did you mean "
                                                   r"mlpseed30 \(name-mlpseed30\)\?"):
            store.resolve_run_id("MLPS")
        for no_id_starts_so in ("mlp_x", "mlpseed%", "mlp%", "mlp_seed_"):
            with pytest.raises(RunNotFoundError, match="`trackboard runs` lists them"):
                store.resolve_run_id(no_id_starts_so)
        with pytest.raises(RunNotFoundError, match="a prefix needs at least 4 characters"):
            store.resolve_run_id("mlp")


def test_destructive_calls_refuse_an_ambiguous_prefix_and_name_the_runs(store_url: str) -> None:
    _seed(store_url)
    with Store(store_url) as store:
        calls = {"delete_run": lambda p: store.delete_run(p),
                 "rename_run": lambda p: store.rename_run(p, "renamed"),
                 "set_tags": lambda p: store.set_tags(p, {"k": "v"}),
                 "delete_tag": lambda p: store.delete_tag(p, "k")}
        for name, call in calls.items():
            with pytest.raises(AmbiguousRunIdError) as exc:
                call("mlp_s")  # once deleted mlpseed30
            assert str(exc.value) == (
                "run id prefix 'mlp_s' matches several runs: mlp_seed3 (name-mlp_seed3), "
                "mlp_seed31 (name-mlp_seed31); give more characters"), name
            with pytest.raises(RunNotFoundError):
                call("MLPS")
        assert store.runs(tags=False, metrics=False).set_index("id")["name"].to_dict() == {
            rid: f"name-{rid}" for rid in LOOKALIKES}
        store.delete_run("mlp_seed3")  # the whole id: that run, not mlp_seed31
    assert _ids(store_url) == set(LOOKALIKES) - {"mlp_seed3"}


def test_cli_refuses_an_ambiguous_prefix_in_one_line(sqlite_url: str) -> None:
    _seed(sqlite_url)
    result = CliRunner().invoke(cli, ["show", "mlp_s", "--store", sqlite_url])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: run id prefix 'mlp_s' matches several runs: mlp_seed3 (name-mlp_seed3), "
        "mlp_seed31 (name-mlp_seed31); give more characters")


@pytest.mark.parametrize("bad", ["mlp\x00seed3", "mlp\udce9"])
def test_text_no_store_holds_is_refused_before_the_query(store_url: str, bad: str) -> None:
    # PostgreSQL's driver refused a NUL with an error of its own; a lone surrogate
    # could not even be encoded. Now: one clear line, the same on both backends.
    _seed(store_url, ("mlp_seed3",))
    with Store(store_url) as store:
        with pytest.raises(RunNotFoundError, match="run id"):
            store.run(bad)
        with pytest.raises(ValueError, match="run id .* (NUL|UTF-8)"):
            store.history([bad])
        with pytest.raises(ValueError, match="metric key .* (NUL|UTF-8)"):
            store.history(["mlp_seed3"], keys=[bad])
        with pytest.raises(ValueError, match="project .* (NUL|UTF-8)"):
            store.runs(project=bad)
        with pytest.raises(ValueError, match="run id"):
            store.keys([bad])
        with pytest.raises(ValueError, match="filter|position"):
            store.runs(filter=f'name = "{bad}"')
        assert store.resolve_run_id("mlp_seed3") == "mlp_seed3"


# -- derived ids -------------------------------------------------------------------------

def test_directory_ids_start_with_their_distinct_part(tmp_path: Path, sqlite_url: str) -> None:
    ids = []
    for i in range(8):
        with SummaryWriter(tmp_path / f"exp{i}", project="p", store=sqlite_url) as writer:
            writer.add_scalar("loss", 1.0, 0)
        ids.append(writer.run.id)
    # Every PyTorch run id used to start with "tb-": four characters told nothing apart.
    assert len({rid[:4] for rid in ids}) == len(ids)
    assert all(rid.endswith("-tb") and len(rid) == 23 for rid in ids)
    with Store(sqlite_url) as store:
        for rid in ids:
            assert store.resolve_run_id(rid[:6]) == rid


def test_a_restarted_writer_continues_its_directorys_run(tmp_path: Path,
                                                         sqlite_url: str) -> None:
    log_dir = tmp_path / "exp"
    with SummaryWriter(log_dir, project="p", store=sqlite_url) as first:
        first.add_scalar("loss", 1.0, 0)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SummaryWriter(log_dir, project="p", store=sqlite_url) as again:
            again.add_scalar("loss", 0.5, 1)
    assert again.run.id == first.run.id == directory_run_id(str(log_dir), "p")
    with Store(sqlite_url) as store:
        assert store.history([first.run.id], keys=["loss"])["value"].tolist() == [1.0, 0.5]
        assert len(store.runs()) == 1


def _earlier_id(prefix: str, *parts: str) -> str:
    """The id trackboard derived before ids put their hash first."""
    return prefix + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def test_a_run_stored_under_an_earlier_derived_id_keeps_working(tmp_path: Path,
                                                               sqlite_url: str) -> None:
    log_dir = tmp_path / "exp"
    earlier = _earlier_id("tb-", "p", os.path.abspath(log_dir))
    # What an earlier trackboard stored for this directory: the marker first.
    with Run(project="p", name="exp", id=earlier, framework="torch", store=sqlite_url,
             system_metrics=False) as old:
        old.log({"loss": 1.0}, step=0)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with SummaryWriter(log_dir, project="p", store=sqlite_url) as writer:
            writer.add_scalar("loss", 0.5, 1)
            writer.add_hparams({"lr": 0.1}, {"acc": 0.9}, run_name="trial")
    assert writer.run.id == earlier
    with Store(sqlite_url) as store:
        runs = store.runs(tags=True, metrics=False)
        assert store.history([earlier], keys=["loss"])["value"].tolist() == [1.0, 0.5]
        assert len(runs) == 2  # the directory's run and its add_hparams child, no new run
        child = runs[runs["id"] != earlier].iloc[0]
        assert child["tags.parent"] == earlier and child["id"].endswith("-hp")


def test_an_earlier_named_child_keeps_working(tmp_path: Path, sqlite_url: str) -> None:
    with SummaryWriter(tmp_path / "exp", project="p", store=sqlite_url) as writer:
        parent = writer.run.id
        earlier = _earlier_id("hp-", parent, "trial")
        with Run(project="p", name="exp/trial", id=earlier, framework="torch",
                 store=sqlite_url, system_metrics=False, tags={"parent": parent}):
            pass
        writer.add_hparams({"lr": 0.1}, {"acc": 0.9}, run_name="trial")
    with Store(sqlite_url) as store:
        runs = store.runs()
        assert sorted(runs["id"]) == sorted([parent, earlier])
        assert runs.set_index("id").loc[earlier, "metrics.acc.last"] == 0.9


def test_links_may_name_runs_by_prefix(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare and Export take the ids of a link as the Run page does: a unique prefix
    is its run; one that names no run or several is said in one line each."""
    from streamlit.testing.v1 import AppTest

    from tests.support.dashboard import APP

    _seed(sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_STORE", sqlite_url)
    monkeypatch.setenv("TRACKBOARD_UI_READ_ONLY", "0")
    monkeypatch.delenv("TRACKBOARD_PASSWORD", raising=False)
    for page in ("compare", "export"):
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        at.switch_page(f"views/{page}.py")
        at.query_params["runs"] = "mlps,MLP_SEED3,mlp_s,nope0"
        at.run()
        assert not at.exception
        warnings = [w.value.replace("\\", "") for w in at.warning]
        assert warnings == [
            "run id prefix 'mlp_s' matches several runs: mlp_seed3 (name-mlp_seed3), "
            "mlp_seed31 (name-mlp_seed31); give more characters",
            "no run with id 'nope0' or an id starting with it; `trackboard runs` lists them"]
        if page == "compare":
            assert at.query_params["runs"] == "mlpseed30,MLP_SEED3"
        else:
            assert at.text[0].value == ("Selected runs: name-mlpseed30 (mlpseed3), "
                                        "name-MLP_SEED3 (MLP_SEED)")
