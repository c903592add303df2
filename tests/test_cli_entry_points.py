"""The installed `trackboard` script and `python -m trackboard.dashboard.cli` are one CLI.

Both are run as a user runs them (a subprocess each): they must list the same
commands, every command the group has, and the same sub-commands of every group.
The CLI once registered half its commands on a second copy of its module, so
`python -m` listed only db, runs, show and sync.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from trackboard.dashboard.cli import cli

SCRIPT = Path(sys.executable).with_name("trackboard")


def _script() -> list[str]:
    path = SCRIPT if SCRIPT.exists() else shutil.which("trackboard")
    assert path, "the `trackboard` script is not installed (pip install -e .)"
    return [str(path)]


ENTRY_POINTS = {
    "installed script": _script,
    "python -m": lambda: [sys.executable, "-m", "trackboard.dashboard.cli"],
}


def _listed(command: list[str]) -> list[str]:
    """The command names under "Commands:" in `<command> --help`."""
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60,
                         env=env, check=True).stdout
    section = out.partition("\nCommands:\n")[2]
    return re.findall(r"^  (\S+)", section, flags=re.MULTILINE)


def _groups(group: click.Group) -> dict[str, list[str]]:
    """Every group's path (as argv) -> its sub-command names, from the group itself."""
    out = {"": sorted(group.commands)}
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out[name] = sorted(cmd.commands)
    return out


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=str)
def test_each_entry_point_lists_every_command(entry: str) -> None:
    base = ENTRY_POINTS[entry]()
    for path, names in _groups(cli).items():
        assert sorted(_listed(base + path.split())) == names, f"{entry} {path}"


def test_both_entry_points_list_the_same_commands() -> None:
    listed = {entry: _listed(make()) for entry, make in ENTRY_POINTS.items()}
    assert listed["installed script"] == listed["python -m"]
    # the commands that live in their own modules are there too
    assert {"ui", "demo", "export", "import"} <= set(listed["python -m"])
