"""Schema versions: create a new database, refuse an outdated one, upgrade on request."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from trackboard.storage.errors import SchemaOutdatedError, SchemaTooNewError
from trackboard.storage.urls import mask_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
UPGRADE_HINT = "trackboard db upgrade"

# The newest migration's revision. A current database is recognised by this alone,
# without importing Alembic: that import takes most of a second, and the writer
# thread pays it at the start of every training process, competing with the loop.
# tests/test_migrations.py checks it against Alembic's own head.
HEAD_REVISION = "0003"


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


def check_schema(engine: Engine, *, create: bool = True) -> None:
    """Make sure the database has the current schema.

    A new, empty database is created (when `create`); an older one raises
    SchemaOutdatedError naming the upgrade command; a newer one SchemaTooNewError.
    """
    with engine.connect() as conn:
        rev = current_revision(conn)
    if rev == HEAD_REVISION:
        return
    head, known = _script()
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

    Many processes may start at once against a new database: the migration runs in
    one transaction that first takes the write lock (BEGIN IMMEDIATE on SQLite, an
    advisory lock on PostgreSQL), so exactly one of them creates the schema. (Never
    lock the SQLite file with flock/open+close: closing any descriptor of the file
    drops SQLite's own POSIX locks held by this process.)
    """
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            return _upgrade_locked(conn, only_if_empty)


def _upgrade_locked(conn: Connection, only_if_empty: bool) -> tuple[str | None, str]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7242061)"))
    before = current_revision(conn)
    if only_if_empty and before is not None:
        return before, before
    from alembic import command

    command.upgrade(_config(conn), "head")
    after = current_revision(conn)
    assert after is not None
    return before, after
