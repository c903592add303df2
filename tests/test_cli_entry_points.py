"""The installed `trackboard` script and `python -m trackboard.dashboard.cli` are one CLI.

Both are run as a user runs them (a subprocess each): they must list the same
commands and sub-commands, every one the group has.
The CLI once registered half its commands on a second copy of its module, so
`python -m` listed only db, runs, show and sync.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
from trackboard.dashboard.cli import cli

# The installed script, beside the interpreter (as the other CLI tests run it).
TRACKBOARD = Path(sys.executable).with_name("trackboard")
ENTRY_POINTS = {
    "installed script": [str(TRACKBOARD)],
    "python -m": [sys.executable, "-m", "trackboard.dashboard.cli"],
}


def _listed(command: list[str]) -> list[str]:
    """The command names under "Commands:" in `<command> --help`."""
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60,
                         env=env, check=False).stdout  # "No such command": no list
    section = out.partition("\nCommands:\n")[2]
    return re.findall(r"^  (\S+)", section, flags=re.MULTILINE)


def _groups(group: click.Group) -> dict[str, list[str]]:
    """Every group's path (as argv) -> its sub-command names, from the group itself."""
    out = {"": sorted(group.commands)}
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out[name] = sorted(cmd.commands)
    return out


def test_both_entry_points_list_the_same_commands() -> None:
    expected = _groups(cli)
    listed = {entry: {path: sorted(_listed(command + path.split())) for path in expected}
              for entry, command in ENTRY_POINTS.items()}
    assert listed["installed script"] == listed["python -m"]
    assert listed["python -m"] == expected
    # the commands that live in their own modules are there too
    assert {"ui", "demo", "export", "import"} <= set(expected[""])
