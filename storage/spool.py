"""Local spool files: where records wait while the store is unreachable or slow.

One writer owns one open spool file at a time and holds an exclusive flock on it,
so a replayer (another writer starting up, or `trackboard sync`) only ever takes
files whose owner is gone or done. A file is a sequence of pickled lists of
record tuples; it starts with the run records it refers to, so any process can
deliver it alone. Records hold only plain values and are read back with an
unpickler that refuses every class, so a spool file cannot run code.
"""

from __future__ import annotations

import array
import fcntl
import hashlib
import io
import logging
import os
import pickle
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from trackboard.storage.records import Record
from trackboard.storage.urls import is_sqlite, parse_url, sqlite_path

log = logging.getLogger("trackboard")

SPOOL_ENV = "TRACKBOARD_SPOOL_DIR"
SUFFIX = ".spool"


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


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # array('d') pickles through its class and reconstructor; nothing else is allowed.
        if module == "array" and name in ("array", "_array_reconstructor"):
            return getattr(array, name)
        raise pickle.UnpicklingError(f"spool files hold plain values only, not {module}.{name}")


class SpoolWriter:
    """An append-only spool file owned by this process; opened on first use."""

    def __init__(self, directory: Path, header: Callable[[], list[Record]]) -> None:
        self.directory = directory
        self._header = header  # run records to put first in every new file
        self._lock = threading.Lock()
        self._fh: io.BufferedWriter | None = None
        self.path: Path | None = None
        self.records = 0

    def append(self, records: list[Record]) -> None:
        with self._lock:
            if self._fh is None:
                self._open()
            assert self._fh is not None
            pickle.dump(records, self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self.records += len(records)

    def flush(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()

    def close(self) -> Path | None:
        """Close the file (releasing its lock); returns its path if it holds records."""
        with self._lock:
            fh, path = self._fh, self.path
            self._fh, self.path = None, None
            if fh is None:
                return None
            fh.flush()
            os.fsync(fh.fileno())
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
            self.records = 0
            return path

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self.path = self.directory / name
        fh = open(self.path, "ab", buffering=1 << 20)
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fh = fh
        header = self._header()
        if header:
            pickle.dump(header, fh, protocol=pickle.HIGHEST_PROTOCOL)


def read_spool(path: Path) -> Iterator[list[Record]]:
    """The record lists in a spool file; a torn tail (process killed mid-write) is
    reported and skipped, everything before it is returned."""
    with open(path, "rb") as fh:
        while True:
            try:
                # A fresh unpickler per chunk: each chunk was pickled on its own, and
                # protocol 4+ memo indices would collide across chunks otherwise.
                chunk = _PlainUnpickler(fh).load()
            except EOFError:
                return
            except (pickle.UnpicklingError, ValueError, IndexError) as exc:
                log.warning("trackboard: spool file %s ends in a torn record (%s); "
                            "the records before it are delivered", path, exc)
                return
            if isinstance(chunk, list):
                yield chunk


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

