"""Schema versions: create a new database, refuse an outdated one, upgrade on request."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from trackboard.storage.errors import SchemaOutdatedError, SchemaTooNewError, StoreUnavailableError
from trackboard.storage.urls import mask_url, sqlite_path

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
UPGRADE_HINT = "trackboard db upgrade"


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _script() -> tuple[str, frozenset[str]]:
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


def check_schema(engine: Engine, *, create: bool = True) -> None:
    """Make sure the database has the current schema.

    A new, empty database is created (when `create`); an older one raises
    SchemaOutdatedError naming the upgrade command; a newer one SchemaTooNewError.
    """
    head, known = _script()
    with engine.connect() as conn:
        rev = current_revision(conn)
    if rev == head:
        return
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
    raise SchemaTooNewError(
        f"the database at {mask_url(engine.url)} was written by a newer trackboard "
        f"(schema {rev}); upgrade trackboard: pip install -U trackboard")


def upgrade(engine: Engine, *, only_if_empty: bool = False) -> tuple[str | None, str]:
    """Upgrade to the newest schema; returns (revision before, revision after).

    Many processes may start at once against a new database: a lock (flock on the
    SQLite file, an advisory lock on PostgreSQL) lets exactly one of them create it.
    """
    with _migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7242061)"))
        before = current_revision(conn)
        if only_if_empty and before is not None:
            return before, before
        cfg = _config(conn)
        command.upgrade(cfg, "head")
        after = current_revision(conn)
    assert after is not None
    return before, after


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    path = sqlite_path(engine.url)
    if path is None:
        yield
        return
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # flock is independent of SQLite's own fcntl locks on the same file.
        with open(path, "ab") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    except PermissionError as exc:
        raise StoreUnavailableError(f"cannot open {path} for writing: {exc}") from None
