"""Store URLs: where they come from, how they are checked, how they are shown."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from trackboard.storage.errors import StoreURLError

ENV_VAR = "TRACKBOARD_STORE"
DEFAULT_URL = "sqlite:///trackboard.db"

_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql"}


def resolve_url(store: str | URL | None = None) -> str:
    """The store URL to use: the argument, else $TRACKBOARD_STORE, else ./trackboard.db.

    >>> resolve_url("sqlite:///x.db")
    'sqlite:///x.db'
    """
    if store is None or store == "":
        store = os.environ.get(ENV_VAR) or DEFAULT_URL
    if isinstance(store, URL):
        return store.render_as_string(hide_password=False)
    if isinstance(store, Path):
        return f"sqlite:///{store}"
    return str(store)


def parse_url(store: str | URL | None = None) -> URL:
    """Parse and check a store URL; bad ones raise StoreURLError saying what works."""
    text = resolve_url(store)
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreURLError(
            f"not a store URL: {mask_text(text)!r}. Use sqlite:///path/to/trackboard.db "
            "or postgresql+psycopg://user@host/dbname"
        ) from None
    backend = url.get_backend_name()
    if backend not in _BACKENDS:
        raise StoreURLError(
            f"unsupported store backend {backend!r} in {mask_url(url)}. "
            "Use sqlite:///path/to/trackboard.db or postgresql+psycopg://user@host/dbname"
        )
    if backend == "postgresql" and url.get_driver_name() not in ("psycopg",):
        # psycopg 3 is the one driver we test and the one COPY path is written for.
        url = url.set(drivername="postgresql+psycopg")
    return url


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ***, safe to print or log.

    >>> mask_url("postgresql+psycopg://bob:s3cret@db/runs")
    'postgresql+psycopg://bob:***@db/runs'
    """
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return mask_text(url)
    return url.render_as_string(hide_password=True)


def mask_text(text: str) -> str:
    """Mask anything that looks like `scheme://user:password@` inside free text.

    >>> mask_text("could not connect to postgresql://u:pw@h/db: refused")
    'could not connect to postgresql://u:***@h/db: refused'
    """
    import re

    return re.sub(r"(\w[\w+.-]*://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    if not is_sqlite(url) or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)
