"""The one place that builds SQLAlchemy engines (pragmas, pools, read-only mode)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool
from trackboard.storage.db.point_chunks import chunk_json
from trackboard.storage.db.urls import is_sqlite, parse_url, sqlite_path

# How long a SQLite connection waits for another writer's lock before giving up.
# The writer treats a timeout as an outage (spool + retry), so this bounds how long
# its thread can sit inside one statement, not how long data may wait.
SQLITE_BUSY_TIMEOUT_MS = 5_000
# SQLite page cache per connection, allocated only as used. Readers (dashboard, CLI)
# get a large one; the writer, which lives in the training process, a small one:
# its hot pages are one B-tree leaf per series, and the training process's memory
# must stay bounded (bench/foundation.py measures it).
SQLITE_CACHE_MIB = 64
WRITER_SQLITE_CACHE_MIB = 8
PG_CONNECT_TIMEOUT_S = 5


def build_engine(store: str | URL | None = None, *, read_only: bool = False,
                 busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
                 cache_mib: int = SQLITE_CACHE_MIB) -> Engine:
    """An engine for a store URL; SQLite gets WAL and friends, PostgreSQL a checked pool."""
    url = parse_url(store)
    if is_sqlite(url):
        return _sqlite_engine(url, read_only=read_only, busy_timeout_ms=busy_timeout_ms,
                              cache_mib=cache_mib)
    return _postgres_engine(url, read_only=read_only)


def _sqlite_engine(url: URL, *, read_only: bool, busy_timeout_ms: int,
                   cache_mib: int) -> Engine:
    path = sqlite_path(url)
    kwargs: dict[str, Any] = {}
    if path is None:
        # One shared in-memory database across threads (the writer has its own thread).
        kwargs.update(poolclass=StaticPool,
                      connect_args={"check_same_thread": False})
    else:
        path = path.expanduser().resolve()
        if read_only:
            # as_uri() %-encodes '?', '#' and spaces, which a raw file: URI would misread
            target = f"{path.as_uri()}?mode=ro"

            def creator() -> sqlite3.Connection:
                return sqlite3.connect(target, uri=True, check_same_thread=False,
                                       timeout=busy_timeout_ms / 1000)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)

            def creator() -> sqlite3.Connection:
                return sqlite3.connect(str(path), check_same_thread=False,
                                       timeout=busy_timeout_ms / 1000)
        kwargs["creator"] = creator
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and skips it for DDL;
        # we switch it off and emit BEGIN ourselves (SQLAlchemy's documented recipe),
        # so every transaction is real and the writer can take BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not read_only and path is not None:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA cache_size={-1024 * int(cache_mib)}")  # negative: KiB
        # The `points` view unnests sealed chunks through this (migration 0005).
        dbapi_conn.create_function("trackboard_chunk", 1, chunk_json, deterministic=True)
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def _postgres_engine(url: URL, *, read_only: bool) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": PG_CONNECT_TIMEOUT_S,
                                    "application_name": "trackboard"}
    if read_only:
        # Belt and braces: the README's read-only role has no write grants; this
        # makes even a misconfigured role refuse writes.
        connect_args["options"] = "-c default_transaction_read_only=on"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        from trackboard.storage.errors import StoreURLError

        raise StoreURLError(
            "PostgreSQL stores need psycopg 3: pip install 'trackboard[postgres]'"
        ) from None
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         pool_recycle=1800, connect_args=connect_args)
