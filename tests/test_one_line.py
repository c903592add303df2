"""One `one_line` (storage/errors.py) for every error shown in one line: the
`trackboard` command's errors, the writer's reports and `trackboard sync`. There were
two, and they disagreed (one kept the type name and cut at 300 characters, the other
dropped it and kept blank first lines out); every caller now imports this one.
"""

from __future__ import annotations

import importlib

import pytest
from sqlalchemy.exc import OperationalError
from trackboard.storage.errors import RunNotFoundError, one_line


@pytest.mark.parametrize(("error", "line"), [
    # a driver's message: several lines, a password in a URL and in key=value form
    (OperationalError("SELECT 1", {}, Exception(
        "connection to postgresql://bob:s3cr3t@db:5432/x failed\nDETAIL: password=s3cr3t")),
     "OperationalError: (builtins.Exception) connection to postgresql://bob:***@db:5432/x failed"),
    (ValueError("\n\n  bad value for postgresql://u:pw@h/db  \nhint"),
     "bad value for postgresql://u:***@h/db"),
    (RunNotFoundError("no run with id 'ab'; `trackboard runs` lists them"),
     "no run with id 'ab'; `trackboard runs` lists them"),
    (KeyError("lr"), "KeyError: 'lr'"),
    (RuntimeError(""), "RuntimeError"),
    (FileNotFoundError(2, "No such file or directory", "/nope/x.csv"),
     "No such file or directory: /nope/x.csv"),
    (PermissionError(13, "Permission denied"), "Permission denied"),
])
def test_one_line(error: BaseException, line: str) -> None:
    assert one_line(error) == line
    assert "s3cr3t" not in one_line(error) and "\n" not in one_line(error)


def test_a_long_message_is_cut_but_ours_stay_whole() -> None:
    assert len(one_line(ValueError("x" * 5000))) == 1000
    assert one_line(ValueError("x" * 5000)).endswith("…")
    message = "sqlite:///a.db is not a trackboard store: " + "it holds other tables; " * 20
    assert one_line(ValueError(message)) == message.strip()


@pytest.mark.parametrize("module", [
    "trackboard.storage.write.delivery", "trackboard.storage.write.link",
    "trackboard.storage.write.sync", "trackboard.dashboard.cli_store",
    "trackboard.dashboard.cli"])
def test_every_caller_uses_the_one_helper(module: str) -> None:
    assert importlib.import_module(module).one_line is one_line
