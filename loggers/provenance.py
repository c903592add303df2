"""Where a run comes from: the git commit, the command line and the host it started on.

Read once when a Run starts and stored with it (the runs table's git_commit,
command and host columns). The commit is read from .git directly: no git
executable, no subprocess, and a worktree or submodule's `.git` file is followed.

Provenance must never cost a run its place in the store: what the system hands us
is not always text a database takes (an argument that is not UTF-8 arrives in
sys.argv as lone surrogates; a damaged HEAD file holds any bytes), so every value
here passes `storable_text` (storage/rules.py) and fits its column.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from trackboard.storage.rules import storable_text

# The runs table's columns (storage/db/schema.py): host String(255), git_commit
# String(64) (a SHA-256 repository's commit is 64 hex digits); the command is Text,
# kept to a line people read.
MAX_HOST_LENGTH = 255
MAX_COMMIT_LENGTH = 64
MAX_COMMAND_LENGTH = 2000


def command_line() -> str:
    """The program and its arguments as one line (at most 2,000 characters); bytes
    that are not UTF-8 are written as `\\xNN`."""
    line = " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python",
                     *sys.argv[1:]])
    return storable_text(line, MAX_COMMAND_LENGTH)


def host_name() -> str:
    """This machine's name, as the store can hold it."""
    return storable_text(socket.gethostname(), MAX_HOST_LENGTH, one_line=True)


def git_commit(start: Path | None = None) -> str | None:
    """HEAD's commit of the repository around the working directory, read from .git."""
    try:
        commit = _head_commit((start or Path.cwd()).resolve())
    except (OSError, ValueError):  # unreadable, or a file that is not text
        return None
    return None if commit is None else storable_text(commit, MAX_COMMIT_LENGTH, one_line=True)


def _head_commit(here: Path) -> str | None:
    for folder in (here, *here.parents):
        git = folder / ".git"
        if git.is_file():  # worktree or submodule: "gitdir: <path>"
            git = (folder / _read(git).split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        head = _read(git / "HEAD").strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / _read(git / "commondir").strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                return _read(base / ref).strip()
            packed = base / "packed-refs"
            if packed.is_file():
                for line in _read(packed).splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0]
        return None
    return None


def _read(path: Path) -> str:
    # Git's files are ASCII; damaged ones may hold any bytes, kept as surrogates
    # (then written as \xNN by storable_text) instead of failing the read.
    return path.read_bytes().decode("utf-8", "surrogateescape")
