"""Where spool files live: one folder per store, and who may take which file.

A store's folder is named after a hash of its URL without the password (SQLite: of the
resolved file path), under $TRACKBOARD_SPOOL_DIR or ~/.cache/trackboard/spool. Files the
store refuses, and records it refuses, go to its rejected/ sub-folder. A file whose
writer still runs is locked (flock): `claimable` yields only the others.

Only regular files are spool files. Anything else named *.spool (a FIFO, whose opening
would block forever; a directory; a symbolic link, never followed) is an `odd_entry`:
the deliverers report it and move it aside, and nothing here ever opens it blocking.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import URL
from trackboard.storage.db.urls import is_sqlite, parse_url, sqlite_path

log = logging.getLogger("trackboard")

SPOOL_ENV = "TRACKBOARD_SPOOL_DIR"
SUFFIX = ".spool"
REJECTED = "rejected"  # sub-folder for records and files that cannot be delivered


def spool_root() -> Path:
    if os.environ.get(SPOOL_ENV):
        return Path(os.environ[SPOOL_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "trackboard" / "spool"


def spool_dir(store: str | URL | None) -> Path:
    """The spool folder of one store: a hash of its URL without the password."""
    url = parse_url(store)
    if is_sqlite(url) and sqlite_path(url) is not None:
        ident = f"sqlite:///{sqlite_path(url).expanduser().resolve()}"  # type: ignore[union-attr]
    else:
        ident = url.set(password=None).render_as_string(hide_password=False)
    return spool_root() / hashlib.sha1(ident.encode()).hexdigest()[:16]


def set_aside(path: Path, reason: str) -> Path | None:
    """Move a spool file that cannot be delivered (or an odd entry) to rejected/ (the
    caller says why, in one line), under a name of its own. Returns its new path (None
    if it could not be moved either)."""
    target = path.parent / REJECTED / path.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        while os.path.lexists(target):
            n += 1
            target = path.parent / REJECTED / f"{path.name}.{n}"
        os.rename(path, target)  # the entry itself: a symlink is not followed
    except OSError as exc:
        log.warning("trackboard: spool file %s: %s; could not move it aside either (%s)",
                    path, reason, exc)
        return None
    return target


def open_regular(path: Path) -> io.BufferedReader:
    """`path` opened for reading if it is a regular file. A FIFO is opened without
    blocking, a symbolic link is not followed; anything but a regular file raises
    ValueError saying what it is (OSError if it cannot be opened at all)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        if os.path.islink(path):
            raise ValueError("a symbolic link, not a spool file (not followed)") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ValueError(f"{kind_of(mode)}, not a spool file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def kind_of(mode: int) -> str:
    """What a file mode says an entry is, for messages.

    >>> kind_of(stat.S_IFIFO), kind_of(stat.S_IFDIR)
    ('a FIFO', 'a directory')
    """
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "an unknown kind of entry"


def _entries(directory: Path) -> list[tuple[Path, int]]:
    """(path, lstat mode) of every *.spool entry, in name order (= writing order)."""
    out = []
    for path in sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []:
        try:
            out.append((path, os.lstat(path).st_mode))
        except FileNotFoundError:
            continue  # delivered and removed by someone else meanwhile
    return out


def odd_entries(directory: Path) -> list[tuple[Path, str]]:
    """Entries named *.spool that are not regular files, and why they are no spool file."""
    return [(path, f"{kind_of(mode)}, not a spool file")
            for path, mode in _entries(directory) if not stat.S_ISREG(mode)]


def claimable(directory: Path) -> Iterator[tuple[Path, io.BufferedReader]]:
    """Spool files no live writer holds, each yielded locked (caller closes). Entries
    that are not regular files are left out (see odd_entries)."""
    for path, mode in _entries(directory):
        if not stat.S_ISREG(mode):
            continue
        try:
            fh = open_regular(path)
        except (OSError, ValueError):  # gone, or replaced by something odd meanwhile
            continue
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        if not path.exists():  # delivered and removed by someone else meanwhile
            fh.close()
            continue
        yield path, fh


def pending_files(directory: Path) -> list[Path]:
    """The spool files (regular files named *.spool) in `directory`, in writing order."""
    return [path for path, mode in _entries(directory) if stat.S_ISREG(mode)]
