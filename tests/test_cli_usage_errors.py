"""Wrong arguments to any `trackboard` command: one line, exit status 1, as the README
promises for every error (not Click's usage text with status 2, not a raw `[Errno 2]`).

Every case runs the installed `trackboard` script in a subprocess, as a user types it;
a test checks that every command of the group has at least one case here. The same
file checks what `show` prints (its table, exactly) and that `export visdom --help`
says what the code does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from trackboard.dashboard.cli import cli
from trackboard.loggers import Run

from tests.test_cli_errors import _command_paths

TRACKBOARD = Path(sys.executable).with_name("trackboard")

# command path -> wrong arguments, and a piece of the one line it must print
CASES: list[tuple[str, list[str], str]] = [
    ("runs", ["runs", "--format", "xml"], "'xml' is not one of 'table', 'csv', 'json'"),
    ("runs", ["runs", "--colour"], "No such option '--colour'"),
    ("show", ["show"], "Missing argument 'RUN_ID'"),
    ("show", ["show", "a", "b"], "Got unexpected extra argument (b)"),
    ("db upgrade", ["db", "upgrade", "now"], "unexpected extra argument (now)"),
    ("db current", ["db", "current", "--verbose"], "No such option '--verbose'"),
    ("db downgrade", ["db", "downgrade"], "Missing argument 'REVISION'"),
    ("sync", ["sync", "--all"], "No such option '--all'"),
    ("ui", ["ui", "--port", "0"], "0 is not in the range 1<=x<=65535"),
    ("ui", ["ui", "--export-dir", "{tmp}/none"], "Directory '{tmp}/none' does not exist"),
    ("demo", ["demo", "--fast", "yes"], "unexpected extra argument (yes)"),
    ("export tensorboard", ["export", "tensorboard"], "Missing argument 'OUTDIR'"),
    ("export csv", ["export", "csv", "{tmp}/no/such/folder/points.csv"],
     "the folder '{tmp}/no/such/folder' does not exist"),
    ("export parquet", ["export", "parquet", "{tmp}/none/p.parquet"],
     "the folder '{tmp}/none' does not exist"),
    ("export visdom", ["export", "visdom", "--port", "http"], "'http' is not a valid integer"),
    ("import tensorboard", ["import", "tensorboard", "{tmp}/no-logs"],
     "Directory '{tmp}/no-logs' does not exist"),
    ("", ["traen"], "No such command 'traen'"),
    ("export", ["export", "svg", "out"], "No such command 'svg'"),
]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKBOARD_STORE": f"sqlite:///{cwd / 'store.db'}"}
    return subprocess.run([str(TRACKBOARD), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.parametrize(("path", "args", "says"), CASES,
                         ids=[" ".join(c[1]) for c in CASES])
def test_wrong_arguments_fail_in_one_line(path: str, args: list[str], says: str,
                                          tmp_path: Path) -> None:
    done = _run([a.format(tmp=tmp_path) for a in args], tmp_path)
    output = done.stdout + done.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert done.returncode == 1, output
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert says.format(tmp=tmp_path) in lines[0], output
    # Where to read more, on the same line.
    assert lines[0].endswith(f"(see {' '.join(['trackboard', *path.split()])} --help)"), output
    assert not (tmp_path / "store.db").exists(), "a usage error must not touch the store"


def test_every_command_has_a_wrong_arguments_case() -> None:
    assert set(_command_paths(cli)) <= {path for path, _, _ in CASES}


def test_asking_a_group_for_its_commands_still_shows_them(tmp_path: Path) -> None:
    done = _run(["export"], tmp_path)
    assert "Commands:" in done.stdout + done.stderr and "tensorboard" in done.stderr


def test_export_visdom_help_says_the_default_the_code_uses() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    text = subprocess.run([str(TRACKBOARD), "export", "visdom", "--help"], env=env,
                          capture_output=True, text=True, timeout=60, check=True).stdout
    env_line = next(line for line in text.splitlines() if line.strip().startswith("--env"))
    assert "[default: main]" in env_line and "project" not in env_line, env_line
    option = next(p for p in cli.commands["export"].commands["visdom"].params  # type: ignore[attr-defined]
                  if p.name == "env")
    assert option.default == "main"


def test_show_aligns_every_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with Run(project="churn", name="mlp", config={"lr": 0.003431348857969162, "layers": [64, 64]},
             tags={"seed": "3"}, store=url, framework="keras", system_metrics=False) as run:
        for step in range(5):
            run.log({"loss": 1 / (step + 1), "val_loss": 2 / (step + 1),
                     "val_accuracy": step / 10, "learning_rate": 5.789e-6,
                     "system/cpu_percent": 20.0 + step, "epoch": step}, step=step)
    done = subprocess.run([str(TRACKBOARD), "show", run.id[:6], "--store", url],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "TZ": "UTC"})
    metrics = done.stdout.split("\nmetrics:\n")[1].splitlines()
    assert metrics == [
        "                          best      last       min       max  steps  points",
        "  val_loss                 0.4       0.4       0.4         2   0..4       5",
        "  val_accuracy             0.4       0.4         0       0.4   0..4       5",
        "  loss                     0.2       0.2       0.2         1   0..4       5",
        "  learning_rate       5.789e-6  5.789e-6  5.789e-6  5.789e-6   0..4       5",
        "  epoch                      4         4         0         4   0..4       5",
        "  system/cpu_percent        24        24        20        24   0..4       5",
    ]
    head = done.stdout.split("\n\n")[0].splitlines()
    assert head[:5] == [f"         id: {run.id}", "       name: mlp", "    project: churn",
                        "     status: finished", "  framework: keras"]
    created = next(line for line in head if line.startswith(" created_at: "))
    assert len(created) == len(" created_at: 2024-05-01 14:03:22")  # to the second
    assert "  lr = 0.003431348857969162" in done.stdout  # params keep every digit
    assert '  layers = [64, 64]' in done.stdout and "  seed = 3" in done.stdout
