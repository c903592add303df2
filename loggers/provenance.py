"""Where a run comes from: the git commit and the command line it was started with.

Read once when a Run starts and stored with it (the runs table's git_commit and
command columns). The commit is read from .git directly: no git executable, no
subprocess, and a worktree or submodule's `.git` file is followed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def command_line() -> str:
    """The program and its arguments as one line (at most 2,000 characters)."""
    return " ".join([Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python",
                     *sys.argv[1:]])[:2000]


def git_commit(start: Path | None = None) -> str | None:
    """HEAD's commit of the repository around the working directory, read from .git."""
    try:
        here = (start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            git = folder / ".git"
            if git.is_file():  # worktree or submodule: "gitdir: <path>"
                git = (folder / git.read_text().split(":", 1)[1].strip()).resolve()
            if not git.is_dir():
                continue
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head[:40]
            ref = head.split(":", 1)[1].strip()
            common = git
            if (git / "commondir").is_file():
                common = (git / (git / "commondir").read_text().strip()).resolve()
            for base in (git, common):
                if (base / ref).is_file():
                    return (base / ref).read_text().strip()[:40]
                packed = base / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split(" ", 1)[0][:40]
            return None
    except OSError:
        return None
    return None
