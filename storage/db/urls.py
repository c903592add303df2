"""Store URLs: where they come from, how they are checked, how they are shown."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, unquote

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
        url = make_url(_quote_userinfo(text))
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

    A password may hold reserved characters, raw or %-encoded: all of it is hidden.

    >>> mask_url("postgresql+psycopg://bob:s3cret@db/runs")
    'postgresql+psycopg://bob:***@db/runs'
    >>> mask_url("postgresql://bob:p@ss:w/rd@db:5432/runs")
    'postgresql://bob:***@db:5432/runs'
    """
    if isinstance(url, str):
        try:
            url = make_url(_quote_userinfo(url))
        except ArgumentError:
            return mask_text(url)
    # mask_text also hides a password=... given as a query option
    return mask_text(url.render_as_string(hide_password=True))


# What may follow the '@' that ends a password: a host name, IPv4 or [IPv6] address,
# an optional port, then the end of the authority.
_HOST = r"(?:[\w.-]*|\[[0-9A-Fa-f:.]*\])(?::\d*)?(?=[/?\s'\"]|$)"
# `scheme://user:` then the password, up to the LAST '@' that is followed by a host:
# a raw '@' (or ':' or '/') inside the password is masked too. Masking a little too
# much in an odd URL is the safe side.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/@\s'\"]*:)(?P<password>\S*)@(?=" + _HOST + ")")
# libpq key=value connection strings and query options: password=... / password='...'
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>'(?:[^'\\]|\\.)*'|[^\s&'\"]+)",
                          re.IGNORECASE)


def mask_text(text: str) -> str:
    """Mask every password inside free text (URLs and `password=` settings).

    >>> mask_text("could not connect to postgresql://u:pw@h/db: refused")
    'could not connect to postgresql://u:***@h/db: refused'
    >>> mask_text("postgresql://u:p@ss@h/db and host=h password=hunter2")
    'postgresql://u:***@h/db and host=h password=***'
    """
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)


def _quote_userinfo(text: str) -> str:
    """The URL with its user and password %-encoded, so a raw '@', ':' or '/' in a
    password does not cut the URL in the wrong place (SQLAlchemy's parser ends the
    password at the first '@'; the host then starts inside the password).

    >>> _quote_userinfo("postgresql://bob:p@ss@db/runs")
    'postgresql://bob:p%40ss@db/runs'
    >>> _quote_userinfo("sqlite:////tmp/a@b/x.db")
    'sqlite:////tmp/a@b/x.db'
    """
    scheme, sep, rest = text.partition("://")
    if not sep or rest.startswith("/") or "@" not in rest:
        return text
    # The last '@' followed by a host name ends the password (the rule of mask_text).
    ats = [m.start() for m in re.finditer("@", rest) if re.match(_HOST, rest[m.end():])]
    user, colon, password = rest[:ats[-1]].partition(":") if ats else ("/", "", "")
    if "/" in user or "?" in user:
        return text  # no user part: the '@' belongs to the database name or the query
    at = ats[-1]
    userinfo = quote(unquote(user), safe="")
    if colon:
        userinfo += ":" + quote(unquote(password), safe="")
    return f"{scheme}://{userinfo}{rest[at:]}"


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    if not is_sqlite(url) or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)
