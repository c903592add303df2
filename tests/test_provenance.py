"""Provenance never costs a run: a command line, host name, git HEAD or log directory
that is not UTF-8 is stored repaired, and every text column a user value reaches
takes the longest value the rules accept, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from trackboard.loggers import Run
from trackboard.loggers.provenance import git_commit
from trackboard.loggers.torch import SummaryWriter
from trackboard.storage import Store
from trackboard.storage.rules import MAX_FRAMEWORK_LENGTH, MAX_KEY_LENGTH, storable_text

TRAIN = """
import sys
from trackboard.loggers import Run
with Run(project="p", name="latin1", store=sys.argv[1], system_metrics=False) as run:
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
"""


def _only_run(url: str) -> dict:
    with Store(url) as store:
        runs = store.runs(params=False, tags=False, metrics=False)
        assert len(runs) == 1, runs
        info = store.run(runs["id"].iloc[0])
        info["loss"] = store.history([info["id"]], keys=["loss"])["value"].tolist()
    return info


@pytest.mark.slow  # a Python subprocess; the host and git tests below are the core's
def test_a_command_line_that_is_not_utf8_keeps_the_run(store_url: str, tmp_path: Path) -> None:
    """A Latin-1 argument, as a shell in a Latin-1 locale passes it: Python keeps the
    byte 0xe9 as the lone surrogate U+DCE9 in sys.argv, which no database stores."""
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    done = subprocess.run(
        [sys.executable, str(script), store_url.encode(), b"--data=/mnt/donn\xe9es"],
        capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"refused" not in done.stderr, done.stderr.decode(errors="replace")
    info = _only_run(store_url)
    assert info["command"].endswith("--data=/mnt/donn\\xe9es")  # the byte, readable
    assert info["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]


def test_sys_argv_that_is_not_utf8_keeps_the_run(store_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # sys.argv as Python builds it from the bytes b"--data=/mnt/donn\xe9es" (the
    # subprocess test above runs the real thing).
    monkeypatch.setattr(sys, "argv", ["train.py", "--data=/mnt/donn\udce9es", "--\udcff"])
    with Run(project="p", store=store_url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    info = _only_run(store_url)
    assert info["command"] == "train.py --data=/mnt/donn\\xe9es --\\xff"
    assert info["loss"] == [1.0]


def test_a_host_name_that_is_not_utf8_keeps_the_run(store_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The one fake here: the machine's name (we cannot rename the machine). Python
    # decodes gethostname() with surrogateescape, like sys.argv.
    monkeypatch.setattr(socket, "gethostname", lambda: "r\udce9seau-\x00" + "n" * 300)
    with Run(project="p", store=store_url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    info = _only_run(store_url)
    assert info["host"] == ("r\\xe9seau-" + "n" * 300)[:255]
    assert info["loss"] == [1.0]


@pytest.mark.parametrize("head, stored", [
    (b"\xff\xfe" + b"a" * 38 + b"\n", "\\xff\\xfe" + "a" * 38),       # damaged HEAD
    (b"0123456789abcdef" * 4 + b"\n", "0123456789abcdef" * 4),     # SHA-256: 64 digits
])
def test_a_git_head_of_any_bytes_keeps_the_run(store_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               head: bytes, stored: str) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_bytes(head)
    monkeypatch.chdir(repo)
    assert git_commit() == stored
    with Run(project="p", store=store_url, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    info = _only_run(store_url)
    assert info["git_commit"] == stored and info["loss"] == [1.0]


def test_a_log_dir_that_is_not_utf8_is_a_run_too(store_url: str, tmp_path: Path) -> None:
    log_dir = os.fsdecode(bytes(tmp_path) + b"/donn\xe9es")  # as os.listdir returns it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with SummaryWriter(log_dir, project="p", store=store_url) as writer:
            writer.add_scalar("loss", 1.0, 0)
        with SummaryWriter(log_dir, project="p", store=store_url, name="again") as again:
            again.add_scalar("loss", 0.5, 1)
    # Only the note that the directory's run goes on; nothing was refused or lost.
    assert [str(w.message).split(";")[0] for w in caught] == [
        f"SummaryWriter: the store already has run {writer.run.id!r} (log_dir {log_dir!r})"]
    assert again.run.id == writer.run.id  # the same directory is the same run
    info = _only_run(store_url)
    assert info["name"] == "again" and info["loss"] == [1.0, 0.5]
    with Store(store_url) as store:
        store.rename_run(writer.run.id, storable_text(os.path.basename(log_dir)))
        assert store.run(writer.run.id)["name"] == "donn\\xe9es"


def test_a_framework_name_follows_one_rule_on_both_backends(store_url: str) -> None:
    with pytest.raises(ValueError, match="framework .* is 65 characters long; use at most 64"):
        Run(project="p", store=store_url, framework="f" * 65, system_metrics=False)
    with pytest.raises(ValueError, match="framework .* control characters"):
        Run(project="p", store=store_url, framework="torch\n", system_metrics=False)
    with Run(project="p", store=store_url, framework="f" * 64, system_metrics=False) as run:
        run.log({"loss": 1.0}, step=0)
    info = _only_run(store_url)  # only the accepted run reached the store
    assert info["framework"] == "f" * 64 and info["loss"] == [1.0]


def test_the_longest_values_the_rules_accept_fit_every_column(store_url: str) -> None:
    """Each text a user passes lands in a column of fixed width on PostgreSQL (SQLite
    ignores widths): the rules' limits must fit them all, or a value accepted at the
    call would cost the run its place in the store."""
    longest = "k" * MAX_KEY_LENGTH
    with Run(project=longest, name=longest, id="i" * 32, framework="f" * MAX_FRAMEWORK_LENGTH,
             config={longest: 1}, tags={longest: "v"}, store=store_url,
             system_metrics=False) as run:
        run.log({longest: 1.0}, step=0)
    with Store(store_url) as store:
        info = store.run("i" * 32)
        assert (info["project"], info["name"], info["framework"]) == (
            longest, longest, "f" * MAX_FRAMEWORK_LENGTH)
        assert info["params"] == {longest: 1} and info["tags"] == {longest: "v"}
        assert store.history(["i" * 32], keys=[longest])["value"].tolist() == [1.0]
        store.rename_run("i" * 32, longest[:-1] + "x")
        assert store.run("i" * 32)["name"] == longest[:-1] + "x"



def test_an_imported_project_name_follows_runs_rule(tmp_path: Path, sqlite_url: str) -> None:
    # PostgreSQL refused a 251-character project for every run of the import (and
    # SQLite stored it): now one ValueError at the call, before any file is read.
    from trackboard.storage.interchange.tensorboard import import_tensorboard

    with pytest.raises(ValueError, match="is 251 characters long; use at most 250"):
        import_tensorboard(tmp_path, sqlite_url, project="p" * 251, progress=False)
