"""The `trackboard` command: output a user reads, friendly errors, docs coverage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run

README = Path(__file__).resolve().parents[1] / "README.md"


def _seed(url: str) -> str:
    with Run(project="churn", name="mlp", config={"lr": 0.01}, store=url,
             framework="torch") as run:
        for i in range(5):
            run.log({"loss": 1.0 / (i + 1)})
    with Run(project="other", name="cnn", store=url):
        pass
    return run.id


def test_runs_in_every_format(sqlite_url: str) -> None:
    run_id = _seed(sqlite_url)
    r = CliRunner()
    table = r.invoke(cli, ["runs", "--store", sqlite_url])
    assert table.exit_code == 0 and "mlp" in table.output and "cnn" in table.output
    assert "loss" in table.output and "0.2" in table.output
    only = r.invoke(cli, ["runs", "--store", sqlite_url, "--project", "churn", "--format", "json"])
    rows = json.loads(only.output)
    assert [row["id"] for row in rows] == [run_id] and rows[0]["params.lr"] == 0.01
    csv = r.invoke(cli, ["runs", "--store", sqlite_url, "--format", "csv"])
    assert csv.output.splitlines()[0].startswith("id,name,project,status")


def test_show_by_prefix_and_friendly_errors(sqlite_url: str) -> None:
    run_id = _seed(sqlite_url)
    r = CliRunner()
    shown = r.invoke(cli, ["show", run_id[:6], "--store", sqlite_url])
    assert shown.exit_code == 0 and "mlp" in shown.output and "lr = 0.01" in shown.output
    missing = r.invoke(cli, ["show", "ffffffff", "--store", sqlite_url])
    assert missing.exit_code == 1 and "no run with id 'ffffffff'" in missing.output
    assert "Traceback" not in missing.output
    bad = r.invoke(cli, ["runs", "--store", "mysql://u:hunter2@h/db"])
    assert bad.exit_code == 1 and "unsupported store backend" in bad.output
    assert "hunter2" not in bad.output and "***" in bad.output
    garbage = r.invoke(cli, ["runs", "--store", "not a url"])
    assert garbage.exit_code == 1 and "sqlite:///path/to/trackboard.db" in garbage.output


def test_an_ambiguous_id_prefix_is_refused(sqlite_url: str) -> None:
    from trackboard.storage import Store
    from trackboard.storage.errors import AmbiguousRunIdError

    for uid, name in (("abcd1234", "first"), ("abcd5678", "second")):
        with Run(id=uid, name=name, store=sqlite_url, system_metrics=False):
            pass
    r = CliRunner()
    ambiguous = r.invoke(cli, ["show", "abcd", "--store", sqlite_url])
    # One line naming both candidates, and neither run shown as if it were the one meant.
    assert ambiguous.exit_code == 1 and ambiguous.output.count("\n") == 1
    assert "matches several runs" in ambiguous.output
    assert "abcd1234 (first)" in ambiguous.output and "abcd5678 (second)" in ambiguous.output
    assert "name:" not in ambiguous.output and "status:" not in ambiguous.output
    unique = r.invoke(cli, ["show", "abcd5", "--store", sqlite_url])
    assert unique.exit_code == 0 and "second" in unique.output
    with Store(sqlite_url) as store, pytest.raises(AmbiguousRunIdError):
        store.run("abcd")


def test_unreachable_postgres_error_masks_the_password() -> None:
    url = "postgresql+psycopg://bob:s3cr3t-pw@127.0.0.1:9/db"
    result = CliRunner().invoke(cli, ["runs", "--store", url])
    assert result.exit_code == 1 and "cannot open the store" in result.output
    assert "s3cr3t-pw" not in result.output and "bob:***@" in result.output


def _command_paths(group: click.Group, prefix: str = "trackboard") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_command_paths(cmd, path))
        else:
            out.append(path)
    return out


def test_every_command_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [p for p in _command_paths(cli) if not re.search(re.escape(p) + r"\b", text)]
    assert not missing, f"commands missing from README.md: {missing}"
