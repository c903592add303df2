"""What a resuming Run needs to know before it logs: does the run exist, and where
did it stop? One bounded, read-only look at the store, outside the writer thread.

The writer learns of runs from the records it carries and never reads back, so a
Run that continues a stored run (`Run(id=..., resume=...)`) asks here once, in its
constructor: whether a run with that id exists (so resume="must" / "never" can
refuse at the call) and its last stored step (so `run.step` continues after it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from trackboard.storage.db.engine import build_engine
from trackboard.storage.db.migrate import current_revision
from trackboard.storage.db.urls import (
    is_sqlite,
    mask_text,
    mask_url,
    parse_url,
    sqlite_path,
)
from trackboard.storage.errors import StoreUnavailableError

# PostgreSQL: a lookup never waits longer than this for a lock or a slow query (the
# connection itself is bounded by engine.PG_CONNECT_TIMEOUT_S).
LOOKUP_STATEMENT_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class StoredRun:
    """A run as stored: enough to continue it."""

    uid: str
    project: str
    name: str
    status: str
    created_at: float
    ended_at: float | None
    last_step: int | None  # the highest step of its non-system metrics and media; None: none
    last_system_step: int | None = None  # the same for its system/* samples


def stored_run(store: str, uid: str) -> StoredRun | None:
    """The stored run with this uid, or None when the store holds no such run (or
    holds no trackboard database yet). Raises StoreUnavailableError when the store
    cannot be read.

    >>> stored_run("sqlite:///trackboard.db", "3f2a9c0d11b2e4f5")  # doctest: +SKIP
    StoredRun(uid='3f2a9c0d11b2e4f5', project='churn', name='mlp', ..., last_step=1199)
    """
    url = parse_url(store)
    if is_sqlite(url):
        path = sqlite_path(url)
        # In-memory: a fresh engine would see an empty database of its own. A missing
        # file holds no runs; opening it would create it.
        if path is None or not path.expanduser().exists():
            return None
    engine = build_engine(url, read_only=not is_sqlite(url))
    try:
        with engine.connect() as conn, conn.begin():
            revision = current_revision(conn)
            if revision is None:
                return None
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"SET LOCAL statement_timeout = "
                                  f"{int(LOOKUP_STATEMENT_TIMEOUT_MS)}"))
            row = conn.execute(text(
                "SELECT r.id, r.uid, r.name, r.status, r.created_at, r.ended_at, "
                "p.name AS project FROM runs r JOIN projects p ON p.id = r.project_id "
                "WHERE r.uid = :u"), {"u": uid}).mappings().first()
            if row is None:
                return None
            # System samples have a step sequence of their own: a resumed sampler must
            # go on after it, or it would overwrite the samples already stored.
            # substr, not LIKE: SQLite's LIKE ignores case, so a user's "System/loss"
            # would count as a system sample there and not on PostgreSQL.
            last, last_system = conn.execute(text(
                "SELECT MAX(CASE WHEN substr(k.name, 1, 7) <> 'system/' THEN s.last_step END), "
                "MAX(CASE WHEN substr(k.name, 1, 7) = 'system/' THEN s.last_step END) "
                "FROM metric_summaries s JOIN metric_keys k ON k.id = s.key_id "
                "WHERE s.run_id = :r"), {"r": row["id"]}).one()
            if revision >= "0004":  # media (histograms, images, texts) share the steps
                media_last = conn.execute(text(
                    "SELECT MAX(last_step) FROM media_series WHERE run_id = :r "
                    "AND count > 0"), {"r": row["id"]}).scalar()
                if media_last is not None and (last is None or media_last > last):
                    last = media_last
    except DBAPIError as exc:
        reason = mask_text(str(exc.orig)).strip().splitlines()
        raise StoreUnavailableError(
            f"cannot read the store {mask_url(url)}: {reason[0] if reason else exc!r}"
        ) from None
    finally:
        engine.dispose()
    return StoredRun(uid=row["uid"], project=row["project"], name=row["name"],
                     status=row["status"], created_at=float(row["created_at"]),
                     ended_at=None if row["ended_at"] is None else float(row["ended_at"]),
                     last_step=None if last is None else int(last),
                     last_system_step=None if last_system is None else int(last_system))
