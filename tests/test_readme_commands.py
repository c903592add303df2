"""Every command README.md gives works as written, after its first command.

The README starts with exactly two commands for a fresh machine (`bash .ci/demo`,
`bash .ci/test`); both set up `.venv`, so they are not run here (they would reinstall
the environment the tests run in): what they run is checked instead. After them, a
reader activates `.venv` and types the rest. So every fenced ```bash block runs here,
command by command, in a new folder that holds `.venv` (a link to this environment),
with `.venv/bin` first on PATH as `source .venv/bin/activate` puts it; `trackboard ui`
is started, answers on HTTP and is stopped. The ```python blocks run in
tests/test_readme_blocks.py, the ```text filters in tests/test_docs_demo_examples.py.
Nothing is skipped silently: a block that cannot run here is in NOT_RUN, with why.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from trackboard.dashboard.cli import cli
from trackboard.dashboard.cli_ui import PORT_ENV
from trackboard.loggers.demo import PROJECT
from trackboard.storage import Store

from tests.support.dashboard import _serve
from tests.support.ports import free_port
from tests.test_readme_blocks import BLOCKS as PYTHON_BLOCKS_RUN

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
VENV_BIN = Path(sys.executable).parent
# Blocks that are not run here, each with why (keep this list tiny).
NOT_RUN = {
    "bash .ci/demo": "the first command: it (re)creates .venv, the environment these tests "
                     "run in; test_the_first_two_commands_set_up_demo_and_tests checks it",
    "pip install -e .": "installs packages from the package index; the extras it names are "
                        "checked against pyproject.toml in test_install_block_names_real_extras",
}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order.

    >>> fenced_blocks("x\\n```bash\\nls\\n```\\n```\\ntree\\n```\\n")
    [('bash', 'ls\\n'), ('', 'tree\\n')]
    """
    return FENCE.findall(text)


def commands(block: str) -> list[str]:
    """The commands of a bash block: comment lines and blank lines dropped, lines
    continued with a backslash joined.

    >>> commands("# set up\\na --x \\\\\\n  --y   # why\\n\\nb\\n")
    ['a --x --y   # why', 'b']
    """
    out: list[str] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            line = pending + line.strip()
            pending = ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip() + " "
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(line.strip())
    return out


BLOCKS = fenced_blocks(README.read_text())
BASH = [body for lang, body in BLOCKS if lang == "bash"]
RUN = [b for b in BASH if not any(b.lstrip().startswith(k) for k in NOT_RUN)]


def test_every_block_is_run_by_a_test_or_listed_with_a_reason() -> None:
    languages = {lang for lang, _ in BLOCKS}
    # bash: here; python: test_readme_blocks.py; text: filters and links
    # (test_docs_demo_examples.py); no language: the repository's layout, not commands.
    assert languages <= {"bash", "python", "text", ""}, languages
    python = [body for lang, body in BLOCKS if lang == "python"]
    assert python == PYTHON_BLOCKS_RUN and len(python) >= 7
    not_run = [b for b in BASH if b not in RUN]
    assert len(not_run) == len(NOT_RUN), "each NOT_RUN entry names exactly one block"
    assert len(RUN) >= 3 and sum(len(commands(b)) for b in RUN) >= 5


def test_the_first_two_commands_set_up_demo_and_tests() -> None:
    lang, first = BLOCKS[0]
    assert lang == "bash" and README.read_text().startswith("# trackboard\n\n```bash\n")
    assert [c.split("#")[0].split() for c in commands(first)] == [
        ["bash", ".ci/demo"], ["bash", ".ci/test"]]
    demo = (ROOT / ".ci" / "demo").read_text()
    assert "bash .ci/setup demo" in demo and ".venv/bin/trackboard demo" in demo
    assert "exec .venv/bin/trackboard ui" in demo
    assert "exec bash .ci/test" in (ROOT / ".ci" / "run").read_text()
    test = (ROOT / ".ci" / "test").read_text()
    assert "bash .ci/setup test" in test and ".venv/bin/python -m pytest" in test


def test_install_block_names_real_extras() -> None:
    import tomllib

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"])
    block = next(b for b in BASH if b.lstrip().startswith("pip install"))
    named = set(re.findall(r"\[(\w+)\]", block))
    named |= {w.strip(",") for w in block.split("one extra per integration:")[1].split()
              if w.strip(",").isidentifier()}
    assert named and named - {"test"} <= extras, named - extras
    assert extras - {"test"} <= named, f"extras the README does not name: {extras - named}"


def test_the_command_table_matches_the_commands() -> None:
    # Every `trackboard ...` row of the command table: the command exists and takes
    # every option the row shows.
    cells = [re.split(r"(?<!\\)\|", line)[1] for line in README.read_text().splitlines()
             if line.startswith("| `trackboard ")]
    shown = [c.replace("\\|", "|") for cell in cells for c in re.findall(r"`([^`]+)`", cell)]
    assert len(cells) >= 10 and len(shown) > len(cells)  # `db upgrade` / `db current`
    for alternative in shown:
        if alternative:
            words = alternative.split()
            path = [w for w in words[1:3] if re.fullmatch(r"[a-z]+", w)]
            help_text = CliRunner().invoke(cli, [*path, "--help"], prog_name="trackboard",
                                           terminal_width=200).output
            assert help_text.startswith("Usage: trackboard " + " ".join(path)), alternative
            for option in re.findall(r"--[a-z-]+", alternative):
                assert option in help_text, f"{alternative}: {option} is not an option"


@contextmanager
def _serving(command: str, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """A long-running command of the README, started as written; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env={**env, PORT_ENV: str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    # The tests' own way to wait for a server and stop its whole process group.
    with contextmanager(_serve)(f"http://127.0.0.1:{port}", proc) as (base, _):
        yield base


LONG_RUNNING = ("trackboard ui",)


@pytest.mark.slow  # `trackboard demo` trains 12 small runs: minutes on 2 cores
def test_every_bash_command_works_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACKBOARD_", "VIRTUAL_ENV", "PYTHON"))}
    env["TRACKBOARD_SPOOL_DIR"] = str(tmp_path / "spool")  # never the user's own spool
    env.pop("KERAS_BACKEND", None)
    activate = next(b for b in RUN if "source .venv/bin/activate" in b)
    found = subprocess.run(["bash", "-c", commands(activate)[0] + "\ncommand -v trackboard"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(found.stdout.strip()).resolve() == (VENV_BIN / "trackboard").resolve()
    # What activation does, for the commands after it: .venv/bin first on PATH.
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = sys.prefix
    ran = []
    for block in RUN:
        if block is activate:
            continue
        for command in commands(block):
            if command.startswith(LONG_RUNNING):
                with _serving(command, tmp_path, env) as base:
                    with urllib.request.urlopen(base + "/", timeout=30) as resp:
                        assert resp.status == 200 and b"<html" in resp.read().lower()
            else:
                done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                      capture_output=True, text=True, timeout=1500)
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            ran.append(shlex.split(command, comments=True)[:2])
    assert ["trackboard", "demo"] in ran and ["trackboard", "ui"] in ran
    # The demo went into the default store of that folder, and the exports read it.
    with Store(f"sqlite:///{tmp_path / 'trackboard.db'}", read_only=True) as store:
        runs = store.runs(PROJECT)
    assert len(runs) == 12 and set(runs["status"]) == {"finished"}
    assert (tmp_path / "points.csv").stat().st_size > 10_000
    assert sum(1 for _ in (tmp_path / "tb-export").rglob("events.out.tfevents.*")) == 12

