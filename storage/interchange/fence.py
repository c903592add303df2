"""The folder an export may not leave: every file and folder it writes is inside it.

An export folder may be shared (the dashboard's `--export-dir`, a team's scratch
disk), so what lies in it is not trusted: a symlink planted there as a project
folder, a run folder, the manifest or a half-written file would lead the export
elsewhere. So the exporter asks `ExportFence` for each path it writes:

- a folder is made one component at a time; an existing component that resolves
  outside the fence is refused before anything is created through it;
- a file is created anew with O_CREAT | O_EXCL | O_NOFOLLOW in a checked folder,
  after removing whatever had its name (removing a symlink removes the link only),
  and files are put in place with os.replace, which replaces a link, never its target;
- a path read back from the fence's own manifest must stay inside it too.

Refusals are a ValueError in one line that names the path and where it leads.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
    | getattr(os, "O_BINARY", 0)


class ExportFence:
    """The resolved `root` an export writes in, made if missing.

    >>> import tempfile; fence = ExportFence(tempfile.mkdtemp())
    >>> fence.folder("churn/mlp-0123").relative_to(fence.root).as_posix()
    'churn/mlp-0123'
    >>> fence.folder("../elsewhere")
    Traceback (most recent call last):
    ...
    ValueError: export path '../elsewhere' leaves the export folder: give a path inside it
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        Path(root).mkdir(parents=True, exist_ok=True)
        self.root = Path(root).resolve()

    def folder(self, rel: str) -> Path:
        """The folder `rel` (a relative POSIX path) inside the fence, made as needed."""
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise ValueError(f"export path {rel!r} leaves the export folder: give a path "
                             "inside it")
        here = self.root
        for part in parts:
            here = here / part
            if here.is_symlink() or here.exists():
                self._check(here)
                if not here.is_dir():
                    raise ValueError(f"{here} is not a folder: move it away, or export "
                                     "into another folder")
            else:
                here.mkdir()
        return here

    def new_file(self, path: Path) -> int:
        """A file descriptor of `path` created anew for writing (whatever had the name is
        removed first, a symlink as a link); its folder must be inside the fence."""
        self._check(path.parent)
        if path.is_symlink() or path.is_file():
            path.unlink()
        try:
            return os.open(path, _NEW_FILE, 0o644)
        except FileExistsError:  # made again between unlink and open: someone races us
            raise ValueError(f"{path} appeared while the export was writing it; export "
                             "again, into a folder only you write to") from None

    def write_text(self, path: Path, text: str) -> None:
        """`text` into `path` whole: a new file beside it, then os.replace."""
        tmp = path.with_name(path.name + ".tmp")
        with os.fdopen(self.new_file(tmp), "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)

    def readable(self, path: Path) -> bool:
        """Whether `path` is a real file of the fence to read (a symlink is refused)."""
        if path.is_symlink():
            raise ValueError(f"{path} is a symlink (to {os.path.realpath(path)}): an export "
                             "reads and writes only real files in its folder; remove it")
        return path.is_file()

    def _check(self, path: Path) -> None:
        real = path.resolve()
        if real != self.root and not real.is_relative_to(self.root):
            raise ValueError(f"refused: {path} leads to {real}, outside the export folder "
                             f"{self.root}; remove the symlink or export into another folder")
