"""Driver errors -> trackboard's own errors, in one place.

SQLAlchemy, sqlite3 and psycopg each raise their own exceptions, with messages that
may span lines and (for connection strings) carry a password. Every reader-side
entry point (Store, the `trackboard` command, the schema commands) runs its database
work inside `store_errors(url)`, so a caller sees one of:

- NotATrackboardStoreError (a ValueError): the file is not a SQLite database, or is
  damaged, or belongs to another application;
- StoreUnavailableError: the database cannot be reached or opened (server down,
  wrong password, unknown database, file locked too long);
- StoreRefusedError: it answered and refused (no permission, a missing table);

each with a one-line message that names the store with its password masked. (The
pattern of MLflow's store/db/utils.py: one managed context maps driver errors.)

The background writer keeps the driver's own exceptions: it tells outages (wait and
retry) from rejected data (set aside) by their driver classes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from trackboard.storage.db.urls import mask_text, mask_url, parse_url, sqlite_path
from trackboard.storage.errors import (
    USE_A_STORE,
    NotATrackboardStoreError,
    StoreRefusedError,
    StoreUnavailableError,
    TrackboardError,
)

# sqlite3 messages that mean "this file is not (or no longer) a SQLite database".
_NOT_A_DATABASE = ("file is not a database", "file is encrypted or is not a database",
                   "database disk image is malformed")
# sqlite3 raises OperationalError for these too, but they are refusals, not outages.
_SQLITE_REFUSALS = ("no such table", "no such column", "attempt to write a readonly database")


def driver_message(exc: BaseException) -> str:
    """The driver's own message, first line only, passwords masked.

    >>> driver_message(sqlite3.DatabaseError("file is not a database"))
    'file is not a database'
    """
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return mask_text(lines[0]) if lines else type(inner).__name__


def translate(exc: BaseException, url: str | URL) -> TrackboardError | None:
    """trackboard's error for a driver error on the store `url`; None if not a database error.

    >>> translate(sqlite3.DatabaseError("file is not a database"), "sqlite:///notes.txt")
    NotATrackboardStoreError('sqlite:///notes.txt is not a trackboard store: the file is not a SQLite database; use a trackboard database, or a new file, as the store (--store, store= or $TRACKBOARD_STORE)')
    """
    if isinstance(exc, TrackboardError):
        return exc
    where = mask_url(url)
    message = driver_message(exc)
    low = message.lower()
    inner = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(inner, sqlite3.DatabaseError) and any(m in low for m in _NOT_A_DATABASE):
        what = ("the file is damaged" if "malformed" in low
                else "the file is not a SQLite database")
        return NotATrackboardStoreError(
            f"{where} is not a trackboard store: {what}; {USE_A_STORE}")
    # OperationalError: server down, wrong password, unknown database, file locked
    # or unopenable; what the caller can only wait for or fix in the connection.
    operational = (isinstance(exc, (OperationalError, InterfaceError, PoolTimeoutError, OSError))
                   or isinstance(inner, sqlite3.OperationalError)
                   or _is_psycopg_error(inner, "OperationalError"))
    if operational and not any(m in low for m in _SQLITE_REFUSALS):
        if "unable to open database file" in low:
            message = _unopenable(url) or message
        return StoreUnavailableError(f"cannot open the store {where}: {message}")
    if isinstance(exc, (SQLAlchemyError, sqlite3.Error)) or _is_psycopg_error(exc):
        return StoreRefusedError(f"the store {where} refused the request: {message}")
    return None


@contextmanager
def store_errors(url: str | URL) -> Iterator[None]:
    """Run database work on `url`; driver errors leave it as trackboard errors.

    >>> with store_errors("sqlite:///x.db"):
    ...     raise sqlite3.OperationalError("database is locked")
    Traceback (most recent call last):
    ...
    trackboard.storage.errors.StoreUnavailableError: cannot open the store sqlite:///x.db: database is locked
    """
    try:
        yield
    except TrackboardError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:  # not OSError: files of exports etc.
        mapped = translate(exc, url)
        if mapped is None:
            raise
        raise mapped from exc
    except Exception as exc:
        if not _is_psycopg_error(exc):
            raise
        mapped = translate(exc, url)
        assert mapped is not None
        raise mapped from exc


def _unopenable(url: str | URL) -> str | None:
    """Why SQLite could not open the file of `url`, when the file system can tell."""
    try:
        path = sqlite_path(parse_url(url))
    except ValueError:
        return None
    if path is None:
        return None
    path = path.expanduser()
    if not path.exists():
        return (f"there is no file {path} (a read-only store must exist; "
                "log a run into it first, or check the path)")
    if not os.access(path, os.R_OK):
        return f"{path} is not readable by this user"
    return None


def _is_psycopg_error(exc: BaseException | None, name: str = "Error") -> bool:
    """Whether `exc` is psycopg's `name` error (psycopg is imported only if installed)."""
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, getattr(psycopg, name))
