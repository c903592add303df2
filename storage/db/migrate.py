"""Schema versions: create a new database, refuse an outdated one, upgrade on request."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, Engine
from trackboard.storage.db.urls import mask_url, parse_url, sqlite_path
from trackboard.storage.errors import (
    USE_A_STORE,
    NotATrackboardStoreError,
    SchemaOutdatedError,
    SchemaTooNewError,
)

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
UPGRADE_HINT = "trackboard db upgrade"

# The newest migration's revision. A current database is recognised by this alone,
# without importing Alembic: that import takes most of a second, and the writer
# thread pays it at the start of every training process, competing with the loop.
# tests/test_migrations.py checks it against Alembic's own head.
HEAD_REVISION = "0005"

# Tables every trackboard schema has had (0001 on): how a database is recognised as
# ours even when its revision is unknown (a newer trackboard wrote it). (`points` was
# a table until 0005 made it a view.)
CORE_TABLES = frozenset({"projects", "runs", "metric_keys"})
FORMER_TABLES = frozenset({"points"})
ALLOW_FOREIGN_HINT = ("trackboard keeps its data in a database of its own: use a new file "
                      "or database, or add trackboard's tables beside the others with "
                      "`trackboard db upgrade --allow-foreign-tables --store URL`")


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # Alembic loads only when a schema is checked

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _script() -> tuple[str, frozenset[str]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    head = script.get_current_head()
    assert head is not None
    return head, frozenset(rev.revision for rev in script.walk_revisions())


def head_revision() -> str:
    return _script()[0]


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or None when it has no trackboard tables."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def foreign_tables(names: Iterable[str]) -> list[str]:
    """The tables among `names` that trackboard did not create (SQLite's own excluded).

    >>> foreign_tables(["runs", "points", "alembic_version", "customers", "sqlite_stat1"])
    ['customers']
    """
    from trackboard.storage.db.schema import metadata

    ours = set(metadata.tables) | FORMER_TABLES | {"alembic_version"}
    return sorted(n for n in names if n not in ours and not n.startswith("sqlite_"))


def _refuse_foreign(where: str, names: Iterable[str], rev: str | None) -> None:
    """Raise NotATrackboardStoreError unless the tables `names` (revision `rev`) can be
    a trackboard store: an empty database, or one with trackboard's core tables."""
    names = set(names)
    if CORE_TABLES <= names:
        return
    others = foreign_tables(names)
    if rev is not None:
        raise NotATrackboardStoreError(
            f"{where} is not a trackboard store: it holds another application's schema "
            f"history (revision {rev!r}) without trackboard's tables; {USE_A_STORE}")
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise NotATrackboardStoreError(
            f"{where} is not a trackboard store: it holds other tables ({shown}). "
            + ALLOW_FOREIGN_HINT)


def check_sqlite_file(store: str | URL | None, *, allow_foreign_tables: bool = False) -> None:
    """Raise NotATrackboardStoreError (a ValueError) at once when a SQLite store URL names
    a file that trackboard can never use: not a SQLite database, or one that holds
    another application's tables. Cheap (opens it read-only, reads the table list) and
    uses only the sqlite3 module, so a training process can call it in its own
    thread before any background work starts, and it never writes to the file
    (trackboard's own connections would switch it to WAL mode). A missing or empty
    file is fine (it becomes a new store); other URLs pass unchecked (their trouble
    may be an outage). `allow_foreign_tables` lets other tables through.

    >>> check_sqlite_file("sqlite:///does/not/exist/yet.db")
    """
    url = parse_url(store)
    path = sqlite_path(url)
    if path is None:
        return
    path = path.expanduser()
    where = mask_url(url)
    # Only os.stat and SQLite itself touch the file: opening and closing a descriptor
    # of it from Python would drop the POSIX locks SQLite holds on it in this process
    # (another run's writer may have it open), and SQLite reports a non-database
    # file as clearly as reading its header would.
    try:
        size = path.stat().st_size
    except OSError:
        return  # missing (a new store), or unreadable now: the writer reports it
    if path.is_dir():
        raise NotATrackboardStoreError(
            f"{where} is a directory; a SQLite store is a file, e.g. "
            f"sqlite:///{path / 'trackboard.db'}")
    if size == 0:
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        rev = None
        if "alembic_version" in names:
            rev = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            rev = rev[0] if rev else None
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            return  # locked by another process, or -shm not creatable: not our call here
        what = ("the file is not a SQLite database" if "not a database" in str(exc)
                else f"the file is damaged ({exc})")
        raise NotATrackboardStoreError(
            f"{where} is not a trackboard store: {what}; {USE_A_STORE}") from None
    finally:
        conn.close()
    if rev is not None or not allow_foreign_tables:
        _refuse_foreign(where, names, rev)


def check_schema(engine: Engine, *, create: bool = True) -> None:
    """Make sure the database has the current schema.

    A new, empty database is created (when `create`); an older one raises
    SchemaOutdatedError naming the upgrade command; a newer one SchemaTooNewError;
    one that holds another application's tables NotATrackboardStoreError.
    """
    with engine.connect() as conn:
        rev = current_revision(conn)
        if rev != HEAD_REVISION:
            names = inspect(conn).get_table_names()
    if rev == HEAD_REVISION:
        return
    head, known = _script()
    if rev == head:
        return
    _refuse_foreign(mask_url(engine.url), names, rev)
    if rev is None:
        if not create:
            raise SchemaOutdatedError(
                f"{mask_url(engine.url)} holds no trackboard database yet; "
                "log a run into it or run `trackboard db upgrade --store URL` first")
        upgrade(engine, only_if_empty=True)
        return
    if rev in known:
        raise SchemaOutdatedError(
            f"the database at {mask_url(engine.url)} uses schema {rev}, this trackboard "
            f"needs {head}. Back it up, then run `{UPGRADE_HINT} --store URL`")
    raise SchemaTooNewError(_too_new(mask_url(engine.url), rev))


def _too_new(where: str, rev: str) -> str:
    return (f"the database at {where} was written by a newer trackboard (schema {rev}); "
            "upgrade trackboard: pip install -U trackboard")


def upgrade(engine: Engine, *, only_if_empty: bool = False,
            allow_foreign_tables: bool = False) -> tuple[str | None, str]:
    """Upgrade to the newest schema; returns (revision before, revision after).

    A database that holds other applications' tables and no trackboard schema is
    refused (NotATrackboardStoreError) unless `allow_foreign_tables`: trackboard
    never mixes its tables into someone else's database without being told to.

    Many processes may start at once against a new database: the migration runs in
    one transaction that first takes the write lock (BEGIN IMMEDIATE on SQLite, an
    advisory lock on PostgreSQL), so exactly one of them creates the schema. (Never
    lock the SQLite file with flock/open+close: closing any descriptor of the file
    drops SQLite's own POSIX locks held by this process.)
    """
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            return _upgrade_locked(conn, only_if_empty, allow_foreign_tables)


def _upgrade_locked(conn: Connection, only_if_empty: bool,
                    allow_foreign_tables: bool) -> tuple[str | None, str]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7242061)"))
    before = current_revision(conn)
    if only_if_empty and before is not None:
        return before, before
    names = inspect(conn).get_table_names()
    where = mask_url(conn.engine.url)
    if before is not None and before not in _script()[1]:
        _refuse_foreign(where, names, before)
        raise SchemaTooNewError(_too_new(where, before))
    if before is None and not allow_foreign_tables:
        _refuse_foreign(where, names, None)
    from alembic import command

    command.upgrade(_config(conn), "head")
    after = current_revision(conn)
    assert after is not None
    return before, after


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    """Take the schema back to `revision` (one this trackboard knows); returns
    (revision before, revision after). Refused while the store is newer than this
    trackboard, or when `revision` is not older than the store's."""
    head, known = _script()
    if revision not in known:
        raise ValueError(f"unknown schema revision {revision!r}; this trackboard knows "
                         f"{', '.join(sorted(known))}")
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7242061)"))
            before = current_revision(conn)
            if before is None or before not in known:
                raise SchemaTooNewError(_too_new(mask_url(engine.url), str(before))) \
                    if before is not None else ValueError(
                        f"{mask_url(engine.url)} holds no trackboard database")
            if int(revision) >= int(before):
                raise ValueError(f"the store is at schema {before}; downgrade goes to an "
                                 f"older one (e.g. {int(before) - 1:04d})")
            from alembic import command

            command.downgrade(_config(conn), revision)
            return before, current_revision(conn)
