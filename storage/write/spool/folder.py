"""Where spool files live: one folder per store, and who may take which file.

A store's folder is named after a hash of its URL without the password (SQLite: of the
resolved file path), under $TRACKBOARD_SPOOL_DIR or ~/.cache/trackboard/spool. Files the
store refuses, and records it refuses, go to its rejected/ sub-folder. A file whose
writer still runs is locked (flock): `claimable` yields only the others.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import shutil
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
    """Move a spool file that cannot be delivered to rejected/ (the caller says why, in
    one line). Returns its new path (None if it could not be moved either)."""
    target = path.parent / REJECTED / path.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
    except OSError as exc:
        log.warning("trackboard: spool file %s: %s; could not move it aside either (%s)",
                    path, reason, exc)
        return None
    return target


def claimable(directory: Path) -> Iterator[tuple[Path, io.BufferedReader]]:
    """Spool files no live writer holds, each yielded locked (caller closes)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
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
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
